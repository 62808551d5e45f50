"""API errors: one exception class per Kubernetes Status reason.

Both sides use these: the API server raises them and renders them as `Status` objects; the
client parses a `Status` the server returned and raises the matching class. Temporary errors
(the ones a retry can fix: 429, 5xx, lost connections) derive from `TemporaryError` so that
retry loops can tell them apart from permanent ones: `is_temporary(exc)`, `is_permanent(exc)`
(`PERMANENT_ERRORS`: BadRequest, Forbidden, Invalid, MethodNotAllowed, NotAcceptable,
RequestEntityTooLarge, UnsupportedMediaType). Conflict, NotFound, AlreadyExists are neither:
they mean the caller's view is stale, and a retry from fresh state is the answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

_CAUSE_ORDER = ("reason", "message", "field")


def _cause_in_order(cause: dict[str, str]) -> dict[str, str]:
    """A StatusCause with Kubernetes' key order (reason, message, field), other keys after."""
    out = {k: cause[k] for k in _CAUSE_ORDER if k in cause}
    out.update((k, v) for k, v in cause.items() if k not in out)
    return out


class ApiError(Exception):
    """An error the API answers with a `Status` object."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        group: str | None = None,
        causes: list[dict[str, str]] | None = None,
        retry_after_s: float | None = None,
        status: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.kind = kind
        self.group = group
        self.causes = causes or []
        self.retry_after_s = retry_after_s
        self._status = status

    def to_status(self) -> dict[str, Any]:
        """The Kubernetes `Status` object for this error."""
        if self._status is not None:
            return self._status
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [_cause_in_order(c) for c in self.causes]
        if self.retry_after_s is not None:
            details["retryAfterSeconds"] = int(self.retry_after_s)
        # Kubernetes' key order (metav1.Status field order): clients compare bodies as text.
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if details:
            status["details"] = details
        status["code"] = self.code
        return status

    def __str__(self) -> str:
        return self.message


class TemporaryError(ApiError):
    """An error that a retry with backoff may fix."""


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(ApiError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class Gone(ApiError):
    code = 410
    reason = "Gone"


class Expired(ApiError):
    """The requested resourceVersion is older than what the server keeps: relist."""

    code = 410
    reason = "Expired"


class RequestEntityTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    """422: one cause per bad field, `{"type"/"reason", "field", "message"}`."""

    code = 422
    reason = "Invalid"


class TooManyRequests(TemporaryError):
    code = 429
    reason = "TooManyRequests"


class InternalError(TemporaryError):
    code = 500
    reason = "InternalError"


class ServiceUnavailable(TemporaryError):
    code = 503
    reason = "ServiceUnavailable"


class Timeout(TemporaryError):
    code = 504
    reason = "Timeout"


class ServerTimeout(TemporaryError):
    code = 500
    reason = "ServerTimeout"


class ConnectionFailed(TemporaryError):
    """The server could not be reached at all (no Status was returned)."""

    code = 0
    reason = "ConnectionFailed"


class ConnectionTimeout(ConnectionFailed):
    """The server took the connection (or the request) but did not answer in time."""


_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
        AlreadyExists, Conflict, Gone, Expired, RequestEntityTooLarge, UnsupportedMediaType,
        Invalid, TooManyRequests, InternalError, ServiceUnavailable, Timeout, ServerTimeout,
    )
}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    406: NotAcceptable, 409: Conflict, 410: Gone, 413: RequestEntityTooLarge,
    415: UnsupportedMediaType, 422: Invalid, 429: TooManyRequests, 500: InternalError,
    503: ServiceUnavailable, 504: Timeout,
}


def error_from_status(status: dict[str, Any], http_code: int | None = None) -> ApiError:
    """Build the exception matching a `Status` object (by reason, else by code)."""
    reason = str(status.get("reason") or "")
    code = int(status.get("code") or http_code or 500)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        cls = TemporaryError if code >= 500 else ApiError
    details = status.get("details") or {}
    retry = details.get("retryAfterSeconds")
    err = cls(
        str(status.get("message") or reason or f"HTTP {code}"),
        name=details.get("name"),
        kind=details.get("kind"),
        group=details.get("group"),
        causes=details.get("causes"),
        retry_after_s=float(retry) if retry is not None else None,
        status=status,
    )
    return err


PERMANENT_ERRORS: tuple[type[ApiError], ...] = (
    BadRequest, Forbidden, Invalid, MethodNotAllowed, NotAcceptable, RequestEntityTooLarge, UnsupportedMediaType,
)
"""Answers that the same request will get again: retrying cannot fix them, a change can."""


NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
"""The cause type of a Forbidden create in a namespace being deleted (v1.NamespaceTerminatingCause)."""


def has_cause(exc: BaseException, cause_type: str) -> bool:
    """True when the error's Status carries a cause of that type (apierrors.HasStatusCause; a
    StatusCause's type is its `reason` on the wire)."""
    return isinstance(exc, ApiError) and any(c.get("reason") == cause_type for c in exc.causes)


def is_permanent(exc: BaseException) -> bool:
    """True for errors a retry of the same request cannot fix (Invalid, Forbidden, BadRequest...)."""
    return isinstance(exc, PERMANENT_ERRORS)


def is_temporary(exc: BaseException) -> bool:
    """True for errors a later retry may fix: 429, 5xx, a server that did not answer."""
    return isinstance(exc, TemporaryError | ConnectionError | TimeoutError)
