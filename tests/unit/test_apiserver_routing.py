"""apiserver.routing.Dispatcher: plain routes are called directly; its cache of matches gives
each request its own path_params and sees routes added to the table later."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apiserver.routing import Dispatcher


async def echo(request: Request) -> Response:
    return JSONResponse(dict(request.path_params))


async def other(request: Request) -> Response:
    return JSONResponse({"other": True})


def scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
            "headers": []}


async def call(d: Dispatcher, method: str, path: str) -> tuple[bool, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    handled = await d.handle(scope(method, path), receive, send)
    return handled, b"".join(m.get("body", b"") for m in sent)


async def test_repeated_paths_get_their_own_params_and_new_routes_are_seen() -> None:
    app = Starlette(routes=[Route("/api/{name}", echo, methods=["GET", "POST"])])
    d = Dispatcher(app)
    for _ in range(3):  # the second and third come from the cache
        assert await call(d, "POST", "/api/a") == (True, b'{"name":"a"}')
        assert await call(d, "GET", "/api/b") == (True, b'{"name":"b"}')
    first, _ = d._route(scope("GET", "/api/a")) or (None, {})
    _, child1 = d._route(scope("GET", "/api/a")) or (None, {})
    _, child2 = d._route(scope("GET", "/api/a")) or (None, {})
    assert first is not None
    assert child1["path_params"] == child2["path_params"] == {"name": "a"}
    assert child1["path_params"] is not child2["path_params"]  # a handler may change its own
    assert await call(d, "GET", "/nowhere") == (False, b"")  # FastAPI's stack answers 404
    assert await call(d, "DELETE", "/api/a") == (False, b"")  # ... and 405
    app.router.routes.append(Route("/nowhere", other, methods=["GET"]))
    assert await call(d, "GET", "/nowhere") == (True, b'{"other":true}')
