"""An asyncio work queue of object keys with rate-limited retries (client-go's workqueue).

Guarantees (what controllers rely on):
- The queue holds keys (`ns/name`), never objects: workers read current state from a cache.
- A key is never handed to two workers at once: a key being processed is in the
  `processing` set; adding it again marks it dirty, and `done(key)` re-queues it once.
- Adding a key that is already queued is a no-op (two changes before a run give one run).
- `add_after(key, delay_s)` schedules with `loop.call_later`; scheduling a key that already
  waits keeps the earlier time. Timers are cancelled by `shutdown()`.
- `add_rate_limited(key)` waits `rate_limiter.when(key)`; the default limiter is the max of a
  per-key exponential backoff (5 ms doubling to 1000 s) and a global token bucket (10 qps,
  burst 100), as `DefaultControllerRateLimiter`. `forget(key)` clears a key's failures.
- `shutdown()` drops queued keys and makes every pending and future `get()` raise
  `ShutDown` (controllers are level-triggered: a restart recomputes everything, so dropping
  is safe and stopping promptly matters more). `shutdown_with_drain()` first lets workers
  finish the queued and in-flight keys.
- `add_rate_limited(key, max_delay_s=None)`: `max_delay_s` caps this one wait (the per-key
  failure count still grows).
- `run_workers(q, sync, workers=N, on_permanent=None, temporary_max_delay_s=30.0)`: N tasks
  `get -> sync -> forget | retry -> done` until the queue shuts down. What a failing sync does
  depends on the error (machinery.errors): a permanent one (Invalid, Forbidden, BadRequest, ...:
  the same request would fail the same way) is logged, the key is forgotten and NOT retried,
  and `await on_permanent(key, exc)` runs (controllers record a Warning Event on the object);
  a change of the object queues the key again. A temporary one (429, 5xx, no connection) is
  retried with the per-key backoff capped at `temporary_max_delay_s`, so a controller resumes
  within that time after the API server comes back. Anything else (Conflict, NotFound, a bug)
  is retried with the plain per-key backoff. Failures are logged at warning, with the
  traceback for errors that are not API answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from machinery import errors, prom

log = logging.getLogger(__name__)


class ShutDown(Exception):
    """Raised by `WorkQueue.get()` once the queue is shut down."""


class RateLimiter(Protocol):
    def when(self, key: str) -> float:
        """Seconds to wait before `key` may be processed again (records one failure)."""
        ...

    def forget(self, key: str) -> None: ...

    def num_requeues(self, key: str) -> int: ...


class ItemExponentialFailureRateLimiter:
    """Per-key delay `base_s * 2**failures`, capped at `max_s`."""

    def __init__(self, base_s: float = 0.005, max_s: float = 1000.0) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self._failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        if n >= 1024:  # 2**n would overflow a float long before; the cap applies anyway
            return self.max_s
        return min(self.base_s * (2.0**n), self.max_s)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """A global token bucket: `qps` tokens per second, at most `burst` saved up.

    `when()` reserves a token and returns how long to wait for it, so a burst of failures
    is spread out rather than refused (golang.org/x/time/rate `Reserve().Delay()`).
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Callable[[], float] = time.monotonic) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, key: str) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: str) -> None:
        return None

    def num_requeues(self, key: str) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters (all of them record the failure)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, key: str) -> float:
        return max([lim.when(key) for lim in self.limiters])

    def forget(self, key: str) -> None:
        for lim in self.limiters:
            lim.forget(key)

    def num_requeues(self, key: str) -> int:
        return max(lim.num_requeues(key) for lim in self.limiters)


