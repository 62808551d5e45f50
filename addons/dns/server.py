"""The cluster DNS server: UDP and TCP on asyncio, packets parsed and built with dnslib.

Contract:
- `DnsServer(zone)`; `await start(host, port)` binds UDP and TCP on the same address (port 0:
  a free one; `.port` tells which) and returns; `await close()` stops both.
- `answer(packet: bytes, *, udp=False) -> bytes | None`: one query in, one response out: QR+AA set, the
  question echoed, `records.resolve` for the first question. A packet dnslib cannot parse
  gets FORMERR when its 12-byte header is readable, else no answer at all; a non-QUERY opcode
  gets NOTIMP. Never raises, never forwards anything anywhere.
- UDP responses larger than 512 bytes (or the client's EDNS0 payload size) are sent
  truncated with TC=1, so the client retries over TCP (2-byte length framing, RFC 1035 4.2.2),
  where they are sent whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import cast

from dnslib import OPCODE, QTYPE, RCODE, DNSError, DNSHeader, DNSRecord

from addons.dns.records import Zone, resolve

log = logging.getLogger(__name__)

UDP_MAX = 512


def _udp_limit(request: DNSRecord) -> int:
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(UDP_MAX, int(rr.rclass))  # EDNS0: the class field is the payload size
    return UDP_MAX


def _qtype_name(qtype: int) -> str:
    try:
        return str(QTYPE[qtype])
    except Exception:  # noqa: BLE001 - dnslib raises its own error for unknown numbers
        return f"TYPE{qtype}"


class DnsServer:
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.port = 0
        self.queries = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    def answer(self, packet: bytes, *, udp: bool = False) -> bytes | None:
        self.queries += 1
        try:
            request = DNSRecord.parse(packet)
        except (DNSError, struct.error, IndexError, ValueError):
            if len(packet) < 12:
                return None
            qid = struct.unpack("!H", packet[:2])[0]
            return bytes(DNSRecord(DNSHeader(id=qid, qr=1, rcode=RCODE.FORMERR)).pack())
        reply = request.reply()  # qr=1, aa=1, same id, question echoed
        reply.header.ra = 0  # we never recurse
        if request.header.opcode != OPCODE.QUERY or not request.questions:
            reply.header.rcode = RCODE.NOTIMP if request.header.opcode != OPCODE.QUERY else RCODE.FORMERR
            return bytes(reply.pack())
        q = request.q
        result = resolve(str(q.qname), _qtype_name(q.qtype), self.zone)
        reply.header.rcode = getattr(RCODE, result.rcode)
        if result.rcode == "REFUSED":
            reply.header.aa = 0
        for rr in result.answers:
            reply.add_answer(rr)
        for rr in result.authority:
            reply.add_auth(rr)
        for rr in result.additional:
            reply.add_ar(rr)
        data: bytes = reply.pack()
        if udp and len(data) > _udp_limit(request):
            truncated = reply.truncate()
            truncated.add_question(q)
            data = truncated.pack()
        return data

    async def start(self, host: str, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        # TCP first with port 0 so UDP can take the same number.
        self._tcp = await asyncio.start_server(self._serve_tcp, host, port, reuse_address=True)
        self.port = self._tcp.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(host, self.port))
        self._udp = transport
        log.info("cluster DNS for %s serving on %s:%d (udp+tcp)", self.zone.domain, host, self.port)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
            self._tcp = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), timeout=10.0)
                (length,) = struct.unpack("!H", head)
                packet = await asyncio.wait_for(reader.readexactly(length), timeout=10.0)
                data = self.answer(packet)
                if data is None:
                    break
                writer.write(struct.pack("!H", len(data)) + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass  # client went away or idled: close quietly
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            out = self.server.answer(data, udp=True)
        except Exception:  # a bug must cost one answer, not the server
            log.exception("query from %s failed", addr)
            return
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)
