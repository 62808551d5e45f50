"""The API server's one routing table, and how a request is dispatched from it.

Why: a request through FastAPI crosses six middlewares (error, telemetry, body limit,
exceptions, exit stack) before its route runs: about a tenth of the server's CPU per create or
binding. Plain routes (an endpoint `Request -> Response`: the whole resource API, discovery,
OpenAPI, health) do not need any of it.

Contract:
- `app.router.routes` is the table: an ordered list of Starlette routes, first full match
  wins, as Starlette matches. create_app builds it in this order: OpenAPI, docs, health,
  version, the WebSocket exec route, the extra routers (kubelet proxy: pods/log, pods/exec),
  then the resource API (`ApiRoutes.routes()`: `/api`, `/apis`, `/api/{path}`,
  `/apis/{path}`), so the specific routes win over the generic resource paths.
- `Dispatcher(app).handle(scope, receive, send) -> bool`: for an HTTP request with a method
  in `METHODS` and no root_path, finds its route in that same table; when it is a plain
  `starlette.routing.Route`, calls the endpoint directly and returns True. An exception
  becomes its answer through `responses.exception_response`, the function FastAPI's handlers
  also call (see responses.py). Anything else (WebSocket and lifespan scopes, HEAD/OPTIONS,
  FastAPI routes with parameter parsing, no full match -> 404/405) returns False untouched,
  and the app runs it through FastAPI's stack, over the same table.
Routes added after create_app are seen by both ways (the table is the app's own list; the
dispatcher's cache of matches is emptied when its length changes).
"""

from __future__ import annotations

import inspect

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from apiserver.responses import exception_response

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
CACHE_SIZE = 4096


class Dispatcher:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        # (method, path) -> the plain route and its child scope: a route's match depends on
        # nothing else (no root_path here), and the same collection path is matched for every
        # create (the table's regexes were 3% of the server's CPU per create). Emptied when the
        # table changes size (routes added after create_app) or holds CACHE_SIZE entries.
        self._cache: dict[tuple[str, str], tuple[Route, Scope]] = {}
        self._cached_for = -1

    def _route(self, scope: Scope) -> tuple[Route, Scope] | None:
        if scope["type"] != "http" or scope["method"] not in METHODS or scope.get("root_path"):
            return None
        routes = self.app.router.routes
        key = (scope["method"], scope["path"])
        if self._cached_for != len(routes) or len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
            self._cached_for = len(routes)
        hit = self._cache.get(key)
        if hit is not None:
            route, child = hit
            return route, {**child, "path_params": dict(child.get("path_params") or {})}
        found = self._match(scope)
        if found is not None:
            self._cache[key] = found
            return found[0], {**found[1], "path_params": dict(found[1].get("path_params") or {})}
        return None

    def _match(self, scope: Scope) -> tuple[Route, Scope] | None:
        for route in self.app.router.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                # Only plain routes: FastAPI's APIRoute (a Route subclass) parses parameters
                # and needs its own stack.
                if not isinstance(route, Route) or type(route) is not Route:
                    return None
                plain = route.app is not route.endpoint and (
                    inspect.isfunction(route.endpoint) or inspect.ismethod(route.endpoint))
                return (route, child) if plain else None
            if match == Match.PARTIAL:
                return None  # wrong method: FastAPI answers the 405
        return None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        found = self._route(scope)
        if found is None:
            return False
        route, child = found
        scope.update(child)
        scope["app"] = self.app  # what Starlette's app would have put in the scope
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:  # noqa: BLE001 - reported, never raised past this point
            response = exception_response(exc, scope["method"], scope["path"])
        await response(scope, receive, send)
        return True
