"""The kubelet's streaming endpoints (WebSocket): exec, attach and port-forward.

Contract: `register(app, runtime, cfg)` adds
- `WS /exec/{ns}/{pod}/{container}?command=..&stdin=&stdout=&stderr=&tty=`
- `WS /attach/{ns}/{pod}/{container}?stdin=&stdout=&stderr=&tty=`
- `WS /portforward/{ns}/{pod}?ports=80,8080`
speaking Kubernetes' channel protocols (machinery/channels.py) exactly as the client offered
them, so the API server only relays messages. exec/attach: stdin (channel 0) goes to the
process; the v5 close signal for stdin half-closes it (EOF); resize (channel 4) resizes the tty;
output bytes go out unchanged on 1/2 (a tty merges them on 1); at the end a Status on channel 3
(v4+ JSON: exit code as Kubernetes reports it; attach: Success) and a normal close. When the
client leaves first, an exec's stdin is closed (a v4 client's only way to end it) and the
connection dropped; an attach just detaches. Failures before the stream starts (container not
running, stdin on a container without `stdin: true`, Docker refusing) are a Failure Status on
channel 3. Port-forward: `SPDY/3.1+portforward.k8s.io` (kubectl) or `v4.channel.k8s.io`
(+base64; the official client), served by kubelet/portforward.py, dialling inside the pod's
network namespace (kubelet/podnet.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from kubelet import dockerstream, podnet
from kubelet.portforward import ChannelPortForward, SpdyPortForward
from kubelet.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_NODE,
    LABEL_NS,
    LABEL_POD,
    SANDBOX_NAME,
    ContainerInfo,
)
from machinery import channels

log = logging.getLogger(__name__)


class StreamFailure(Exception):
    """Ends a stream with a Failure Status (reason, code) before it started."""

    def __init__(self, message: str, reason: str = "BadRequest", code: int = 400) -> None:
        super().__init__(message)
        self.status = channels.failure_status(message, reason, code)


def _flag(ws: WebSocket, key: str, default: bool) -> bool:
    value = ws.query_params.get(key)
    return default if value is None else value.lower() in ("1", "true")


async def _send(ws: WebSocket, message: bytes | str) -> None:
    if isinstance(message, str):
        await ws.send_text(message)
    else:
        await ws.send_bytes(message)


async def _receive(ws: WebSocket) -> bytes | str | None:
    """The next data message; None once the client disconnected."""
    msg = await ws.receive()
    if msg["type"] == "websocket.disconnect":
        return None
    if msg.get("bytes") is not None:
        return bytes(msg["bytes"])
    return str(msg.get("text") or "")


async def _finish(ws: WebSocket, protocol: str | None, status: dict[str, Any]) -> None:
    payload = channels.error_payload(protocol, status)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        if payload is not None:
            await _send(ws, channels.encode(protocol, channels.ERROR, payload))
        await ws.close(code=1000)


class Streams:
    def __init__(self, runtime: Any, cluster: str, node: str) -> None:
        self.runtime, self.cluster, self.node = runtime, cluster, node

    async def running(self, ns: str, pod: str, container: str) -> ContainerInfo:
        found: list[ContainerInfo] = await self.runtime.list_containers({LABEL_CLUSTER: self.cluster, LABEL_NODE: self.node,
                                                    LABEL_NS: ns, LABEL_POD: pod, LABEL_CONTAINER: container})
        running = sorted((i for i in found if i.running), key=lambda i: i.restarts)
        if not running:
            what = "pod" if container == SANDBOX_NAME else f'container "{container}" in pod'
            name = pod if container == SANDBOX_NAME else f'"{pod}"'
            raise StreamFailure(f"{what} {name} is not running on node {self.node}", "NotFound", 404)
        latest: ContainerInfo = running[-1]
        return latest

    async def command(self, ws: WebSocket, ns: str, pod: str, container: str, *, attach: bool) -> None:
        protocol = channels.choose(list(ws.scope.get("subprotocols") or []))
        await ws.accept(subprotocol=protocol)
        stdin, stdout = _flag(ws, "stdin", False), _flag(ws, "stdout", True)
        stderr, tty = _flag(ws, "stderr", True), _flag(ws, "tty", False)
        command = ws.query_params.getlist("command")
        try:
            if not attach and not command:
                raise StreamFailure("you must specify at least 1 command")
            info = await self.running(ns, pod, container)
            client = getattr(self.runtime, "client", None)  # the Docker SDK client
            if client is None:
                raise StreamFailure(f"node {self.node} cannot stream {'attach' if attach else 'exec'} sessions")
            if attach:
                if stdin and not info.stdin_open:
                    raise StreamFailure(f'stdin is not enabled for container "{container}": set stdin: true '
                                        "in its spec to attach to it")
                stream = await dockerstream.open_attach(client, info.id, stdin=stdin, stdout=stdout, stderr=stderr,
                                                        tty=info.tty)
            else:
                stream = await dockerstream.open_exec(client, info.id, command, stdin=stdin, stdout=stdout,
                                                      stderr=stderr, tty=tty)
        except StreamFailure as exc:
            await _finish(ws, protocol, exc.status)
            return
        except (dockerstream.DockerStreamError, OSError) as exc:
            await _finish(ws, protocol, channels.failure_status(f"{'attach' if attach else 'exec'} failed: {exc}"))
            return
        await self._session(ws, protocol, stream, command, stdout=stdout, stderr=stderr, attach=attach)

    async def _session(self, ws: WebSocket, protocol: str | None, stream: dockerstream.DockerStream,
                       command: list[str], *, stdout: bool, stderr: bool, attach: bool) -> None:
        out_task = asyncio.create_task(_pump_out(ws, protocol, stream, stdout=stdout, stderr=stderr))
        in_task = asyncio.create_task(_pump_in(ws, protocol, stream))
        try:
            done, _ = await asyncio.wait({out_task, in_task}, return_when=asyncio.FIRST_COMPLETED)
            if out_task in done and out_task.exception() is None:
                in_task.cancel()
                code = 0 if attach else await stream.exit_code()
                await _finish(ws, protocol, channels.exit_status(code, command))
            elif not attach:  # the client left (or sending failed): nobody reads the output any more
                await stream.close_stdin()
        finally:
            for t in (out_task, in_task):
                t.cancel()
            await asyncio.gather(out_task, in_task, return_exceptions=True)
            await stream.close()

    async def portforward(self, ws: WebSocket, ns: str, pod: str) -> None:
        offered = list(ws.scope.get("subprotocols") or [])
        protocol = channels.choose(offered, channels.PORTFORWARD_PROTOCOLS)
        await ws.accept(subprotocol=protocol)
        try:
            sandbox = await self.running(ns, pod, SANDBOX_NAME)
            session = await _portforward_session(ws, protocol or channels.V4, sandbox, f"{ns}/{pod}")
        except (StreamFailure, ValueError) as exc:
            await ws.close(code=1011 if isinstance(exc, StreamFailure) else 1008, reason=str(exc)[:120])
            return
        done = asyncio.create_task(session.done.wait())
        try:
            while (message := await _receive_until(ws, done)) is not None:
                await session.feed(message)
        except (WebSocketDisconnect, OSError) as exc:
            log.debug("port-forward to %s/%s ended: %s", ns, pod, exc)
        except ValueError as exc:  # malformed SPDY: end the session, say why in the log
            log.info("port-forward to %s/%s: %s", ns, pod, exc)
        finally:
            done.cancel()
            await session.aclose()
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await ws.close(code=1000)


async def _pump_out(ws: WebSocket, protocol: str | None, stream: dockerstream.DockerStream, *,
                    stdout: bool, stderr: bool) -> None:
    """Process output -> the client, on the channels it asked for."""
    while (item := await stream.read()) is not None:
        channel, data = item
        if (channel == channels.STDOUT and stdout) or (channel == channels.STDERR and stderr):
            await _send(ws, channels.encode(protocol, channel, data))


async def _pump_in(ws: WebSocket, protocol: str | None, stream: dockerstream.DockerStream) -> None:
    """Client messages -> stdin, resize, close of stdin; returns when the client disconnected."""
    while (message := await _receive(ws)) is not None:
        frame = channels.decode(protocol, message)
        if frame is None:
            continue
        if frame.channel == channels.STDIN:
            await stream.write(frame.data)
        elif frame.channel == channels.RESIZE:
            size = _terminal_size(frame.data)
            if size is not None:
                await stream.resize(*size)
        elif frame.channel == channels.CLOSE and frame.data[:1] == bytes([channels.STDIN]):
            await stream.close_stdin()


def _terminal_size(data: bytes) -> tuple[int, int] | None:
    """`{"Width": w, "Height": h}` -> (w, h); None when malformed."""
    try:
        size = json.loads(data or b"{}")
        return int(size.get("Width") or 0), int(size.get("Height") or 0)
    except (ValueError, TypeError, AttributeError):
        return None


async def _receive_until(ws: WebSocket, done: asyncio.Task[Any]) -> bytes | str | None:
    """The next client message, or None when the client left or `done` finished first."""
    receive = asyncio.create_task(_receive(ws))
    finished, _ = await asyncio.wait({receive, done}, return_when=asyncio.FIRST_COMPLETED)
    if receive not in finished:
        receive.cancel()
        return None
    return receive.result()


async def _portforward_session(ws: WebSocket, protocol: str, sandbox: ContainerInfo,
                               describe: str) -> SpdyPortForward | ChannelPortForward:
    """The session for the negotiated protocol (started); ValueError for bad `ports`."""

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await podnet.connect_in_pod(pid=sandbox.pid, ip=sandbox.ip, port=port)

    async def send(message: bytes | str) -> None:
        await _send(ws, message)

    if protocol == channels.SPDY_PORTFORWARD:
        return SpdyPortForward(send, connect, describe)
    ports = channels.parse_ports(ws.query_params.getlist("ports"))
    if not ports:
        raise ValueError('query parameter "ports" is required')
    session = ChannelPortForward(send, connect, describe, protocol=protocol, ports=ports)
    await session.start()
    return session


def register(app: FastAPI, runtime: Any, *, cluster: str, node: str) -> None:
    streams = Streams(runtime, cluster, node)

    @app.websocket("/exec/{ns}/{pod}/{container}")
    async def exec_ws(ws: WebSocket, ns: str, pod: str, container: str) -> None:
        await streams.command(ws, ns, pod, container, attach=False)

    @app.websocket("/attach/{ns}/{pod}/{container}")
    async def attach_ws(ws: WebSocket, ns: str, pod: str, container: str) -> None:
        await streams.command(ws, ns, pod, container, attach=True)

    @app.websocket("/portforward/{ns}/{pod}")
    async def portforward_ws(ws: WebSocket, ns: str, pod: str) -> None:
        await streams.portforward(ws, ns, pod)
