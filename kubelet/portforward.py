"""Port-forward sessions: bytes between a client's streams and TCP connections in a pod.

Contract: both sessions are driven by the WebSocket handler (kubelet/streaming.py), which
passes every received message to `feed` and calls `aclose()` when the client goes away;
`done` is set once nothing is left to forward. `connect(port)` opens the TCP connection
inside the pod (kubelet/podnet.py); `send(message)` writes one WebSocket message.

- `SpdyPortForward` (`SPDY/3.1+portforward.k8s.io`, kubectl): as the kubelet's SPDY server,
  each forwarded connection is a pair of client-created streams with the same `requestid`
  header: `streamtype: error` and `streamtype: data`, both with `port`. Every SYN_STREAM gets
  a SYN_REPLY at once (the client waits for it). When both exist the pod port is dialled; pod
  bytes go out as DATA on the data stream; the client's DATA goes to the pod, its FIN
  half-closes the pod connection. When the pod side ends, the data and error streams get a
  FIN; a dial failure is written on the error stream first (kubectl prints it). PINGs are
  echoed. One session serves many connections (kubectl's listener accepts many).
- `ChannelPortForward` (`v4.channel.k8s.io` / base64, the official Python client): the ports
  are fixed by the `ports` query; every port is dialled at once; channel 2i carries data,
  2i+1 errors, each starting with the 2-byte port header. The session is done when every
  port's pod connection ended (the WebSocket is then closed, the client's end-of-stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubelet import spdy
from machinery import channels

log = logging.getLogger(__name__)
Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
Send = Callable[[bytes | str], Awaitable[None]]
CHUNK = 32 * 1024


async def _pump_to_pod(inbound: asyncio.Queue[bytes | None], writer: asyncio.StreamWriter) -> None:
    """Client bytes -> pod; None = the client finished sending (half-close)."""
    while (data := await inbound.get()) is not None:
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, RuntimeError):
        await writer.wait_closed()


@dataclass
class _Pair:
    request_id: str
    port: int
    data_id: int | None = None
    error_id: int | None = None
    inbound: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class SpdyPortForward:
    def __init__(self, send: Send, connect: Connect, describe: str) -> None:
        self.framer = spdy.Framer()
        self.send_lock = asyncio.Lock()
        self._send, self.connect, self.describe = send, connect, describe
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self.done = asyncio.Event()  # never set: kubectl ends the session by closing it

    async def send(self, frame: bytes) -> None:
        async with self.send_lock:
            await self._send(frame)

    async def feed(self, data: bytes | str) -> None:
        for frame in self.framer.feed(data.encode() if isinstance(data, str) else data):
            if isinstance(frame, spdy.DataFrame):
                self._on_data(frame)
            else:
                await self._on_control(frame)

    def _on_data(self, frame: spdy.DataFrame) -> None:
        pair = self.by_stream.get(frame.stream_id)
        if pair is None or frame.stream_id != pair.data_id:
            return  # the error stream carries nothing from the client
        if frame.data:
            pair.inbound.put_nowait(frame.data)
        if frame.fin:
            pair.inbound.put_nowait(None)

    async def _on_control(self, frame: spdy.ControlFrame) -> None:
        if frame.type == spdy.SYN_STREAM:
            await self._on_syn(frame)
        elif frame.type == spdy.PING:
            await self.send(self.framer.ping(frame.status))
        elif frame.type == spdy.RST_STREAM:
            pair = self.by_stream.pop(frame.stream_id, None)
            if pair is not None and pair.task is not None:
                pair.task.cancel()
        elif frame.type == spdy.GOAWAY:
            self.done.set()

    async def _on_syn(self, frame: spdy.ControlFrame) -> None:
        sid = frame.stream_id
        stype, port_s, rid = frame.header("streamtype"), frame.header("port"), frame.header("requestid")
        try:
            port = int(port_s)
        except ValueError:
            port = 0
        if stype not in ("data", "error") or not 0 < port < 65536:
            await self.send(self.framer.rst_stream(sid, spdy.RST_PROTOCOL_ERROR))
            return
        await self.send(self.framer.syn_reply(sid))
        pair = self.pairs.setdefault(rid or str(sid), _Pair(rid or str(sid), port))
        if stype == "data":
            pair.data_id = sid
        else:
            pair.error_id = sid
        self.by_stream[sid] = pair
        if pair.data_id is not None and pair.error_id is not None and pair.task is None:
            pair.task = asyncio.create_task(self._forward(pair), name=f"portforward-{pair.port}")

    async def _forward(self, pair: _Pair) -> None:
        assert pair.data_id is not None
        assert pair.error_id is not None
        pump: asyncio.Task[None] | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            try:
                reader, writer = await self.connect(pair.port)
            except OSError as exc:
                msg = f"error forwarding port {pair.port} to pod {self.describe}: {exc}"
                log.info("%s", msg)
                await self.send(self.framer.data(pair.error_id, msg.encode()))
                return
            pump = asyncio.create_task(_pump_to_pod(pair.inbound, writer))
            while data := await reader.read(CHUNK):
                await self.send(self.framer.data(pair.data_id, data))
        except (OSError, ConnectionError):
            pass  # the pod closed abruptly: end the streams as for a normal close
        finally:
            with contextlib.suppress(Exception):
                await self.send(self.framer.data(pair.data_id, b"", fin=True))
                await self.send(self.framer.data(pair.error_id, b"", fin=True))
            if pump is not None:
                pump.cancel()
            if writer is not None:
                await _close(writer)
            self.pairs.pop(pair.request_id, None)

    async def aclose(self) -> None:
        tasks = [p.task for p in self.pairs.values() if p.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class ChannelPortForward:
    def __init__(self, send: Send, connect: Connect, describe: str, *, protocol: str, ports: list[int]) -> None:
        self.send, self.connect, self.describe = send, connect, describe
        self.protocol, self.ports = protocol, ports
        self.inbound: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in ports]
        self.tasks: list[asyncio.Task[None]] = []
        self.done = asyncio.Event()
        self.send_lock = asyncio.Lock()

    async def _out(self, channel: int, data: bytes) -> None:
        async with self.send_lock:
            await self.send(channels.encode(self.protocol, channel, data))

    async def start(self) -> None:
        for i, port in enumerate(self.ports):
            await self._out(2 * i, channels.port_header(port))
            await self._out(2 * i + 1, channels.port_header(port))
        self.tasks = [asyncio.create_task(self._forward(i, p)) for i, p in enumerate(self.ports)]
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.done.set()

    async def feed(self, message: bytes | str) -> None:
        frame = channels.decode(self.protocol, message)
        if frame is None or frame.channel % 2 or frame.channel // 2 >= len(self.ports):
            return
        if frame.data:
            self.inbound[frame.channel // 2].put_nowait(frame.data)

    async def _forward(self, i: int, port: int) -> None:
        pump: asyncio.Task[None] | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            try:
                reader, writer = await self.connect(port)
            except OSError as exc:
                await self._out(2 * i + 1, f"error forwarding port {port} to pod {self.describe}: {exc}".encode())
                return
            pump = asyncio.create_task(_pump_to_pod(self.inbound[i], writer))
            while data := await reader.read(CHUNK):
                await self._out(2 * i, data)
        except (OSError, ConnectionError):
            pass
        finally:
            if pump is not None:
                pump.cancel()
            if writer is not None:
                await _close(writer)

    async def aclose(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
