"""Decoding of a Kubernetes watch stream: newline-delimited JSON events.

Contract:
- `WatchEvent(type, object, raw)`: `type` is ADDED, MODIFIED, DELETED or BOOKMARK; `object`
  is the typed model (`cls.model_validate(raw["object"])`); `raw` the event dict as received.
- A BOOKMARK's object carries only `metadata.resourceVersion` (that is all the server
  promises to fill in), so it is built without validating the rest of the model.
- An ERROR event raises: a 410 Status (reason `Expired` or `Gone`) raises `errors.Expired`
  (the caller relists), anything else `errors.error_from_status(status)`.
- A line that is not a JSON event means the stream was cut or garbled: it raises
  `errors.ConnectionFailed`, which callers treat like a dropped connection (resume from the
  last resourceVersion they saw).

Splitting the byte stream into lines (including lines split across chunks) is done by
httpx's `Response.aiter_lines()`; this module only sees whole lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from machinery import errors
from machinery.meta import ObjectMeta, Resource

T = TypeVar("T", bound=Resource)

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})


@dataclass
class WatchEvent(Generic[T]):
    """One event of a watch stream."""

    type: str
    object: T
    raw: dict[str, Any] = field(default_factory=dict)


def bookmark_object(cls: type[T], obj: dict[str, Any]) -> T:
    """A model holding only the bookmark's resourceVersion (and apiVersion/kind defaults)."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    rv = str((meta or {}).get("resourceVersion") or "")
    # model_construct skips validation: kinds with required spec fields (e.g. Binding.target)
    # must still yield a bookmark object.
    model = cls.model_construct(metadata=ObjectMeta(resourceVersion=rv or None))
    if not model.apiVersion:
        model.apiVersion = cls.api_version()
    if not model.kind:
        model.kind = cls.KIND
    return model


def error_from_event(obj: Any) -> errors.ApiError:
    """The exception an ERROR event stands for (410 -> Expired, whatever its reason)."""
    if not isinstance(obj, dict):
        return errors.InternalError(f"watch ERROR event without a Status: {obj!r}")
    code = int(obj.get("code") or 0)
    if code == 410 or obj.get("reason") in ("Expired", "Gone"):
        details = obj.get("details") or {}
        return errors.Expired(
            str(obj.get("message") or "resourceVersion too old"),
            name=details.get("name"), kind=details.get("kind"), status=obj,
        )
    return errors.error_from_status(obj, code or None)


def parse_event(line: str | bytes, cls: type[T]) -> WatchEvent[T] | None:
    """Decode one line. Blank lines (keep-alives) give None; ERROR events raise."""
    text = line.decode() if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise errors.ConnectionFailed(f"watch stream broken: undecodable line {text[:200]!r}") from exc
    if not isinstance(raw, dict) or raw.get("type") not in EVENT_TYPES:
        raise errors.ConnectionFailed(f"watch stream broken: not a watch event: {text[:200]!r}")
    etype: str = raw["type"]
    obj = raw.get("object")
    if etype == "ERROR":
        raise error_from_event(obj)
    if not isinstance(obj, dict):
        raise errors.ConnectionFailed(f"watch stream broken: {etype} event without an object")
    if etype == "BOOKMARK":
        return WatchEvent(type=etype, object=bookmark_object(cls, obj), raw=raw)
    try:
        model = cls.model_validate(obj)
    except ValidationError as exc:
        # The server sent an object our model rejects: a server/client version skew, not
        # something a retry fixes quickly; name it clearly instead of a pydantic trace.
        raise errors.InternalError(f"watch {etype} object is not a valid {cls.KIND or cls.__name__}: {exc}") \
            from exc
    return WatchEvent(type=etype, object=model, raw=raw)

