"""The scheduling queue: an active heap ordered by priority, and a backoff area.

Contract:
- `add(key, priority, created)` makes a pod eligible now. Higher `priority` pops first, then
  the older `created` (RFC 3339 strings sort in time order), then insertion order.
- `pop()` returns the next key and marks it in flight until `done(key)`. A key is never in
  flight twice; `add` of an in-flight key re-queues it once after `done`.
- `add_unschedulable(key, ...)` parks a pod that fit nowhere (or whose binding failed) for its
  backoff: 1 s, doubling per failed attempt, capped at 10 s; then it pops again by itself.
- `flush()` moves every parked pod to the active heap at once: called when a node appears or
  changes, or a pod goes away, i.e. when something could make them fit. Because they enter the
  heap together, the highest-priority one is tried first. A pod that failed while a flush
  happened during its attempt goes straight back to the active heap, so a node added while the
  pod was being tried is never missed (Kubernetes' "move request cycle").
- `forget(key)` resets the attempt count (after a successful binding); `remove(key)` drops the
  pod wherever it is (deleted, or bound by someone else).
The clock is injectable so backoff is tested with fake time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Parked:
    ready_at: float
    priority: int
    created: str


class SchedulingQueue:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._clock = clock
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self._heap: list[tuple[int, str, int, str]] = []
        self._active: dict[str, tuple[int, str, int, str]] = {}  # key -> live heap entry
        self._parked: dict[str, _Parked] = {}
        self._parked_heap: list[tuple[float, int, str, _Parked]] = []  # lazy deletion, like _heap
        self._attempts: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}  # key -> flush count when popped
        self._readd: dict[str, tuple[int, str]] = {}  # added while in flight
        self._flushes = 0
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        return len(self._active) + len(self._parked)

    def __contains__(self, key: str) -> bool:
        return key in self._active or key in self._parked or key in self._in_flight

    @property
    def parked(self) -> list[str]:
        return list(self._parked)

    def backoff_s(self, key: str) -> float:
        """The backoff the next failure of `key` will get."""
        attempts = self._attempts.get(key, 0)
        return min(self.initial_backoff_s * (2.0 ** min(attempts, 30)), self.max_backoff_s)

    def add(self, key: str, priority: int = 0, created: str = "") -> None:
        if key in self._in_flight:
            self._readd[key] = (priority, created)
            return
        self._parked.pop(key, None)
        old = self._active.get(key)
        if old is not None and old[0] == -priority:
            return  # already queued with the same priority: keep its place
        self._push(key, priority, created)

    def _push(self, key: str, priority: int, created: str) -> None:
        entry = (-priority, created, next(self._seq), key)
        self._active[key] = entry  # a replaced entry stays in the heap and is skipped on pop
        heapq.heappush(self._heap, entry)
        self._wakeup.set()

    def add_unschedulable(self, key: str, priority: int = 0, created: str = "") -> None:
        popped_at = self._in_flight.get(key)
        delay = self.backoff_s(key)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        if popped_at is not None and popped_at != self._flushes:
            self._readd[key] = (priority, created)  # the cluster changed during the attempt
            return
        self._active.pop(key, None)
        parked = _Parked(self._clock() + delay, priority, created)
        self._parked[key] = parked
        heapq.heappush(self._parked_heap, (parked.ready_at, next(self._seq), key, parked))
        self._wakeup.set()

    def flush(self) -> int:
        """Move every parked pod to the active heap; returns how many moved."""
        self._flushes += 1
        moved = sorted(self._parked.items(), key=lambda kv: kv[1].ready_at)
        self._parked.clear()
        self._parked_heap.clear()
        for key, p in moved:
            self._push(key, p.priority, p.created)
        return len(moved)

    def forget(self, key: str) -> None:
        self._attempts.pop(key, None)

    def remove(self, key: str) -> None:
        self._active.pop(key, None)
        self._parked.pop(key, None)
        self._readd.pop(key, None)
        self._attempts.pop(key, None)

    def done(self, key: str) -> None:
        self._in_flight.pop(key, None)
        again = self._readd.pop(key, None)
        if again is not None:
            self._parked.pop(key, None)
            self._push(key, *again)

    def _release_expired(self) -> None:
        now = self._clock()
        while self._parked_heap and self._parked_heap[0][0] <= now:
            _, _, key, parked = heapq.heappop(self._parked_heap)
            if self._parked.get(key) is parked:
                del self._parked[key]
                self._push(key, parked.priority, parked.created)

    def pop_nowait(self) -> str | None:
        """The next eligible key (marking it in flight), or None."""
        self._release_expired()
        while self._heap:
            entry = heapq.heappop(self._heap)
            key = entry[3]
            if self._active.get(key) is not entry:
                continue  # stale: removed, re-added or parked since
            del self._active[key]
            self._in_flight[key] = self._flushes
            return key
        return None

    def next_ready_in_s(self) -> float | None:
        while self._parked_heap and self._parked.get(self._parked_heap[0][2]) is not self._parked_heap[0][3]:
            heapq.heappop(self._parked_heap)  # drop stale entries so the head is a live one
        if not self._parked_heap:
            return None
        return max(0.0, self._parked_heap[0][0] - self._clock())

    async def pop(self) -> str:
        while True:
            key = self.pop_nowait()
            if key is not None:
                return key
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.next_ready_in_s())
