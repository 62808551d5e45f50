"""LeanTransport: an httpx transport speaking plain HTTP/1.1 on N kept-alive asyncio connections.

Contract: `LeanTransport(slots, tls=ssl_context_or_None)` holds `slots` connections (opened on
first use, kept alive); a request waits for a free one, writes the request httpx built (method,
target, its headers, its body: a body that is not bytes already is refused) and reads the whole
answer (`Content-Length`, `Transfer-Encoding: chunked`, or until the server closes), so at
most `slots` requests are in flight. A connection the server closed, or that answered
`Connection: close`, is reopened for the next request; a request whose reused connection fails
before any byte of the answer came back is sent once more on a fresh connection (the server
had closed it meanwhile). Failures are httpx's exceptions, so `ApiClient`'s retry policy
applies unchanged: `ConnectError`/`ConnectTimeout` (opening), `ReadError`/`WriteError`
(the connection broke), `ReadTimeout` (no whole answer within the request's read timeout),
`RemoteProtocolError` (not HTTP/1.1); a failed or cancelled request closes its connection.
No streaming (watches): the answer is read before `handle_async_request` returns.

Used by `ApiClient(slots=N)`. Why: with httpcore under httpx (one single-connection httpcore pool
per slot, the previous machinery.slotpool), the transport was 80% of the scheduler's
CPU per binding and Event (py-spy, bench/scheduler.py: 43% of the scheduler's samples were
bindings, 37 of those points httpcore and anyio). This one reads and writes asyncio streams
directly; httpx still builds the request and applies the client's headers and timeouts.
"""

from __future__ import annotations

import asyncio
import ssl

import httpx

MAX_HEAD_BYTES = 64 * 1024


class _Broken(Exception):
    """The connection failed; `answered` tells whether any byte of the answer had come back."""

    def __init__(self, cause: BaseException, *, answered: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.answered = answered


class _Conn:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = False  # has carried a request already (a failure may just be a stale close)

    @property
    def open(self) -> bool:
        return (self.reader is not None and self.writer is not None and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.used = False


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(self, slots: int, *, tls: ssl.SSLContext | None = None) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self._tls = tls
        self._all = [_Conn() for _ in range(slots)]
        self._free: asyncio.LifoQueue[_Conn] = asyncio.LifoQueue()
        for c in self._all:  # LIFO: the most recently used (warm) connection goes first
            self._free.put_nowait(c)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.ByteStream):
            raise httpx.UnsupportedProtocol("LeanTransport sends byte bodies only", request=request)
        timeouts = request.extensions.get("timeout") or {}
        data = _encode(request)
        conn = await self._free.get()
        try:
            for _ in range(2):
                reused = conn.open and conn.used
                if not conn.open:
                    conn.close()
                    await self._connect(conn, request, timeouts.get("connect"))
                try:
                    async with asyncio.timeout(timeouts.get("read")):  # no task per request, as wait_for has
                        status, headers, body, keep = await _exchange(conn, data, request.method)
                except _Broken as broken:
                    conn.close()
                    if reused and not broken.answered:
                        continue  # the server closed it while idle: once more, on a new one
                    exc = broken.cause
                    if isinstance(exc, (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)):
                        raise httpx.RemoteProtocolError(f"bad answer: {exc!r}", request=request) from exc
                    if broken.answered:
                        raise httpx.ReadError(f"connection lost: {exc!r}", request=request) from exc
                    raise httpx.WriteError(f"connection lost: {exc!r}", request=request) from exc
                except TimeoutError as exc:
                    conn.close()
                    raise httpx.ReadTimeout("no answer within the read timeout", request=request) from exc
                conn.used = True
                if not keep:
                    conn.close()
                return httpx.Response(status, headers=headers, content=body, request=request,
                                      extensions={"http_version": b"HTTP/1.1"})
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            conn.close()  # cancelled or failed mid-request: its state is unknown
            raise
        finally:
            self._free.put_nowait(conn)

    async def _connect(self, conn: _Conn, request: httpx.Request, timeout_s: float | None) -> None:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        tls = self._tls if url.scheme == "https" else None
        if url.scheme == "https" and tls is None:
            tls = ssl.create_default_context()
        try:
            conn.reader, conn.writer = await asyncio.wait_for(
                asyncio.open_connection(url.host, port, ssl=tls, limit=MAX_HEAD_BYTES), timeout_s)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {url.host}:{port}", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"connecting to {url.host}:{port}: {exc}", request=request) from exc
        conn.used = False

    async def aclose(self) -> None:
        for c in self._all:
            c.close()


def _encode(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    lines.extend(name + b": " + value for name, value in request.headers.raw)
    return b"\r\n".join(lines) + b"\r\n\r\n" + request.content


async def _exchange(conn: _Conn, data: bytes, method: str) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """Send one request, read its answer: (status, headers, body, keep the connection)."""
    assert conn.reader is not None and conn.writer is not None
    reader, writer = conn.reader, conn.writer
    answered = False
    try:
        writer.write(data)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        answered = True
        status_line, *header_lines = head[:-4].split(b"\r\n")
        version, code, *_ = status_line.split(b" ", 2)
        if not version.startswith(b"HTTP/1."):
            raise ValueError(f"status line {status_line[:80]!r}")
        status = int(code)
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        keep = version == b"HTTP/1.1"
        for line in header_lines:
            name, sep, value = line.partition(b":")
            if not sep:
                raise ValueError(f"header line {line[:80]!r}")
            name, value = name.strip(), value.strip()
            headers.append((name, value))
            lower = name.lower()
            if lower == b"content-length":
                length = int(value)
            elif lower == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif lower == b"connection":
                keep = b"close" not in value.lower() if keep else b"keep-alive" in value.lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = await _read_chunked(reader)
            headers = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()  # until the server closes
            keep = False
        return status, headers, body, keep
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        raise _Broken(exc, answered=answered) from exc


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
