"""Channel framing, SPDY/3.1 framing and the port-forward sessions, against a loopback echo server."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator

import pytest

from kubelet import spdy
from kubelet.portforward import ChannelPortForward, SpdyPortForward
from machinery import channels


def test_choose_prefers_v5_and_knows_portforward_protocols() -> None:
    assert channels.choose(["v4.channel.k8s.io", "v5.channel.k8s.io"]) == channels.V5
    assert channels.choose(["SPDY/3.1"]) is None
    assert channels.choose(["v5.channel.k8s.io", "v4.channel.k8s.io"], channels.PORTFORWARD_PROTOCOLS) == channels.V4
    assert channels.choose([channels.SPDY_PORTFORWARD], channels.PORTFORWARD_PROTOCOLS) == channels.SPDY_PORTFORWARD


def test_binary_and_base64_framing_round_trip() -> None:
    data = bytes(range(256))
    assert channels.encode(channels.V5, 1, data) == b"\x01" + data
    assert channels.decode(channels.V5, b"\x01" + data) == channels.Frame(1, data)
    text = channels.encode(channels.V4_BASE64, 2, data)
    assert isinstance(text, str) and text[0] == "2"
    assert channels.decode(channels.V4_BASE64, text) == channels.Frame(2, data)
    # The Python client sends str stdin as a text message on a binary protocol.
    assert channels.decode(channels.V5, "\x00hello") == channels.Frame(0, b"hello")
    assert channels.decode(channels.V5, b"") is None
    assert channels.decode(channels.V4_BASE64, "1!!not base64") is None


def test_error_channel_payload_per_protocol_version() -> None:
    ok, failed = channels.exit_status(0, ["true"]), channels.exit_status(3, ["sh"])
    assert json.loads(channels.error_payload(channels.V4, ok) or b"") == {"metadata": {}, "status": "Success"}
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert channels.error_payload(channels.V2, ok) is None
    assert b"exit code 3" in (channels.error_payload(channels.V1, failed) or b"")


def test_ports_parsing() -> None:
    assert channels.parse_ports(["80,8080", "9000"]) == [80, 8080, 9000]
    with pytest.raises(ValueError, match="between 1 and 65535"):
        channels.parse_ports(["0"])
    with pytest.raises(ValueError, match="invalid port"):
        channels.parse_ports(["http"])
    assert channels.port_header(8080) == bytes([0x90, 0x1F])


def test_spdy_dictionary_and_frames_round_trip() -> None:
    assert len(spdy.DICTIONARY) == 1423  # the SPDY/3 dictionary's size
    client, server = spdy.Framer(), spdy.Framer()
    wire = client.syn_stream(1, {"streamType": "error", "port": "80", "requestID": "0"})
    wire += client.syn_stream(3, {"streamType": "data", "port": "80", "requestID": "0"})  # shared zlib context
    wire += client.data(3, b"hello", fin=True) + client.ping(7) + client.rst_stream(3, spdy.RST_CANCEL)
    frames = []
    for i in range(0, len(wire), 5):  # any split of the byte stream
        frames += server.feed(wire[i:i + 5])
    syn1, syn3, data, ping, rst = frames
    assert isinstance(syn1, spdy.ControlFrame) and syn1.type == spdy.SYN_STREAM and syn1.stream_id == 1
    assert (syn1.header("streamtype"), syn1.header("port"), syn1.header("requestid")) == ("error", "80", "0")
    assert isinstance(syn3, spdy.ControlFrame) and syn3.header("streamtype") == "data"
    assert isinstance(data, spdy.DataFrame) and (data.stream_id, data.data, data.fin) == (3, b"hello", True)
    assert isinstance(ping, spdy.ControlFrame) and (ping.type, ping.status) == (spdy.PING, 7)
    assert isinstance(rst, spdy.ControlFrame) and (rst.type, rst.stream_id, rst.status) == (spdy.RST_STREAM, 3, 5)


def test_spdy_rejects_garbage() -> None:
    with pytest.raises(spdy.SpdyError):
        spdy.Framer().feed(b"\x80\x02\x00\x01\x00\x00\x00\x00")  # version 2
    bad = b"\x80\x03\x00\x01\x00\x00\x00\x0e" + b"\x00\x00\x00\x01" + b"\x00" * 6 + b"\xff\xff\xff\xff"
    with pytest.raises(spdy.SpdyError):
        spdy.Framer().feed(bad)


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_spdy_portforward_session_pairs_streams_and_forwards(echo_port: int) -> None:
    sent: list[bytes] = []

    async def send(message: bytes | str) -> None:
        assert isinstance(message, bytes)
        sent.append(message)

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if port != 80:
            raise OSError("connection refused")
        return await asyncio.open_connection("127.0.0.1", echo_port)

    session = SpdyPortForward(send, connect, "default/p")
    client, reader = spdy.Framer(), spdy.Framer()
    await session.feed(client.syn_stream(1, {"streamType": "error", "port": "80", "requestID": "0"}))
    await session.feed(client.syn_stream(3, {"streamType": "data", "port": "80", "requestID": "0"}))
    payload = bytes(range(256)) * 300
    await session.feed(client.data(3, payload) + client.data(3, b"", fin=True))
    await session.feed(client.syn_stream(5, {"streamType": "error", "port": "81", "requestID": "1"}))
    await session.feed(client.syn_stream(7, {"streamType": "data", "port": "81", "requestID": "1"}))
    await session.feed(client.ping(1))

    got: dict[int, bytes] = {}
    fins: set[int] = set()
    replies: set[int] = set()
    pings: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline and not {1, 3, 5, 7} <= fins:
        for frame in reader.feed(b"".join(sent)):
            if isinstance(frame, spdy.DataFrame):
                got[frame.stream_id] = got.get(frame.stream_id, b"") + frame.data
                if frame.fin:
                    fins.add(frame.stream_id)
            elif frame.type == spdy.SYN_REPLY:
                replies.add(frame.stream_id)
            elif frame.type == spdy.PING:
                pings.append(frame.status)
        sent.clear()
        await asyncio.sleep(0.01)
    await session.aclose()
    assert replies == {1, 3, 5, 7} and pings == [1]
    assert got[3] == payload and got.get(1, b"") == b""
    assert fins == {1, 3, 5, 7}
    assert b"error forwarding port 81 to pod default/p: connection refused" in got[5]


async def test_channel_portforward_sends_port_headers_then_data(echo_port: int) -> None:
    sent: list[bytes | str] = []
    echoed = asyncio.Event()

    async def send(message: bytes | str) -> None:
        sent.append(message)
        if message == b"\x00ping":
            echoed.set()

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", echo_port)

    session = ChannelPortForward(send, connect, "default/p", protocol=channels.V4, ports=[7000])
    await session.start()
    assert sent[:2] == [b"\x00" + channels.port_header(7000), b"\x01" + channels.port_header(7000)]
    await session.feed(b"\x00ping")
    await asyncio.wait_for(echoed.wait(), 10)
    await session.aclose()


def test_spdy_header_compression_is_zlib_with_the_dictionary() -> None:
    raw = spdy.Framer().syn_reply(1, {"a": "b"})
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert spdy.decode_header_block(inflate.decompress(raw[12:])) == {"a": ["b"]}
