"""A rate-limited sync loop (kube-proxy's BoundedFrequencyRunner, in asyncio).

Contract:
- `SyncLoop(fn, min_period_s, period_s, clock=REAL_CLOCK)`: `await run()` calls `await fn(periodic)` at once
  (periodic=True), then whenever `request()` was called (periodic=False), but never twice
  within `min_period_s` (requests in between coalesce into one call), and at least every
  `period_s` with periodic=True even without requests.
- A call that raises is logged and retried after `min_period_s` (a failed periodic call is
  retried as a periodic one), so a transient iptables or API failure never stops the loop.
- `request()` is safe to call from any synchronous handler on the loop's thread.
- `syncs` counts completed calls (tests and metrics); `last_duration_s` is the last one's time.
- All waiting and measuring goes through `clock` (machinery.clock): tests use a FakeClock.
- `record_metrics=False` keeps the loop out of kube-proxy's sync metrics (the NetworkPolicy
  agent's loop: `kubeproxy_sync_proxy_rules_*` stay about the Service rules).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from machinery.clock import REAL_CLOCK, Clock, wait_for
from proxy import metrics

log = logging.getLogger(__name__)


class SyncLoop:
    def __init__(self, fn: Callable[[bool], Awaitable[None]], *, min_period_s: float = 1.0,
                 period_s: float = 30.0, clock: Clock = REAL_CLOCK, record_metrics: bool = True) -> None:
        self.fn = fn
        self.clock = clock
        self.min_period_s = min_period_s
        self.period_s = period_s
        self._wanted = asyncio.Event()
        self.syncs = 0
        self.failures = 0
        self.last_duration_s = 0.0
        self.record_metrics = record_metrics

    def request(self) -> None:
        self._wanted.set()

    async def run(self) -> None:
        last_start = -float("inf")
        last_periodic = -float("inf")
        while True:
            now = self.clock.monotonic()
            periodic = now - last_periodic >= self.period_s
            if not periodic:
                if not await wait_for(self.clock, self._wanted.wait(), last_periodic + self.period_s - now):
                    continue  # period elapsed: loop round and do a periodic sync
                # Coalesce: wait out the rest of min_period_s; requests meanwhile join this run.
                wait_s = last_start + self.min_period_s - self.clock.monotonic()
                if wait_s > 0:
                    await self.clock.sleep(wait_s)
            self._wanted.clear()
            last_start = self.clock.monotonic()
            if periodic:
                last_periodic = last_start
            try:
                await self.fn(periodic)
                self.syncs += 1
                if self.record_metrics:
                    metrics.SYNC_DURATION.observe(self.clock.monotonic() - last_start)
                    metrics.LAST_SYNC.set_to_current_time()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                if self.record_metrics:
                    metrics.FAILURES.inc()
                log.exception("sync failed; retrying in %.1fs", self.min_period_s)
                if periodic:
                    last_periodic = -float("inf")  # a failed periodic sync is redone as a periodic one
                else:
                    self._wanted.set()
                await self.clock.sleep(self.min_period_s)
            self.last_duration_s = self.clock.monotonic() - last_start
