"""A direct ASGI path to the resource API, past FastAPI's middleware stack and route scan.

Why: every request to `/api/...` and `/apis/...` crossed six middlewares (error, telemetry,
body limit, exceptions, exit stack) and a linear scan of every route before reaching the
one handler that serves it: about a tenth of the server's CPU per create or binding.

Contract: `FastPath(app, handlers, earlier_routes)`, with `handlers` mapping the path prefixes
"/api/" and "/apis/" to the resource handlers (`ApiRoutes.core`, `ApiRoutes.grouped`) and
`earlier_routes` the routes the app tries before them. `await fast.handle(scope, receive,
send) -> bool` serves an HTTP request with one of `METHODS` under those prefixes and returns
True; anything else (other scopes and methods, a root_path, a path one of `earlier_routes`
matches even partially, e.g. pods/log of the kubelet proxy) returns False untouched, for
the full app. Answers are the full app's: the handler's response; an exception goes to the
app's own exception handlers (an ApiError becomes its Status); an unexpected one gets the
app's 500 Status and is then re-raised, as Starlette's ServerErrorMiddleware does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from apiserver.responses import error_response, internal_error

Handler = Callable[[Request], Awaitable[Response]]
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class FastPath:
    def __init__(self, app: Starlette, handlers: Mapping[str, Handler],
                 earlier_routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.earlier_routes = list(earlier_routes)

    def _handler(self, scope: Scope) -> tuple[Handler, str] | None:
        if scope["type"] != "http" or scope["method"] not in METHODS or scope.get("root_path"):
            return None
        path: str = scope["path"]
        prefix = next((p for p in self.handlers if path.startswith(p)), None)
        if prefix is None:
            return None
        for route in self.earlier_routes:
            if route.matches(scope)[0] != Match.NONE:
                return None
        return self.handlers[prefix], path[len(prefix):]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        found = self._handler(scope)
        if found is None:
            return False
        handler, rest = found
        # What Starlette's app and Route("/api/{path:path}") would have put in the scope.
        scope["app"] = self.app
        scope["path_params"] = {"path": rest}
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except Exception as exc:
            on_error = self._exception_handler(exc)
            if on_error is None:  # the 500 path: answer a Status, then let the server log it
                await error_response(internal_error(exc, f"{scope['method']} {scope['path']}"))(
                    scope, receive, send)
                raise
            response = await on_error(request, exc)
        await response(scope, receive, send)
        return True

    def _exception_handler(self, exc: Exception) -> Callable[[Request, Exception], Awaitable[Any]] | None:
        """The app's handler for `exc` (None: the catch-all Exception/500 one)."""
        handlers = self.app.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                return handlers[cls]  # type: ignore[return-value]
        return None
