"""One injectable clock, and the one place that formats and parses Kubernetes timestamps.

Contract:
- `Clock` (Protocol): `now()` is wall time (an aware UTC `datetime`, for timestamps written into
  objects); `monotonic()` is float seconds that never go backwards (for durations, deadlines,
  leases: never compare wall times of two hosts); `await sleep(delay_s)` waits `delay_s` seconds
  of this clock. A component takes a `Clock` argument defaulting to `REAL_CLOCK`, so tests pass a
  `FakeClock` and run heartbeats, renew deadlines and backoffs in no real time.
- `RealClock`: `datetime.now(UTC)`, `time.monotonic()`, `asyncio.sleep`.
- `FakeClock(start_s=1000.0, wall=2026-01-01T00:00:00Z)`: time moves only by `advance(delta_s)`
  (negative raises ValueError). `sleep()` suspends until an `advance` reaches its deadline (a
  zero or negative delay yields once and returns). `await clock.sleepers(n)` waits (in real loop
  turns, never real time) until at least `n` tasks sleep on the clock, so a test can advance
  exactly when the code under test is waiting. Calling the clock (`clock()`) reads monotonic
  time, so a `FakeClock` also serves where a plain `Callable[[], float]` is expected
  (`Backoff`, rate limiters, expectations).
- `await wait_for(clock, aw, timeout_s) -> bool`: waits until `aw` (a coroutine, task or
  future) completes or `timeout_s` of the clock passed; True if it is done (by result,
  exception or cancellation). A coroutine is
  cancelled on timeout; a task or future given by the caller is left running (unlike
  `asyncio.wait_for`), and its result or exception stays with it.
- Timestamps: `format_time(dt)` is Kubernetes' `metav1.Time` (second precision,
  `2026-01-01T00:00:00Z`); `format_micro_time(dt)` is `metav1.MicroTime`
  (`2026-01-01T00:00:00.000000Z`); `parse_time(s)` reads either (and any RFC 3339 offset) into an
  aware datetime, None for None/"". `now_rfc3339(clock)` / `now_micro_rfc3339(clock)` format
  `clock.now()`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    """Wall time, monotonic time and sleeping, injectable for tests."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, delay_s: float) -> None: ...


class RealClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def __call__(self) -> float:
        return time.monotonic()

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(max(delay_s, 0.0))


REAL_CLOCK = RealClock()

_EPOCH_WALL = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A manually advanced clock for tests (see module docstring)."""

    def __init__(self, start_s: float = 1000.0, *, wall: datetime = _EPOCH_WALL) -> None:
        self.now_s = start_s
        self._start_s = start_s
        self._wall = wall
        self._sleeping: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now_s

    def monotonic(self) -> float:
        return self.now_s

    def now(self) -> datetime:
        return self._wall + timedelta(seconds=self.now_s - self._start_s)

    async def sleep(self, delay_s: float) -> None:
        if delay_s <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleeping, (self.now_s + delay_s, next(self._seq), fut))
        await fut

    def advance(self, delta_s: float) -> None:
        """Move time forward and wake every sleeper whose deadline is reached."""
        if delta_s < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self.now_s += delta_s
        while self._sleeping and self._sleeping[0][0] <= self.now_s:
            _, _, fut = heapq.heappop(self._sleeping)
            if not fut.done():
                fut.set_result(None)

    @property
    def sleeping(self) -> int:
        """How many tasks wait in `sleep()` right now."""
        return sum(1 for _, _, fut in self._sleeping if not fut.done())

    async def sleepers(self, n: int = 1, *, max_turns: int = 10_000) -> None:
        """Yield to the loop until `n` tasks sleep on this clock (AssertionError if never)."""
        for _ in range(max_turns):
            if self.sleeping >= n:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"expected {n} sleeper(s) on the fake clock, found {self.sleeping}")


async def wait_for(clock: Clock, aw: Awaitable[Any], timeout_s: float) -> bool:
    """Wait for `aw` at most `timeout_s` seconds of `clock` (see module docstring)."""
    owned = not isinstance(aw, asyncio.Future)
    target = asyncio.ensure_future(aw)
    tick = asyncio.ensure_future(clock.sleep(timeout_s))
    try:
        await asyncio.wait({target, tick}, return_when=asyncio.FIRST_COMPLETED)
        done = target.done()
    finally:
        tick.cancel()
        if owned and not target.done():
            target.cancel()
    return done


def format_time(dt: datetime) -> str:
    """metav1.Time: `2026-01-01T00:00:00Z` (UTC, second precision)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(dt: datetime) -> str:
    """metav1.MicroTime: `2026-01-01T00:00:00.000000Z` (UTC, microseconds)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (`Z` or an offset, any fraction) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def now_rfc3339(clock: Clock = REAL_CLOCK) -> str:
    return format_time(clock.now())


def now_micro_rfc3339(clock: Clock = REAL_CLOCK) -> str:
    return format_micro_time(clock.now())
