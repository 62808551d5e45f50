"""Scheduler Events (core/v1 Event): `Scheduled` and `FailedScheduling`, sent off the hot path.

Contract: `EventRecorder.record(pod, type_, reason, message, action)` never blocks and never
raises: the event is queued and sent by a background task, like client-go's broadcaster, so a
slow API server delays events, not scheduling. When more than `max_pending` events wait, new
ones are dropped with a log line (events are best-effort in Kubernetes too). A repeat of the
same (pod uid, reason, message) is folded into the existing Event (count + 1, lastTimestamp)
instead of creating another object, so a pod retried every 10 s does not flood the API.
`involvedObject` is the pod, `reportingComponent` / `source.component` the scheduler name.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from scheduler.info import PodInfo

log = logging.getLogger("scheduler.events")

CreateFn = Callable[[str, dict[str, Any]], Awaitable[Any]]  # (namespace, event body)
PatchFn = Callable[[str, str, dict[str, Any]], Awaitable[Any]]  # (namespace, name, merge patch)


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def _now_seconds() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class _Seen:
    name: str
    count: int


def event_body(
    pod: PodInfo, type_: str, reason: str, message: str, action: str, *, component: str, instance: str
) -> dict[str, Any]:
    stamp = _now_seconds()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            # Kubernetes names events "<object>.<unique hex>"; uuid keeps names unique across restarts.
            "name": f"{pod.name}.{uuid.uuid4().hex[:16]}",
            "namespace": pod.namespace,
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": pod.namespace,
            "name": pod.name,
            "uid": pod.uid,
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "action": action,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": _now(),
        "count": 1,
    }


class EventRecorder:
    def __init__(
        self,
        create: CreateFn,
        patch: PatchFn,
        *,
        component: str = "default-scheduler",
        instance: str = "",
        max_pending: int = 1000,
        senders: int = 4,
    ) -> None:
        self._create = create
        self._patch = patch
        self.component = component
        self.instance = instance
        self._queue: asyncio.Queue[tuple[PodInfo, str, str, str, str]] = asyncio.Queue(max_pending)
        self._seen: dict[tuple[str, str, str], _Seen] = {}
        self._senders = senders
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    def record(self, pod: PodInfo, type_: str, reason: str, message: str, action: str) -> None:
        try:
            self._queue.put_nowait((pod, type_, reason, message, action))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:  # one line per thousand: a burst must not flood the log
                log.warning("event queue full, dropping %s event for %s (%d dropped so far)", reason, pod.key, self.dropped)

    def forget_pod(self, uid: str) -> None:
        """Stop aggregating into a deleted pod's events (keeps `_seen` bounded)."""
        for k in [k for k in self._seen if k[0] == uid]:
            del self._seen[k]

    async def send(self, pod: PodInfo, type_: str, reason: str, message: str, action: str) -> None:
        seen_key = (pod.uid or pod.key, reason, message)
        seen = self._seen.get(seen_key)
        if seen is not None:
            seen.count += 1
            await self._patch(pod.namespace, seen.name, {"count": seen.count, "lastTimestamp": _now_seconds()})
            return
        body = event_body(pod, type_, reason, message, action, component=self.component, instance=self.instance)
        await self._create(pod.namespace, body)
        if type_ == "Warning":  # only failures repeat; success events are one per pod
            self._seen[seen_key] = _Seen(body["metadata"]["name"], 1)

    async def _sender(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self.send(*item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # best-effort: an event must never stop the scheduler
                log.warning("could not record %s event for %s: %s", item[2], item[0].key, exc)
                self._seen.pop((item[0].uid or item[0].key, item[2], item[3]), None)
            finally:
                self._queue.task_done()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._sender()) for _ in range(self._senders)]

    async def flush(self) -> None:
        """Wait until every queued event was sent (tests, clean shutdown)."""
        await self._queue.join()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
