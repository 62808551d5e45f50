"""A minimal HTTP/1.1 keep-alive client over TLS for bench/apiserver.py's request loops.

Why: the etcd baseline's client is aetcd (gRPC, C core); with httpx, this process spent about as
much CPU per request as the API server did, so on a 2-core machine the bench measured its own
client at 32 clients. This client costs a fraction of that; `--client httpx` keeps the old one.

Contract: `RawHttp(url, tls)`: one connection (opened on first use, reopened once when the
server closed it between requests); `await request(method, path, body=None) -> (status, body
bytes)`. Understands `Content-Length` and `Transfer-Encoding: chunked` responses; no redirects,
no streaming (watches use httpx). One request at a time per instance (one per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlparse


class RawHttp:
    def __init__(self, url: str, tls: ssl.SSLContext) -> None:
        u = urlparse(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 443
        self.tls = tls
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._head = f"Host: {self.host}:{self.port}\r\nAccept: application/json\r\n".encode()

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        req = f"{method} {path} HTTP/1.1\r\n".encode() + self._head
        if body is not None:
            req += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        else:
            req += b"\r\n"
        fresh = self._writer is None
        if fresh:
            await self._connect()
        try:
            return await self._exchange(req)
        except (ConnectionError, asyncio.IncompleteReadError):
            if fresh:
                raise
            await self.close()  # the server closed an idle connection: once more on a new one
            await self._connect()
            return await self._exchange(req)

    async def _exchange(self, req: bytes) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(req)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self._reader.readexactly(length)
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await self._reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(parts)
            parts.append(data[:-2])

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
