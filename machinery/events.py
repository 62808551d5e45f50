"""EventRecorder: the one way every component writes core/v1 Events.

Contract (client-go's `tools/record` broadcaster + EventCorrelator, simplified):
- `await recorder.event(obj, type_, reason, message, action="")` (controllers, kubelet) and
  `recorder.record(...)` (same arguments, synchronous: the scheduler's hot path) report what a
  component did to `obj`: a `Resource`, or an `ObjectRef` when the caller holds no model (the
  scheduler's PodInfo). The Event's involvedObject names it (kind, apiVersion, namespace, name,
  uid, resourceVersion, fieldPath for a container); it lives in the object's namespace
  ("default" for cluster-scoped objects); `source.component` / `reportingComponent` are the
  recorder's component, `reportingInstance` its instance, `source.host` its `host` (the
  kubelet's node). With an `action` (the scheduler's "Scheduling"/"Binding", as events.k8s.io
  writes it) the Event also carries `action` and a microsecond `eventTime`.
- Best-effort, as in Kubernetes: recording never raises into the caller. A failed write is
  logged and forgotten; the component carries on with its real work.
- Aggregation: a repeat of the same (object uid, fieldPath, type, reason, message) within
  `aggregate_window_s` of the last one patches the existing Event (count + 1, lastTimestamp)
  instead of creating another object, so a controller retrying every few seconds or a pod
  retried by the scheduler every 10 s does not flood the API. If that Event is gone (404) a
  fresh one is created. At most `max_remembered` series are remembered (least recently used
  forgotten first); `forget(uid)` drops an object's series when the object is deleted.
- Background sending (`background=True`, the default; every daemon uses it): `event()` and
  `record()` only queue and return at once; `senders` tasks post queued events (in order with
  one sender). A ReplicaSet creating 100 pods must not wait for 100 Event writes between its
  pod creates, and a slow API server delays events, not scheduling. At most `max_pending`
  events wait; beyond that new ones are dropped with a log line per thousand (`dropped`
  counts them). The senders start on first use or `start()`; `await flush()` waits until every
  queued event was sent (tests, shutdown); `await close()` stops the senders.
  `background=False` sends inline inside `await event()` (unit tests that want the calls at
  once); `record()` then needs a running loop and schedules the send as a task.
- The wire: `EventRecorder(sink, component=...)`; `ClientSink(client)` writes through the typed client (`create(Event)` /
  `patch(Event, ...)`); `ClientSink(client, raw=True)` posts plain JSON through
  `client.request`, skipping the model round trip (the scheduler's choice: CPU per pod).
  `ClientSink(client, qps=50, burst=100)` writes at most `qps` events per second after a burst
  (a token bucket, as client-go's rate limiter on kube-scheduler's event client: QPS 50, burst
  100 by default): under a burst the senders wait, the backlog fills and the overflow is
  dropped as above, so events never take the API server away from the real work. Any
  object with the two `EventSink` methods works, so tests may record the bodies directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from machinery import errors
from machinery.clock import REAL_CLOCK, Clock, format_micro_time, format_time
from machinery.meta import Resource
from machinery.models import Event
from machinery.workqueue import BucketRateLimiter

if TYPE_CHECKING:
    from machinery.client import KubeClient

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The involvedObject of an Event, for callers that hold no `Resource` model."""

    kind: str
    api_version: str
    namespace: str | None
    name: str
    uid: str = ""
    resource_version: str = ""
    field_path: str = ""
    """A part of the object, as the kubelet names a container: `spec.containers{app}`."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def ref_of(obj: Resource | ObjectRef) -> ObjectRef:
    if isinstance(obj, ObjectRef):
        return obj
    return ObjectRef(kind=obj.KIND, api_version=obj.api_version(), namespace=obj.namespace, name=obj.name,
                     uid=obj.uid or "", resource_version=obj.resource_version or "")


class EventSink(Protocol):
    """Where Event bodies go (the API server in production)."""

    async def create(self, namespace: str, body: dict[str, Any]) -> None: ...

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...


class ClientSink:
    """Writes Events through an API client (see module docstring for `raw` and `qps`)."""

    def __init__(self, client: KubeClient, *, raw: bool = False, qps: float | None = None, burst: int = 100) -> None:
        self.client = client
        self.raw = raw
        self._bucket = BucketRateLimiter(qps, burst) if qps else None

    async def _wait_token(self) -> None:
        if self._bucket is not None:
            delay_s = self._bucket.when("")
            if delay_s > 0:
                await asyncio.sleep(delay_s)

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        await self._wait_token()
        if self.raw:
            await self.client.request("POST", f"/api/v1/namespaces/{namespace}/events", json=body)
        else:
            await self.client.create(Event.from_dict(body), namespace=namespace)

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        await self._wait_token()
        if self.raw:
            await self.client.request("PATCH", f"/api/v1/namespaces/{namespace}/events/{name}", json=patch,
                                      headers=MERGE_PATCH)
        else:
            await self.client.patch(Event, name, patch, namespace=namespace)


@dataclass
class _Series:
    namespace: str
    name: str
    count: int
    at_s: float


_Item = tuple[ObjectRef, str, str, str, str]
_SeriesKey = tuple[str, str, str, str, str]


def event_body(ref: ObjectRef, type_: str, reason: str, message: str, *, action: str, component: str,
               instance: str, host: str = "", clock: Clock) -> dict[str, Any]:
    """A new core/v1 Event (count 1) named `<object>.<unique hex>` as Kubernetes names them."""
    now = clock.now()
    stamp = format_time(now)
    involved: dict[str, Any] = {"kind": ref.kind, "apiVersion": ref.api_version, "namespace": ref.namespace,
                                "name": ref.name, "uid": ref.uid or None,
                                "resourceVersion": ref.resource_version or None, "fieldPath": ref.field_path or None}
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{ref.name}.{uuid.uuid4().hex[:16]}", "namespace": ref.namespace or "default"},
        "involvedObject": {k: v for k, v in involved.items() if v is not None},
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": component, "host": host} if host else {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    if action:
        body["action"] = action
        body["eventTime"] = format_micro_time(now)
    return body


class EventRecorder:
    """See module docstring. One per component process."""

    def __init__(self, sink: EventSink, *, component: str, instance: str = "", host: str = "",
                 aggregate_window_s: float = 600.0, background: bool = True, max_pending: int = 10_000,
                 senders: int = 1, max_remembered: int = 4096, clock: Clock = REAL_CLOCK) -> None:
        self.sink = sink
        self.component = component
        self.instance = instance or component
        self.host = host
        self.aggregate_window_s = aggregate_window_s
        self.background = background
        self.max_pending = max_pending
        self.max_remembered = max_remembered
        self.clock = clock
        self.dropped = 0
        self._senders = senders
        self._queue: asyncio.Queue[_Item] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inline: set[asyncio.Task[None]] = set()
        self._series: OrderedDict[_SeriesKey, _Series] = OrderedDict()

    # -- the callers' API ---------------------------------------------------------------------

    async def event(self, obj: Resource | ObjectRef, type_: str, reason: str, message: str,
                    action: str = "") -> None:
        if self.background:
            self.record(obj, type_, reason, message, action)
        else:
            await self._send((ref_of(obj), type_, reason, message, action))

    def record(self, obj: Resource | ObjectRef, type_: str, reason: str, message: str, action: str = "") -> None:
        """Queue an event without waiting (never raises)."""
        item = (ref_of(obj), type_, reason, message, action)
        if not self.background:
            task = asyncio.get_running_loop().create_task(self._send(item))
            self._inline.add(task)
            task.add_done_callback(self._inline.discard)
            return
        queue = self._ensure_queue()
        if queue.qsize() >= self.max_pending:
            self.dropped += 1
            if self.dropped % 1000 == 1:  # one line per thousand: a burst must not flood the log
                log.warning("event backlog full (%d): dropped %s event for %s (%d dropped so far)",
                            self.max_pending, reason, item[0].key, self.dropped)
            return
        queue.put_nowait(item)
        self._start_senders()

    def forget(self, uid: str) -> None:
        """Stop aggregating into a deleted object's events (keeps memory bounded)."""
        for key in [k for k in self._series if k[0] == uid]:
            del self._series[key]

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the senders now (they also start on the first queued event)."""
        self._ensure_queue()
        self._start_senders()

    async def flush(self) -> None:
        """Wait until every queued event was sent (or failed and was logged)."""
        if self._inline:
            await asyncio.gather(*list(self._inline), return_exceptions=True)
        if self._queue is not None:
            self._start_senders()
            await self._queue.join()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    stop = close

    # -- sending --------------------------------------------------------------------------------

    def _ensure_queue(self) -> asyncio.Queue[_Item]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    def _start_senders(self) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        queue = self._ensure_queue()
        while len(self._tasks) < self._senders:
            self._tasks.append(asyncio.get_running_loop().create_task(self._send_loop(queue), name="event-sender"))

    async def _send_loop(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            item = await queue.get()
            try:
                await self._send(item)
            finally:
                queue.task_done()

    async def _send(self, item: _Item) -> None:
        ref, type_, reason, _message, _action = item
        try:
            await self._write(*item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - best-effort by contract: an event never fails the caller
            log.warning("event %s %s for %s %s not recorded: %s", type_, reason, ref.kind, ref.key, exc)

    async def _write(self, ref: ObjectRef, type_: str, reason: str, message: str, action: str) -> None:
        key = (ref.uid or ref.key, ref.field_path, type_, reason, message)
        now_s = self.clock.monotonic()
        series = self._series.get(key)
        if series is not None and now_s - series.at_s < self.aggregate_window_s:
            try:
                await self.sink.patch(series.namespace, series.name,
                                      {"count": series.count + 1, "lastTimestamp": format_time(self.clock.now())})
            except errors.NotFound:
                self._series.pop(key, None)  # expired or deleted: start a new series below
            else:
                series.count += 1
                series.at_s = now_s
                self._series.move_to_end(key)
                return
        body = event_body(ref, type_, reason, message, action=action, component=self.component,
                          instance=self.instance, host=self.host, clock=self.clock)
        namespace = body["metadata"]["namespace"]
        await self.sink.create(namespace, body)
        self._series[key] = _Series(namespace=namespace, name=body["metadata"]["name"], count=1, at_s=now_s)
        self._series.move_to_end(key)
        while len(self._series) > self.max_remembered:
            self._series.popitem(last=False)
