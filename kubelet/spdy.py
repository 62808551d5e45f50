"""SPDY/3.1 framing, enough to serve kubectl's port-forward streams.

Contract: `Framer` is one side of a SPDY/3.1 session (it keeps the two zlib header-compression
contexts, which live as long as the connection). `feed(data)` accepts any slice of the byte
stream and returns the complete frames it now holds (`DataFrame`, `ControlFrame` with decoded
headers for SYN_STREAM/SYN_REPLY/HEADERS); the encoders return the bytes of one frame. Header
names are lower-case on the wire, as SPDY/3 requires. Flow control (WINDOW_UPDATE) is parsed and
ignored, and never sent, like the moby/spdystream sessions kubectl and the kubelet use.
Malformed input raises `SpdyError`.

Why: kubectl 1.31+ port-forwards with SPDY frames tunnelled through a WebSocket
(`SPDY/3.1+portforward.k8s.io`); the kubelet answers that protocol itself (kubelet/portforward.py).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5
MAX_FRAME = 1 << 24

_WORDS = [
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
    "set-cookie", "keep-alive", "origin",
]
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
# The SPDY/3 header-compression dictionary (draft-mbelshe-httpbis-spdy-00 2.6.10.1): 1423 bytes.
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class SpdyError(ValueError):
    pass


@dataclass
class DataFrame:
    stream_id: int
    flags: int
    data: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class ControlFrame:
    type: int
    flags: int
    stream_id: int = 0
    headers: dict[str, list[str]] = field(default_factory=dict)
    status: int = 0  # RST_STREAM / GOAWAY status, PING id, WINDOW_UPDATE delta

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower()) or [""]
        return values[0]


def encode_header_block(headers: dict[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(raw: bytes) -> dict[str, list[str]]:
    try:
        (count,), pos = struct.unpack_from(">I", raw), 4
        headers: dict[str, list[str]] = {}
        for _ in range(count):
            (nlen,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + nlen].decode().lower()
            pos += 4 + nlen
            (vlen,) = struct.unpack_from(">I", raw, pos)
            value = raw[pos + 4:pos + 4 + vlen].decode()
            pos += 4 + vlen
            headers.setdefault(name, []).extend(value.split("\x00"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise SpdyError(f"bad SPDY header block: {exc}") from None
    return headers


class Framer:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY)

    # --- decoding ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[DataFrame | ControlFrame]:
        self._buf += data
        frames: list[DataFrame | ControlFrame] = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                break
            head, payload = bytes(self._buf[:8]), bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            frames.append(self._frame(head, payload))
        return frames

    def _headers(self, raw: bytes) -> dict[str, list[str]]:
        try:
            return decode_header_block(self._inflate.decompress(raw))
        except zlib.error as exc:
            raise SpdyError(f"bad SPDY header compression: {exc}") from None

    def _frame(self, head: bytes, payload: bytes) -> DataFrame | ControlFrame:
        flags = head[4]
        if not head[0] & 0x80:
            return DataFrame(int.from_bytes(head[0:4], "big") & 0x7FFFFFFF, flags, payload)
        version = int.from_bytes(head[0:2], "big") & 0x7FFF
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        ftype = int.from_bytes(head[2:4], "big")
        if ftype == SYN_STREAM and len(payload) >= 10:
            sid = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
            return ControlFrame(ftype, flags, sid, self._headers(payload[10:]))
        if ftype in (SYN_REPLY, HEADERS) and len(payload) >= 4:
            sid = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
            return ControlFrame(ftype, flags, sid, self._headers(payload[4:]))
        if ftype in (RST_STREAM, WINDOW_UPDATE) and len(payload) >= 8:
            sid = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
            return ControlFrame(ftype, flags, sid, status=int.from_bytes(payload[4:8], "big"))
        if ftype == PING and len(payload) >= 4:
            return ControlFrame(ftype, flags, status=int.from_bytes(payload[0:4], "big"))
        if ftype == GOAWAY and len(payload) >= 4:
            sid = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
            status = int.from_bytes(payload[4:8], "big") if len(payload) >= 8 else 0
            return ControlFrame(ftype, flags, sid, status=status)
        if ftype in (SYN_STREAM, SYN_REPLY, HEADERS, RST_STREAM, WINDOW_UPDATE, PING, GOAWAY):
            raise SpdyError(f"SPDY control frame {ftype} too short ({len(payload)} bytes)")
        return ControlFrame(ftype, flags)  # SETTINGS and unknown types: nothing we act on

    # --- encoding ---------------------------------------------------------------------------
    @staticmethod
    def _control(ftype: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload

    def _compress(self, headers: dict[str, str]) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id: int, headers: dict[str, str], *, fin: bool = False) -> bytes:
        payload = struct.pack(">IIH", stream_id, 0, 0) + self._compress(headers)
        return self._control(SYN_STREAM, FLAG_FIN if fin else 0, payload)

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None, *, fin: bool = False) -> bytes:
        payload = struct.pack(">I", stream_id) + self._compress(headers or {})
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0, payload)

    @staticmethod
    def data(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
        if len(data) >= MAX_FRAME:
            raise SpdyError("SPDY data frame too large")
        return struct.pack(">II", stream_id, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data

    def rst_stream(self, stream_id: int, status: int) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream_id: int, status: int = 0) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))
