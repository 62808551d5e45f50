"""Rendering answers: JSON objects, `Status` objects, and the app-wide exception handlers.

Contract: every error leaves the server as a Kubernetes `Status` JSON with the matching HTTP
code, never HTML or a traceback: `ApiError`s render `to_status()`, unknown routes 404, wrong
methods 405, FastAPI's request validation 400, anything unexpected 500 with a short message
(the traceback goes to the log). `install_error_handlers(app)` wires that up.
"""

from __future__ import annotations

import logging
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


def error_response(err: errors.ApiError) -> Response:
    headers = {}
    if err.retry_after_s is not None:
        headers["Retry-After"] = str(max(int(err.retry_after_s), 1))
    code = err.code if 100 <= err.code <= 599 else 500
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


def internal_error(exc: BaseException, what: str = "") -> errors.InternalError:
    log.exception("unexpected error%s", f" in {what}" if what else "", exc_info=exc)
    return errors.InternalError(f"Internal error occurred: {type(exc).__name__}: {exc}"[:300])


_HTTP_ERRORS: dict[int, type[errors.ApiError]] = {
    400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
    405: errors.MethodNotAllowed, 409: errors.Conflict, 413: errors.RequestEntityTooLarge,
    415: errors.UnsupportedMediaType, 422: errors.Invalid, 429: errors.TooManyRequests,
    503: errors.ServiceUnavailable,
}


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.ApiError)
        return error_response(exc)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(errors.NotFound("the server could not find the requested resource"))
        if exc.status_code == 405:
            return error_response(errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"))
        cls = _HTTP_ERRORS.get(exc.status_code, errors.InternalError)
        return error_response(cls(str(exc.detail)))

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        causes = [
            {"reason": "FieldValueInvalid",
             "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
             "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return error_response(errors.BadRequest("the request is invalid", causes=causes))

    async def unexpected(request: Request, exc: Exception) -> Response:
        return error_response(internal_error(exc, f"{request.method} {request.url.path}"))

    app.add_exception_handler(errors.ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
