"""SlotTransport: an httpx transport of N keep-alive connections handed out one request at a time.

Contract: `SlotTransport(slots, verify=ssl_context_or_bool)` holds `slots` one-connection
httpcore pools. A request waits for a free slot, runs on that slot's connection (opened on
first use, kept alive, reopened by httpcore if the server closed it) and gives the slot back
when its response is closed (httpx closes non-streamed responses once read; a streamed
response holds its slot until `aclose()`: do not use this for watches). So at most `slots`
requests are in flight and each costs O(1) pool bookkeeping.

Why: httpcore's shared pool walks every connection it holds at each request's start and end,
asking each idle TLS connection whether the server closed it (an anyio attribute lookup that
builds a dict per call); with dozens of connections that walk was a quarter of the
scheduler's CPU per binding (py-spy, bench/scheduler.py). Here each pool holds one connection.
`aclose()` closes every connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable

import httpx


class _ReleasingStream(httpx.AsyncByteStream):
    """The response body; closing it (once) gives the slot back."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class SlotTransport(httpx.AsyncBaseTransport):
    def __init__(self, slots: int, *, verify: ssl.SSLContext | bool = True) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self._all = [
            httpx.AsyncHTTPTransport(verify=verify, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
            for _ in range(slots)
        ]
        self._free: asyncio.LifoQueue[httpx.AsyncHTTPTransport] = asyncio.LifoQueue()
        for t in self._all:  # LIFO: the most recently used (warm) connection goes first
            self._free.put_nowait(t)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        slot = await self._free.get()
        try:
            response = await slot.handle_async_request(request)
        except BaseException:
            self._free.put_nowait(slot)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              stream=_ReleasingStream(response.stream, lambda: self._free.put_nowait(slot)),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        for t in self._all:
            await t.aclose()
