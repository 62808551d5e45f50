"""The controller base: one work queue of keys, N workers, handlers that only route keys.

Contract (STYLE.md, client-go's sample-controller):
- A controller owns one `WorkQueue` named after it. Informer handlers call `enqueue(obj)` or
  `enqueue_key(key)` and nothing else: every decision happens in `sync(key)`.
- `sync(key)` is level-triggered: it reads the informer caches, computes the difference to the
  desired state and makes API calls. Raising re-queues the key with per-key exponential backoff
  (`run_workers`); returning normally forgets the key's failures.
- `run()` runs the workers until the queue shuts down or the task is cancelled;
  `shutdown()` stops the queue.
- `ControllerContext` is what the manager hands to every controller's constructor: the API
  client, the shared `InformerFactory`, the `EventRecorder`, the worker count and the
  `ControllerOptions` (flags).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controllers.options import ControllerOptions
from machinery.events import EventRecorder
from machinery.informer import InformerFactory
from machinery.meta import Resource
from machinery.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)


@dataclass
class ControllerContext:
    """Shared plumbing for all controllers of one controller-manager process."""

    client: Any
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
        await run_workers(self.queue, self.sync, workers=self.ctx.workers)

    def shutdown(self) -> None:
        self.queue.shutdown()
