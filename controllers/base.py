"""The controller base: one work queue of keys, N workers, handlers that only route keys.

Contract (docs/ARCHITECTURE.md "The rules", client-go's sample-controller):
- A controller owns one `WorkQueue` named after it. Informer handlers call `enqueue(obj)` or
  `enqueue_key(key)` and nothing else: every decision happens in `sync(key)`.
- `sync(key)` is level-triggered: it reads the informer caches, computes the difference to the
  desired state and makes API calls. Returning normally forgets the key's failures. Raising
  re-queues the key with per-key exponential backoff (`run_workers`: temporary API errors wait
  at most 30 s), except for permanent API errors (Invalid, Forbidden, BadRequest, ...): those
  record a Warning Event `SyncFailed` on the object (`KIND`, the kind of the keys, looked up in
  the shared informer) and are not retried until the object changes.
- `run()` runs the workers until the queue shuts down or the task is cancelled;
  `shutdown()` stops the queue.
- `ControllerContext` is what the manager hands to every controller's constructor: the API
  client, the shared `InformerFactory`, the `EventRecorder`, the worker count and the
  `ControllerOptions` (flags).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from controllers.options import ControllerOptions
from machinery.events import WARNING, EventRecorder
from machinery.informer import InformerFactory
from machinery.meta import Resource
from machinery.workqueue import WorkQueue, run_workers

if TYPE_CHECKING:
    from machinery.client import KubeClient

log = logging.getLogger(__name__)


@dataclass
class ControllerContext:
    """Shared plumbing for all controllers of one controller-manager process."""

    client: KubeClient
    """machinery.client.ApiClient (or a recording fake in unit tests)."""
    factory: InformerFactory
    """Shared informers: one list+watch per kind for all controllers."""
    recorder: EventRecorder
    """Posts core/v1 Events for what the controllers do."""
    workers: int = 2
    """Worker tasks per controller (a key is never synced by two at once)."""
    options: ControllerOptions = field(default_factory=ControllerOptions)
    """The controller-manager's flags (node IPAM, node lifecycle, ...)."""


class Controller:
    """Base class: subclasses set `NAME`, register handlers in `__init__`, implement `sync`."""

    NAME: ClassVar[str] = "controller"
    KIND: ClassVar[type[Resource] | None] = None
    """The kind the queue's keys name (its informer is shared through the factory)."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder
        self.queue = WorkQueue(name=self.NAME)

    def enqueue(self, obj: Resource) -> None:
        self.queue.add(obj.key)

    def enqueue_key(self, key: str) -> None:
        self.queue.add(key)

    async def sync(self, key: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def run(self) -> None:
        log.info("controller %s: starting %d workers", self.NAME, self.ctx.workers)
        await run_workers(self.queue, self.sync, workers=self.ctx.workers, on_permanent=self.sync_failed)

    async def sync_failed(self, key: str, exc: Exception) -> None:
        """A permanent error: tell the object's owner through an Event, since no retry follows."""
        obj = self.ctx.factory.informer(self.KIND).get(key) if self.KIND is not None else None
        if obj is None:
            return
        await self.recorder.event(obj, WARNING, "SyncFailed",
                                  f"{self.NAME} controller: {exc}; not retrying until the object changes")

    def shutdown(self) -> None:
        self.queue.shutdown()
