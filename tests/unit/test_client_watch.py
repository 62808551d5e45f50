"""ApiClient watches and line streams against httpx.MockTransport (and, for stream cut-offs, a tiny
loopback server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.meta import Resource
from tests.unit.client_support import (
    FakeServer,
    FPod,
    FStrict,
    make_client,
    status,
)

# -- watch ------------------------------------------------------------------------------------

def stream_response(*chunks: bytes | Exception, code: int = 200) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk
            await asyncio.sleep(0)

    return httpx.Response(code, content=body(), headers={"content-type": "application/json"})


def ev(etype: str, name: str, rv: str) -> bytes:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "n", "resourceVersion": rv}}
    return json.dumps({"type": etype, "object": obj}).encode() + b"\n"


async def collect(client: ApiClient, cls: type[Resource] = FPod, **kw: Any) -> list[Any]:
    return [e async for e in client.watch(cls, **kw)]


async def test_watch_params_and_split_chunks() -> None:
    data = ev("ADDED", "a", "5") + ev("MODIFIED", "a", "6") + b"\n" + ev("DELETED", "a", "7")
    # Cut the byte stream at awkward places: mid-JSON, mid-UTF-8 free, right after "\n".
    chunks = [data[:7], data[7:60], data[60:61], data[61:150], data[150:]]
    server = FakeServer(stream_response(*chunks))
    client, _ = make_client(server)
    events = await collect(client, namespace="n", resource_version="4", label_selector="app=web",
                           field_selector="spec.nodeName=n1", timeout_s=60)
    req = server.last
    assert req.url.path == "/api/v1/namespaces/n/pods"
    assert dict(req.url.params) == {"watch": "1", "resourceVersion": "4", "allowWatchBookmarks": "true",
                                    "timeoutSeconds": "60", "labelSelector": "app=web",
                                    "fieldSelector": "spec.nodeName=n1"}
    assert req.extensions["timeout"]["read"] == 90.0
    assert [(e.type, e.object.name, e.object.resource_version) for e in events] == [
        ("ADDED", "a", "5"), ("MODIFIED", "a", "6"), ("DELETED", "a", "7")]
    assert all(isinstance(e.object, FPod) for e in events)
    assert events[0].raw["object"]["metadata"]["name"] == "a"


async def test_watch_without_timeout_has_no_read_timeout_and_all_namespaces() -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5")))
    client, _ = make_client(server)
    events = await collect(client, allow_bookmarks=False)
    assert server.last.url.path == "/api/v1/pods"
    assert dict(server.last.url.params) == {"watch": "1"}
    assert server.last.extensions["timeout"]["read"] is None
    assert len(events) == 1


async def test_watch_last_line_without_newline_is_delivered() -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5").rstrip(b"\n")))
    client, _ = make_client(server)
    assert [e.object.name for e in await collect(client)] == ["a"]


async def test_watch_bookmark_has_only_resource_version() -> None:
    bookmark = {"type": "BOOKMARK", "object": {"kind": "Strict", "apiVersion": "v1",
                                                "metadata": {"resourceVersion": "99"}}}
    server = FakeServer(stream_response(json.dumps(bookmark).encode() + b"\n"))
    client, _ = make_client(server)
    [event] = await collect(client, FStrict)
    assert event.type == "BOOKMARK" and isinstance(event.object, FStrict)
    assert event.object.resource_version == "99" and event.object.name == ""
    assert event.object.kind == "Strict" and event.object.apiVersion == "v1"


@pytest.mark.parametrize("reason", ["Expired", "Gone"])
async def test_watch_error_410_raises_expired_after_earlier_events(reason: str) -> None:
    err = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                       "reason": reason, "code": 410, "message": "too old resource version: 3"}}
    server = FakeServer(stream_response(ev("ADDED", "a", "5"), json.dumps(err).encode() + b"\n"))
    client, _ = make_client(server)
    seen: list[str] = []
    with pytest.raises(errors.Expired, match="too old"):  # noqa: PT012 - the stream raises mid-iteration
        async for event in client.watch(FPod):
            seen.append(event.type)
    assert seen == ["ADDED"]


async def test_watch_other_error_event_raises_matching_class() -> None:
    err = {"type": "ERROR", "object": {"kind": "Status", "reason": "InternalError", "code": 500, "message": "boom"}}
    server = FakeServer(stream_response(json.dumps(err).encode() + b"\n"))
    client, _ = make_client(server)
    with pytest.raises(errors.InternalError, match="boom"):
        await collect(client)
    assert len(server.requests) == 1  # an in-stream error is not retried by the client


async def test_watch_start_410_raises_expired_and_5xx_is_retried() -> None:
    server = FakeServer(status(410, "Expired", "too old"))
    client, _ = make_client(server)
    with pytest.raises(errors.Expired):
        await collect(client)
    server = FakeServer(status(503, "ServiceUnavailable"), httpx.ConnectError("refused"),
                        stream_response(ev("ADDED", "a", "5")))
    client, slept = make_client(server)
    assert len(await collect(client)) == 1 and slept == [0.1, 0.2]


@pytest.mark.parametrize("cut", [httpx.ReadError("reset"), httpx.RemoteProtocolError("peer closed")])
async def test_watch_connection_lost_mid_stream_raises_connection_failed(cut: Exception) -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5"), b'{"type": "MOD', cut))
    client, slept = make_client(server)
    seen: list[str] = []
    with pytest.raises(errors.ConnectionFailed):  # noqa: PT012 - the stream raises mid-iteration
        async for event in client.watch(FPod):
            seen.append(event.object.name)
    assert seen == ["a"] and len(server.requests) == 1 and slept == []


async def test_watch_truncated_final_line_raises_connection_failed() -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5"), b'{"type": "MODIFIED", "obj'))
    client, _ = make_client(server)
    with pytest.raises(errors.ConnectionFailed, match="undecodable"):
        await collect(client)


async def test_watch_garbage_event_raises_connection_failed() -> None:
    server = FakeServer(stream_response(b'{"type": "WHAT", "object": {}}\n'))
    client, _ = make_client(server)
    with pytest.raises(errors.ConnectionFailed, match="not a watch event"):
        await collect(client)


async def _serve_once(payload: bytes) -> tuple[asyncio.Server, int]:
    """A loopback HTTP server answering one chunked response, then dropping the socket."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        await writer.drain()
        writer.close()  # no terminating 0-chunk: the connection is lost mid-stream

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_watch_real_socket_drop_raises_connection_failed() -> None:
    server, port = await _serve_once(ev("ADDED", "a", "5"))
    try:
        async with ApiClient(f"http://127.0.0.1:{port}", retry_delays_s=()) as client:
            seen: list[str] = []
            with pytest.raises(errors.ConnectionFailed, match="lost"):  # noqa: PT012 - raises mid-stream
                async with aclosing(client.watch(FPod)) as events:
                    async for event in events:
                        seen.append(event.object.name)
            assert seen == ["a"]
    finally:
        server.close()
        await server.wait_closed()


async def test_breaking_out_of_a_watch_closes_the_connection() -> None:
    """With aclosing(), leaving the loop closes the HTTP connection at once (the server sees EOF)."""
    peer_gone = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for n in range(1, 4):
            line = ev("MODIFIED", "a", str(n))
            writer.write(b"%x\r\n%s\r\n" % (len(line), line))
        await writer.drain()
        await reader.read()  # returns b"" once the client closed its end
        peer_gone.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        async with ApiClient(f"http://127.0.0.1:{port}", retry_delays_s=()) as client:
            async with aclosing(client.watch(FPod)) as events:
                async for event in events:
                    if event.object.resource_version == "3":
                        break
            await asyncio.wait_for(peer_gone.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()


async def test_stream_lines_yields_text_lines() -> None:
    server = FakeServer(stream_response(b"hello\nwor", b"ld\n"))
    client, _ = make_client(server)
    lines = [line async for line in client.stream_lines("/api/v1/namespaces/n/pods/p/log",
                                                        params={"follow": "true"})]
    assert lines == ["hello", "world"]
    assert server.last.url.params["follow"] == "true"
