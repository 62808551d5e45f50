"""Rendering answers: JSON objects, `Status` objects, and the one place exceptions become answers.

Contract: every error leaves the server as a Kubernetes `Status` JSON with the matching HTTP
code, never HTML or a traceback: `ApiError`s render `to_status()`, unknown routes 404, wrong
methods 405, FastAPI's request validation 400, anything unexpected 500 with a short message.
`exception_response(exc, method, path)` is that mapping; both ways a route runs (the direct
dispatch of apiserver/routing.py and FastAPI's exception handlers, `install_error_handlers`)
call it, so an error gets the same answer whichever way it came.
- A 500 carries `Connection: close` (the server may be in a bad state for this connection;
  the client learns it now instead of from a reset on its next request), and its traceback
  is logged once, cut to the innermost `TRACEBACK_FRAMES` frames.
- Each request rejected as invalid (400, 403, 405, 413, 415, 422) is logged in one line of at
  most ~`LOG_LINE_CHARS` characters: method, path, code, reason, message. 404/409/410 are
  ordinary outcomes of a working cluster (existence checks, optimistic concurrency, relists)
  and are not logged.
- `dumps` never fails on what a handler returns: text Python cannot encode as UTF-8 (lone
  surrogates) is replaced.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from apiserver import jsonfast
from machinery import errors

log = logging.getLogger(__name__)

JSON = "application/json"


def dumps(obj: Any) -> bytes:
    return jsonfast.dumps(obj)  # orjson when installed: JSON encoding is a hot path


def json_response(obj: Any, status_code: int = 200) -> Response:
    return Response(dumps(obj), status_code=status_code, media_type=JSON)


TRACEBACK_FRAMES = 12
LOG_LINE_CHARS = 500
_LOGGED_CODES = frozenset({400, 403, 405, 413, 415, 422})


def error_response(err: errors.ApiError) -> Response:
    headers = {}
    if err.retry_after_s is not None:
        headers["Retry-After"] = str(max(int(err.retry_after_s), 1))
    code = err.code if 100 <= err.code <= 599 else 500
    if code == 500:
        headers["Connection"] = "close"
    return Response(dumps(err.to_status()), status_code=code, media_type=JSON, headers=headers)


def success_status(*, name: str | None = None, kind: str | None = None, group: str | None = None,
                   uid: str | None = None, code: int = 200) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name is not None:
        details["name"] = name
    if group:
        details["group"] = group
    if kind is not None:
        details["kind"] = kind
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details, "code": code}


def _short(text: object, limit: int) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit] + "..."


def internal_error(exc: BaseException, what: str = "") -> errors.InternalError:
    """Log an unexpected exception once (a bounded traceback) and give the 500 to answer."""
    frames = "".join(traceback.format_tb(exc.__traceback__, limit=-TRACEBACK_FRAMES))
    log.error("unexpected error%s: %s: %s\n%s", f" in {_short(what, 200)}" if what else "",
              type(exc).__name__, _short(exc, 300), frames)
    return errors.InternalError(f"Internal error occurred: {type(exc).__name__}: {_short(exc, 200)}")


def log_rejected(method: str, path: str, err: errors.ApiError) -> None:
    """One line per request rejected as invalid (see module doc)."""
    if err.code in _LOGGED_CODES:
        log.info("rejected %s %s: %d %s: %s", method, _short(path, 150), err.code, err.reason,
                 _short(err.message, LOG_LINE_CHARS - 200))


def exception_response(exc: Exception, method: str, path: str) -> Response:
    """The answer to a request whose handler raised `exc` (see module doc)."""
    if isinstance(exc, errors.ApiError):
        err = exc
    elif isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            err = errors.NotFound("the server could not find the requested resource")
        elif exc.status_code == 405:
            err = errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        else:
            err = _HTTP_ERRORS.get(exc.status_code, errors.InternalError)(_short(exc.detail, 300))
    elif isinstance(exc, RequestValidationError):
        causes = [
            {"reason": "FieldValueInvalid",
             "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
             "message": _short(e.get("msg", ""), 200)}
            for e in exc.errors()
        ]
        err = errors.BadRequest("the request is invalid", causes=causes)
    else:
        err = internal_error(exc, f"{method} {path}")
    log_rejected(method, path, err)
    return error_response(err)


_HTTP_ERRORS: dict[int, type[errors.ApiError]] = {
    400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
    405: errors.MethodNotAllowed, 409: errors.Conflict, 413: errors.RequestEntityTooLarge,
    415: errors.UnsupportedMediaType, 422: errors.Invalid, 429: errors.TooManyRequests,
    503: errors.ServiceUnavailable,
}


def install_error_handlers(app: FastAPI) -> None:
    """Route FastAPI's exception handling (ExceptionMiddleware, ServerErrorMiddleware) to
    `exception_response`."""
    async def handler(request: Request, exc: Exception) -> Response:
        return exception_response(exc, request.method, request.url.path)

    for cls in (errors.ApiError, StarletteHTTPException, RequestValidationError, Exception):
        app.add_exception_handler(cls, handler)
