"""`kubectl exec` over WebSocket: the channel.k8s.io streaming protocol, relayed to the kubelet.

Contract: `router` (mounted by `create_app`) accepts the WebSocket upgrade on
`GET /api/v1/namespaces/{ns}/pods/{name}/exec?command=..&command=..&container=..&stdout=
&stderr=&stdin=&tty=`, negotiating the subprotocol kubectl offers: `v5.channel.k8s.io`,
`v4.channel.k8s.io` (also the older `v3`/`v2`/`channel.k8s.io`, which frame the same way).
The command runs through the kubelet's JSON exec endpoint
(`POST /exec/{ns}/{pod}/{container}?command=..` -> `{"stdout","stderr","exitCode"}`), so it is
non-interactive: stdin is not forwarded and a tty is not allocated. Every binary frame starts
with its channel byte: stdout goes on channel 1, stderr on 2, then a meta/v1 Status on channel 3
(v4+: Success, or Failure with reason NonZeroExitCode and the exit code in
`details.causes[{reason: ExitCode, message: "N"}]`, as the kubelet does; kubectl exits with
it), then a normal close. Problems found after the upgrade (pod not found, no node, kubelet
down, bad container) are a Failure Status on channel 3 with their reason. Plain HTTP
GET/POST on the same path stays with kubelet_proxy.py (our JSON form).
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import httpx
from fastapi import APIRouter, WebSocket
from starlette.requests import Request
from starlette.websockets import WebSocketDisconnect

from apiserver import kubelet_proxy
from machinery import errors

log = logging.getLogger(__name__)
router = APIRouter()

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
             "channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3
CHUNK = 32 * 1024


def choose_protocol(offered: list[str]) -> str | None:
    """Our most preferred protocol among the offered ones."""
    for proto in PROTOCOLS:
        if proto in offered:
            return proto
    return None


def exit_status(exit_code: int, command: list[str]) -> dict[str, Any]:
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"{command}, exit code {exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}


def error_status(err: errors.ApiError) -> dict[str, Any]:
    status = err.to_status()
    return {k: v for k, v in status.items() if k not in ("kind", "apiVersion")} | {"metadata": {}}


async def _run(ws: WebSocket, ns: str, name: str, command: list[str], container: str | None,
               timeout_s: float) -> dict[str, Any]:
    """Run the command on the pod's kubelet; returns its JSON answer (raises ApiError)."""
    req = cast(Request, ws)  # the proxy helpers only use .app, which a WebSocket has too
    pod = await kubelet_proxy._pod(req, ns, name)
    cname = kubelet_proxy._container(pod, container)
    base = await kubelet_proxy._kubelet_url(req, pod)
    try:
        async with httpx.AsyncClient(timeout=timeout_s + 10, trust_env=False) as http:
            resp = await http.post(f"{base}/exec/{ns}/{name}/{cname}",
                                   params={"command": command, "timeoutSeconds": timeout_s})
    except httpx.HTTPError as exc:
        raise kubelet_proxy._unreachable(base, exc) from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict):
        if isinstance(body, dict) and body.get("kind") == "Status":
            raise errors.error_from_status(body, resp.status_code)
        raise errors.InternalError(f"kubelet exec failed with HTTP {resp.status_code}: {resp.text[:200]}")
    return body


async def _send(ws: WebSocket, channel: int, data: bytes) -> None:
    for i in range(0, len(data), CHUNK):
        await ws.send_bytes(bytes([channel]) + data[i:i + CHUNK])


@router.websocket("/api/v1/namespaces/{ns}/pods/{name}/exec")
async def pod_exec_ws(ws: WebSocket, ns: str, name: str) -> None:
    proto = choose_protocol(list(ws.scope.get("subprotocols") or []))
    await ws.accept(subprotocol=proto)
    q = ws.query_params
    command = q.getlist("command")
    try:
        if not command:
            raise errors.BadRequest("you must specify at least 1 command")
        timeout_s = float(q.get("timeoutSeconds") or 300)
        result = await _run(ws, ns, name, command, q.get("container") or None, timeout_s)
        if q.get("stdout", "true").lower() in ("1", "true"):
            await _send(ws, STDOUT, str(result.get("stdout") or "").encode())
        if q.get("stderr", "true").lower() in ("1", "true"):
            await _send(ws, STDERR, str(result.get("stderr") or "").encode())
        status = exit_status(int(result.get("exitCode") or 0), command)
    except errors.ApiError as err:
        status = error_status(err)
    except WebSocketDisconnect:
        return
    except Exception as exc:  # never a traceback to the client: a Status saying what broke
        log.exception("exec in %s/%s failed", ns, name)
        status = error_status(errors.InternalError(f"exec failed: {type(exc).__name__}: {exc}"))
    try:
        await _send(ws, ERROR, json.dumps(status).encode())
        await ws.close(code=1000)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client left first
