"""machinery.slotpool.SlotTransport against a real loopback HTTP/1.1 server: at most `slots`
requests in flight, connections kept alive and reused, a streamed response holds its slot
until closed, a failed request gives its slot back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from machinery.slotpool import SlotTransport


class Server:
    """Answers every request after `delay_s` with its path; counts connections and concurrency."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                await asyncio.sleep(self.delay_s)
                self.active -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    s.server = await asyncio.start_server(s.handle, "127.0.0.1", 0)
    try:
        yield s
    finally:
        s.server.close()


async def test_at_most_slots_in_flight_and_connections_reused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, transport=SlotTransport(3)) as client:
        answers = await asyncio.gather(*(client.get(f"/r{i}") for i in range(30)))
    assert [a.text for a in answers] == [f"/r{i}" for i in range(30)]
    assert server.max_active == 3
    assert server.connections == 3  # kept alive: 30 requests on 3 connections


async def test_streamed_response_holds_its_slot_until_closed(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, transport=SlotTransport(1)) as client:
        request = client.build_request("GET", "/held")
        held = await client.send(request, stream=True)
        second = asyncio.create_task(client.get("/next"))
        await asyncio.sleep(0.1)
        assert not second.done()  # the only slot is still held by the open stream
        await held.aread()
        await held.aclose()
        assert (await asyncio.wait_for(second, 10)).text == "/next"


async def test_a_failed_request_gives_its_slot_back() -> None:
    transport = SlotTransport(1)
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):  # nothing listens on port 1: each attempt fails, none waits for a slot
            with pytest.raises(httpx.ConnectError):
                await asyncio.wait_for(client.get("http://127.0.0.1:1/"), 10)


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValueError, match="slots"):
        SlotTransport(0)
