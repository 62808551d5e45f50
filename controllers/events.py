"""EventRecorder: core/v1 Events for what controllers do, with repeats folded into a count.

Contract:
- `await recorder.event(obj, type_, reason, message)` posts an Event whose involvedObject is
  `obj` (kind, apiVersion, namespace, name, uid, resourceVersion) in the object's namespace
  ("default" for cluster-scoped objects), `source.component`/`reportingComponent` = the
  recorder's component. It never raises: events are best-effort (as in Kubernetes), a failure
  is logged and the controller carries on with its real work.
- A repeat of the same (object uid, type, reason, message) seen by this recorder within
  `aggregate_window_s` patches the existing Event (count + 1, lastTimestamp) instead of
  creating a new object, so a controller retrying every few seconds does not flood the API.
  If that Event is gone (404), a fresh one is created.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from machinery import errors
from machinery.meta import Resource, now_rfc3339
from machinery.models import Event

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"


@dataclass
class _Seen:
    namespace: str
    name: str
    count: int
    at: float


class EventRecorder:
    """See module docstring. One per controller-manager process."""

    def __init__(self, client: Any, *, component: str = "controller-manager",
                 instance: str = "", aggregate_window_s: float = 600.0) -> None:
        self.client = client
        self.component = component
        self.instance = instance or component
        self.aggregate_window_s = aggregate_window_s
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}

    async def event(self, obj: Resource, type_: str, reason: str, message: str) -> None:
        try:
            await self._record(obj, type_, reason, message)
        except Exception as exc:  # best-effort by contract: never fail the caller's sync
            log.warning("event %s %s for %s %s not recorded: %s", type_, reason, obj.KIND, obj.key, exc)

    async def _record(self, obj: Resource, type_: str, reason: str, message: str) -> None:
        key = (obj.uid or obj.key, type_, reason, message)
        now = time.monotonic()
        seen = self._seen.get(key)
        stamp = now_rfc3339()
        if seen is not None and now - seen.at < self.aggregate_window_s:
            try:
                await self.client.patch(Event, seen.name, {"count": seen.count + 1, "lastTimestamp": stamp},
                                        namespace=seen.namespace)
                seen.count += 1
                seen.at = now
                return
            except errors.NotFound:
                pass  # expired or deleted: create a new one below
        namespace = obj.namespace or "default"
        name = f"{obj.name}.{uuid.uuid4().hex[:16]}"
        body = Event.from_dict({
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": obj.KIND, "apiVersion": obj.api_version(), "namespace": obj.namespace,
                               "name": obj.name, "uid": obj.uid or None,
                               "resourceVersion": obj.resource_version or None},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": stamp, "lastTimestamp": stamp,
            "source": {"component": self.component},
            "reportingComponent": self.component, "reportingInstance": self.instance,
        })
        await self.client.create(body, namespace=namespace)
        self._seen[key] = _Seen(namespace=namespace, name=name, count=1, at=now)
        if len(self._seen) > 4096:  # bound memory: forget the oldest half
            for k, _ in sorted(self._seen.items(), key=lambda kv: kv[1].at)[:2048]:
                self._seen.pop(k, None)
