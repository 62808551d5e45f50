"""machinery.leanhttp.LeanTransport against a real loopback HTTP/1.1 server (and through a real
ApiClient): at most `slots` requests in flight on kept-alive connections, Content-Length and
chunked answers, a connection the server closed while idle is reopened and the request sent
again, a connection lost mid-answer is an httpx error the ApiClient retries, errors keep their
Status, a read timeout, a cancelled request frees its slot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.leanhttp import LeanTransport


class Server:
    """Answers each request after `delay_s`. Path /chunked answers chunked, /close answers then
    closes, /drop closes without answering (the first `drops` times), /status404 answers a
    Status, /slow never answers; anything else echoes method, path and body as JSON."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.connections = 0
        self.requests = 0
        self.active = 0
        self.max_active = 0
        self.drops = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.release = asyncio.Event()  # lets /slow answer (at teardown)
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests += 1
                if path == b"/drop" and self.drops > 0:
                    self.drops -= 1
                    return
                if path == b"/slow":
                    await self.release.wait()
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                await asyncio.sleep(self.delay_s)
                self.active -= 1
                if path == b"/chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"5\r\n{\"a\":\r\n3\r\n42}\r\n0\r\n\r\n")
                elif path == b"/status404":
                    status = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                         "reason": "NotFound", "code": 404, "message": "pods \"x\" not found"})
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(status), status.encode()))
                else:
                    answer = json.dumps({"method": method.decode(), "path": path.decode(),
                                         "body": body.decode()}).encode()
                    close = b"Connection: close\r\n" if path == b"/close" else b""
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%s"
                                 b"Content-Length: %d\r\n\r\n%s" % (close, len(answer), answer))
                await writer.drain()
                if path == b"/close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def close_idle(self) -> None:
        for w in self.writers:
            w.close()

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
        s.release.set()
        s.close_idle()
        s.server.close()
        await asyncio.sleep(0)


async def test_at_most_slots_in_flight_on_kept_alive_connections(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, transport=LeanTransport(3)) as client:
        answers = await asyncio.gather(*(client.post(f"/r{i}?x=1", content=b"b%d" % i) for i in range(30)))
    assert [a.json() for a in answers] == [{"method": "POST", "path": f"/r{i}?x=1", "body": f"b{i}"}
                                           for i in range(30)]
    assert server.max_active == 3
    assert server.connections == 3


async def test_chunked_and_connection_close_answers(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, transport=LeanTransport(1)) as client:
        assert (await client.get("/chunked")).json() == {"a": 42}
        assert (await client.get("/close")).json()["path"] == "/close"
        assert (await client.get("/after")).json()["path"] == "/after"
    assert server.connections == 2  # the one closed by the server was reopened


async def test_connection_closed_while_idle_is_reopened_and_the_request_sent_again(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, transport=LeanTransport(1)) as client:
        assert (await client.get("/one")).status_code == 200
        server.close_idle()
        await asyncio.sleep(0.05)
        assert (await client.get("/two")).json()["path"] == "/two"
        # Closed by the server after reading the request, before answering, on a reused
        # connection: sent once more on a new one.
        server.drops = 1
        assert (await client.get("/drop")).json()["path"] == "/drop"
    assert server.connections == 3


async def test_api_client_keeps_its_errors_and_retries(server: Server) -> None:
    client = ApiClient(server.url, transport=LeanTransport(2), retry_delays_s=(0.01, 0.01))
    try:
        answer = await client.request("POST", "/api/v1/x", json={"k": "v"})
        assert answer == {"method": "POST", "path": "/api/v1/x", "body": '{"k": "v"}'}
        with pytest.raises(errors.NotFound, match="not found"):
            await client.request("GET", "/status404")
        # A fresh connection closed without an answer: a connection error, retried by the client.
        server.drops = 2
        answer = await client.request("GET", "/drop")
        assert answer["path"] == "/drop"
        assert server.drops == 0
    finally:
        await client.aclose()


async def test_read_timeout_and_cancellation_free_the_slot(server: Server) -> None:
    transport = LeanTransport(1)
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow")
        slow = asyncio.create_task(client.get("/slow", timeout=30))
        await asyncio.sleep(0.1)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert (await asyncio.wait_for(client.get("/next"), 10)).json()["path"] == "/next"


async def test_nothing_listening_is_a_connect_error() -> None:
    async with httpx.AsyncClient(transport=LeanTransport(1)) as client:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await asyncio.wait_for(client.get("http://127.0.0.1:1/"), 10)


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValueError, match="slots"):
        LeanTransport(0)
