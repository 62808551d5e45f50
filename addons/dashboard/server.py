"""The dashboard's HTTP backend: static UI, an API proxy with the dashboard's identity, and
server-sent event streams of watches and log tails.

Contract (`create_app(client, history)`; `client` is a machinery ApiClient):
- `GET /` the single-page UI; `GET /static/NAME` its files (addons/dashboard/static).
- `/api/...` and `/apis/...`: any method relayed to the API server (as `kubectl proxy` does,
  with the dashboard's kubeconfig identity); errors come back as the API server's Status.
  Requests that change something (not GET) need the header `X-Kubelite-Dashboard: 1`, which a
  cross-site form or image cannot send (CSRF), and every request must name a loopback Host
  (DNS rebinding), as kubectl proxy's --accept-hosts default.
- `GET /watch?w=NAME|PATH|RV&w=...`: ONE event stream for several watches of the API server (a
  browser holds only six connections per host), one `data: {"res": NAME, "event": {type,
  object}}` per change; each watch resumes from its last resourceVersion when the API server
  ends it; `event: relist` (data NAME) when one expired (410) or failed, then the stream stops.
- `GET /tail?namespace=&pod=&container=&tailLines=`: an event stream of the container's log
  lines (pods/NAME/log?follow=true), one `data:` line per log line; `event: end` when the
  log ends.
- `GET /history?kind=pod|node&namespace=&name=`: chart points (addons/dashboard/metrics.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from addons.dashboard.metrics import History
from machinery import errors

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def _status(exc: errors.ApiError) -> JSONResponse:
    return JSONResponse(exc.to_status(), status_code=exc.code)


def host_allowed(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in LOOPBACK_HOSTS


def _sse(data: str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + "".join(f"data: {ln}\n" for ln in data.split("\n")) + "\n").encode()


class LoopbackOnly:
    """ASGI middleware: answer only requests whose Host is a loopback name (DNS rebinding)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not host_allowed(host):
                await _status(errors.Forbidden("the dashboard answers only to a loopback Host"))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(client: Any, history: History) -> Starlette:  # noqa: C901 - one route table, read in one place
    async def index(_request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            return _status(errors.NotFound(f"no static file {name!r}"))
        return FileResponse(path, media_type=_STATIC_TYPES.get(path.suffix, "application/octet-stream"))

    async def proxy(request: Request) -> Response:
        if request.method != "GET" and request.headers.get("x-kubelite-dashboard") != "1":
            return _status(errors.Forbidden("changes need the X-Kubelite-Dashboard header"))
        headers = {}
        if "content-type" in request.headers:
            headers["Content-Type"] = request.headers["content-type"]
        body = await request.body()
        try:
            result = await client.request(request.method, request.url.path,
                                          params=dict(request.query_params) or None,
                                          content=body or None, headers=headers)
        except errors.ApiError as exc:
            return _status(exc)
        if isinstance(result, str):
            return Response(result, media_type="text/plain")
        return JSONResponse(result)

    async def watch_one(name: str, path: str, rv: str, out: asyncio.Queue[tuple[str, str]]) -> None:
        """Relay one watch into `out` as (name, event line); ("relist", name) when it cannot go on."""
        while True:
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "240"}
            try:
                async for line in client.stream_lines(path, params=params, timeout_s=240):
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    if ev.get("type") == "ERROR":
                        await out.put(("relist", name))
                        return
                    rv = ((ev.get("object") or {}).get("metadata") or {}).get("resourceVersion") or rv
                    if ev.get("type") != "BOOKMARK":
                        await out.put((name, line))
            except errors.ApiError:
                await out.put(("relist", name))
                return

    async def watch(request: Request) -> Response:
        specs = []
        for spec in request.query_params.getlist("w"):
            name, _, rest = spec.partition("|")
            path, _, rv = rest.partition("|")
            if not name or not path.startswith(("/api/", "/apis/")):
                return _status(errors.BadRequest(f"w: want NAME|API_PATH|RESOURCE_VERSION, got {spec!r}"))
            specs.append((name, path, rv))
        if not specs:
            return _status(errors.BadRequest("w: at least one watch is required"))

        async def events() -> AsyncIterator[bytes]:
            out: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
            tasks = [asyncio.create_task(watch_one(n, p, rv, out)) for n, p, rv in specs]
            try:
                yield b": connected\n\n"
                while True:
                    name, line = await out.get()
                    if name == "relist":
                        yield _sse(line, "relist")
                        return
                    yield _sse(f'{{"res": {json.dumps(name)}, "event": {line}}}')
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def tail(request: Request) -> Response:
        q = request.query_params
        ns, pod = q.get("namespace", ""), q.get("pod", "")
        if not ns or not pod:
            return _status(errors.BadRequest("namespace and pod are required"))
        params: dict[str, Any] = {"follow": "true", "tailLines": q.get("tailLines", "200")}
        if q.get("container"):
            params["container"] = q["container"]

        async def lines() -> AsyncIterator[bytes]:
            yield b": connected\n\n"
            try:
                async for line in client.stream_lines(f"/api/v1/namespaces/{ns}/pods/{pod}/log", params=params):
                    yield _sse(line)
            except errors.ApiError as exc:
                yield _sse(exc.message, "failed")
                return
            yield _sse("", "end")

        return StreamingResponse(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def chart(request: Request) -> Response:
        q = request.query_params
        kind = q.get("kind", "pod")
        if kind not in ("pod", "node") or not q.get("name") or (kind == "pod" and not q.get("namespace")):
            return _status(errors.BadRequest("want kind=pod&namespace=NS&name=N or kind=node&name=N"))
        return JSONResponse(await history.points(kind, q.get("namespace", ""), q["name"]))

    routes = [Route("/", index), Route("/static/{name}", static), Route("/watch", watch), Route("/tail", tail),
              Route("/history", chart),
              Route("/api/{rest:path}", proxy, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
              Route("/apis/{rest:path}", proxy, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
    return Starlette(routes=routes, middleware=[Middleware(LoopbackOnly)])
