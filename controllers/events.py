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
- `background=True` (the controller-manager's setting): `event()` only queues the event and
  returns at once; one sender task posts queued events in order. A ReplicaSet creating 100 pods
  must not wait for 100 Event writes between its pod creates (Kubernetes' recorder is async too).
  At most `max_pending` events wait; beyond that new ones are dropped with a counted warning.
  `await flush()` waits until every queued event was sent (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
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
                 instance: str = "", aggregate_window_s: float = 600.0, background: bool = False,
                 max_pending: int = 10_000) -> None:
        self.client = client
        self.background = background
        self.max_pending = max_pending
        self.dropped = 0
        self._queue: asyncio.Queue[tuple[Resource, str, str, str]] | None = None
        self._sender: asyncio.Task[None] | None = None
        self.component = component
        self.instance = instance or component
        self.aggregate_window_s = aggregate_window_s
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}

    async def event(self, obj: Resource, type_: str, reason: str, message: str) -> None:
        if not self.background:
            await self._send(obj, type_, reason, message)
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop(self._queue), name="event-recorder")
        if self._queue.qsize() >= self.max_pending:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("event backlog full (%d): %d event(s) dropped so far", self.max_pending, self.dropped)
            return
        self._queue.put_nowait((obj, type_, reason, message))

    async def flush(self) -> None:
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender

    async def _send_loop(self, queue: asyncio.Queue[tuple[Resource, str, str, str]]) -> None:
        while True:
            item = await queue.get()
            try:
                await self._send(*item)
            finally:
                queue.task_done()

    async def _send(self, obj: Resource, type_: str, reason: str, message: str) -> None:
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