def default_controller_rate_limiter() -> MaxOfRateLimiter:
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class WorkQueue:
    """See the module docstring. All methods except `get()` are synchronous and loop-safe
    only from the event loop's thread (asyncio is single-threaded; no locks needed)."""

    def __init__(self, rate_limiter: RateLimiter | None = None, name: str = "") -> None:
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shutting_down = False
        self._draining = False
        # Prometheus children bound once (labels() is a dict lookup under a lock: not per key).
        label = name or "unnamed"
        self._m_depth = prom.WORKQUEUE_DEPTH.labels(label)
        self._m_adds = prom.WORKQUEUE_ADDS.labels(label)
        self._m_retries = prom.WORKQUEUE_RETRIES.labels(label)
        self._m_queued = prom.WORKQUEUE_QUEUE_DURATION.labels(label)
        self._m_work = prom.WORKQUEUE_WORK_DURATION.labels(label)
        self._added_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down or self._draining

    def add(self, key: str) -> None:
        if self.shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._m_adds.inc()
        self._added_at.setdefault(key, time.monotonic())
        if key in self._processing:
            return  # queued again by done(): never two workers on one key
        self._queue.append(key)
        self._m_depth.inc()
        self._idle.clear()
        self._wakeup.set()

    def add_after(self, key: str, delay_s: float) -> None:
        if self.shutting_down:
            return
        if delay_s <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay_s
        current = self._waiting.get(key)
        if current is not None:
            if current[0] <= ready_at:
                return  # already due earlier: keep the earlier time
            current[1].cancel()
        handle = loop.call_at(ready_at, self._fire, key)
        self._waiting[key] = (ready_at, handle)

    def _fire(self, key: str) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str, *, max_delay_s: float | None = None) -> None:
        self._m_retries.inc()
        delay_s = self.rate_limiter.when(key)
        self.add_after(key, delay_s if max_delay_s is None else min(delay_s, max_delay_s))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return self.rate_limiter.num_requeues(key)

    def waiting(self) -> list[str]:
        """Keys scheduled by `add_after` that are not due yet (for tests and debugging)."""
        return list(self._waiting)

    async def get(self) -> str:
        """The next key; the caller must call `done(key)` when finished with it."""
        while True:
            if self._shutting_down or (self._draining and not self._queue):
                raise ShutDown(self.name)
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._processing.add(key)
                now = time.monotonic()
                self._m_depth.dec()
                added = self._added_at.pop(key, None)
                if added is not None:
                    self._m_queued.observe(now - added)
                self._started_at[key] = now
                return key
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        if key not in self._processing:
            return
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if started is not None:
            self._m_work.observe(time.monotonic() - started)
        if key in self._dirty:
            self._queue.append(key)
            self._m_depth.inc()
            self._wakeup.set()
        elif not self._queue and not self._processing:
            self._idle.set()

    def shutdown(self) -> None:
        """Stop now: queued and delayed keys are dropped, getters raise ShutDown."""
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        self._m_depth.dec(len(self._queue))
        self._queue.clear()
        self._dirty.clear()
        self._added_at.clear()
        self._idle.set()
        self._wakeup.set()

    async def shutdown_with_drain(self, timeout_s: float | None = None) -> None:
        """Refuse new keys, let workers finish queued and in-flight keys, then shut down.

        Delayed keys are dropped. After `timeout_s` the queue shuts down regardless.
        """
        self._draining = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        self._wakeup.set()  # idle getters re-check and leave if nothing is queued
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.warning("queue %s: drain timed out with %d keys in flight", self.name, len(self._processing))
        finally:
            self.shutdown()


SyncFn = Callable[[str], Awaitable[None]]
PermanentFn = Callable[[str, Exception], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How `run_workers` treats a failed sync (see module docstring)."""

    on_permanent: PermanentFn | None = None
    """Called once per permanent failure (after the key was forgotten); must not raise."""
    temporary_max_delay_s: float = 30.0
    """The longest wait before retrying a key whose sync failed with a temporary error."""


async def _failed(q: WorkQueue, key: str, exc: Exception, policy: RetryPolicy) -> None:
    if errors.is_permanent(exc):
        q.forget(key)
        log.warning("queue %s: sync of %r failed permanently, not retrying: %s", q.name, key, exc)
        if policy.on_permanent is not None:
            try:
                await policy.on_permanent(key, exc)
            except Exception:
                log.exception("queue %s: reporting the failure of %r failed", q.name, key)
        return
    temporary = errors.is_temporary(exc)
    q.add_rate_limited(key, max_delay_s=policy.temporary_max_delay_s if temporary else None)
    # An API answer explains itself; anything else is a bug whose traceback is what helps.
    log.warning("queue %s: sync of %r failed (retry %d): %s", q.name, key, q.num_requeues(key), exc,
                exc_info=not isinstance(exc, errors.ApiError))


async def _worker(q: WorkQueue, sync: SyncFn, policy: RetryPolicy) -> None:
    while True:
        try:
            key = await q.get()
        except ShutDown:
            return
        try:
            await sync(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified in _failed
            await _failed(q, key, exc, policy)
        else:
            q.forget(key)
        finally:
            q.done(key)


async def run_workers(q: WorkQueue, sync: SyncFn, *, workers: int = 1, on_permanent: PermanentFn | None = None,
                      temporary_max_delay_s: float = 30.0) -> None:
    """Run `workers` worker tasks until the queue shuts down (or this task is cancelled)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    policy = RetryPolicy(on_permanent=on_permanent, temporary_max_delay_s=temporary_max_delay_s)
    tasks = [asyncio.create_task(_worker(q, sync, policy), name=f"{q.name or 'queue'}-worker-{i}") for i in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
