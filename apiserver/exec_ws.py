"""Streaming subresources over WebSocket (`exec`, `attach`, `portforward`), relayed to the kubelet.

Contract: `router` (mounted by `create_app`) accepts the WebSocket upgrade on
`GET /api/v1/namespaces/{ns}/pods/{name}/exec?command=..&container=..&stdin=&stdout=&stderr=&tty=`,
`.../attach?container=..&stdin=&stdout=&stderr=&tty=` and `.../portforward?ports=..`. It finds the
pod's node and kubelet (as the log proxy does), opens a WebSocket to the kubelet's
`/exec|attach/{ns}/{pod}/{container}` or `/portforward/{ns}/{pod}` with the same query and the
subprotocols the client offered, accepts the client with the protocol the kubelet chose, then
copies every message both ways unchanged (binary stays binary, text stays text) until either
side closes; the close code is passed on. The protocols themselves (`v5.channel.k8s.io`,
`v4.channel.k8s.io`, base64 variants, `SPDY/3.1+portforward.k8s.io` for kubectl's port-forward)
are spoken by the kubelet (kubelet/streaming.py, machinery/channels.py).
Problems found before the kubelet answers (pod not found, no node, bad container, kubelet
down): exec/attach get a Failure Status on channel 3 (v4+: JSON with reason and code) and a
normal close, as Kubernetes; port-forward gets a close with code 1011 and the message as reason.
Plain HTTP GET/POST on the exec path stays with kubelet_proxy.py (our JSON form).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, WebSocket
from starlette.requests import Request
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from apiserver import kubelet_proxy
from apiserver.upstream import kubelet_ssl
from machinery import channels, errors
from machinery.wscompat import connect

log = logging.getLogger(__name__)
router = APIRouter()

PROTOCOLS = channels.EXEC_PROTOCOLS


def choose_protocol(offered: list[str]) -> str | None:
    """Our most preferred exec protocol among the offered ones."""
    return channels.choose(offered)


exit_status = channels.exit_status


def error_status(err: errors.ApiError) -> dict[str, Any]:
    status = err.to_status()
    return {k: v for k, v in status.items() if k not in ("kind", "apiVersion")} | {"metadata": {}}


async def _dial(ws: WebSocket, kind: str, ns: str, name: str) -> ClientConnection:
    """The kubelet's WebSocket for this request (raises ApiError)."""
    req = cast(Request, ws)  # the proxy helpers only use .app, which a WebSocket has too
    pod = await kubelet_proxy._pod(req, ns, name)
    if kind == "portforward":
        path = f"/portforward/{ns}/{name}"
    else:
        path = f"/{kind}/{ns}/{name}/{kubelet_proxy._container(pod, ws.query_params.get('container') or None)}"
    base = await kubelet_proxy._kubelet_url(req, pod)
    parts = urlsplit(base)
    query = ws.scope.get("query_string", b"").decode("latin-1")
    url = urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc, path, query, ""))
    offered = list(ws.scope.get("subprotocols") or [])
    tls = {"ssl": kubelet_ssl(ws.app)} if parts.scheme == "https" else {}
    try:
        conn: ClientConnection = await connect(url, subprotocols=offered, max_size=None, compression=None,
                                               open_timeout=10, ping_interval=None, close_timeout=5, proxy=None,
                                               **tls)
        return conn
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        raise kubelet_proxy._unreachable(base, exc) from None


async def _to_kubelet(ws: WebSocket, upstream: ClientConnection) -> None:
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            await upstream.close()
            return
        if msg.get("bytes") is not None:
            await upstream.send(msg["bytes"])
        elif msg.get("text") is not None:
            await upstream.send(msg["text"])


async def _to_client(ws: WebSocket, upstream: ClientConnection) -> None:
    try:
        async for message in upstream:
            if isinstance(message, str):
                await ws.send_text(message)
            else:
                await ws.send_bytes(bytes(message))
    except ConnectionClosed:
        pass
    code = upstream.close_code if upstream.close_code not in (None, 1005, 1006) else 1000
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await ws.close(code=code, reason=(upstream.close_reason or "")[:120])


async def _relay(ws: WebSocket, kind: str, ns: str, name: str) -> None:
    offered = list(ws.scope.get("subprotocols") or [])
    try:
        if kind == "exec" and not ws.query_params.getlist("command"):
            raise errors.BadRequest("you must specify at least 1 command")
        upstream = await _dial(ws, kind, ns, name)
    except errors.ApiError as err:
        await _refuse(ws, kind, offered, error_status(err))
        return
    except Exception as exc:  # never a traceback to the client: a Status saying what broke
        log.exception("%s in %s/%s failed", kind, ns, name)
        await _refuse(ws, kind, offered, error_status(errors.InternalError(f"{kind} failed: {type(exc).__name__}: {exc}")))
        return
    await ws.accept(subprotocol=upstream.subprotocol)
    tasks = [asyncio.create_task(_to_kubelet(ws, upstream)), asyncio.create_task(_to_client(ws, upstream))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()


async def _refuse(ws: WebSocket, kind: str, offered: list[str], status: dict[str, Any]) -> None:
    if kind == "portforward":
        await ws.accept(subprotocol=channels.choose(offered, channels.PORTFORWARD_PROTOCOLS))
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await ws.close(code=1011, reason=str(status.get("message") or "")[:120])
        return
    proto = channels.choose(offered)
    await ws.accept(subprotocol=proto)
    payload = channels.error_payload(proto, status)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        if payload is not None:
            message = channels.encode(proto, channels.ERROR, payload)
            if isinstance(message, str):
                await ws.send_text(message)
            else:
                await ws.send_bytes(message)
        await ws.close(code=1000)


@router.websocket("/api/v1/namespaces/{ns}/pods/{name}/exec")
async def pod_exec_ws(ws: WebSocket, ns: str, name: str) -> None:
    await _relay(ws, "exec", ns, name)


@router.websocket("/api/v1/namespaces/{ns}/pods/{name}/attach")
async def pod_attach_ws(ws: WebSocket, ns: str, name: str) -> None:
    await _relay(ws, "attach", ns, name)


@router.websocket("/api/v1/namespaces/{ns}/pods/{name}/portforward")
async def pod_portforward_ws(ws: WebSocket, ns: str, name: str) -> None:
    await _relay(ws, "portforward", ns, name)
