"""Jittered exponential backoff for reconnect loops (reflectors, lease renewers, clients).

Contract:
- `Backoff(initial_s, max_s, *, factor=2.0, jitter=0.2, reset_after_s=60.0)`.
- `next()` returns the delay (float seconds) to wait before the next attempt. The un-jittered
  delay starts at `initial_s` and is multiplied by `factor` on every call, capped at `max_s`.
- Jitter is applied *downwards*: the returned delay lies in `[base * (1 - jitter), base]`.
  Downward jitter keeps the promise that no delay ever exceeds `max_s`, and still spreads
  the clients that all sit at the cap (the case jitter exists for: a restarted API server
  must not be hit by every informer in the same millisecond).
- If more than `reset_after_s` seconds passed since the previous `next()`, the sequence starts
  again from `initial_s` first: a connection that stayed healthy for a while earns a quick
  retry (client-go's exponentialBackoffManager does the same).
- `reset()` starts the sequence again explicitly.
- `clock` (monotonic seconds; a `machinery.clock.FakeClock` works) and `rand` (uniform in
  [0, 1)) are injectable so tests are deterministic and run in no time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

MonotonicFn = Callable[[], float]
"""Reads monotonic seconds: `time.monotonic`, or a `machinery.clock` clock (they are callable)."""


class Backoff:
    """Exponential backoff with downward jitter and automatic reset after a healthy period."""

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.2,
        reset_after_s: float = 60.0,
        clock: MonotonicFn = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got initial_s={initial_s}, max_s={max_s}")
        if factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {factor}")
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._rand = rand
        self._base_s = initial_s
        self._last_s: float | None = None

    def next(self) -> float:
        """The delay before the next attempt; advances the sequence."""
        now = self._clock()
        if self._last_s is not None and now - self._last_s > self.reset_after_s:
            self._base_s = self.initial_s
        self._last_s = now
        base = self._base_s
        self._base_s = min(self._base_s * self.factor, self.max_s)
        return base * (1.0 - self.jitter * self._rand())

    def reset(self) -> None:
        """Forget past failures: the next delay is `initial_s` (jittered) again."""
        self._base_s = self.initial_s
        self._last_s = None
