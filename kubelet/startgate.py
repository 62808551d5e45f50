"""How many pods may create and start containers at once on this node, admitted in arrival order.

Contract: `StartGate(limit)`; `await gate.acquire()` returns when fewer than `limit` holders are
in, waiters being admitted strictly first come, first served; `gate.release()` lets the next one
in. `limit <= 0` means no limit. `waiting` / `holding` are gauges for /metrics and tests.

Why it exists (issue 17, measured with py-spy on a 2-core machine): Docker's throughput for
`create + start` of a sandbox and its app container peaks at about 4 in flight (2.2 pairs/s at 4,
8 or 16 in flight, 1.8/s at 32), while each start's latency grows with every extra one. Without
a gate, a burst of 60 pods put ~32 starts in flight (the runtime's thread pool), and a pod's app
container queued behind every sandbox that arrived after it: each pod needs two trips through
Docker, so all pods finished near the end of the burst. With the gate a pod that got in does its
sandbox and app container back to back, and pods finish in the order they came.
"""

from __future__ import annotations

import asyncio
import collections


class StartGate:
    """A FIFO counting gate (asyncio.Semaphore does not promise the order of its waiters)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.holding = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    async def acquire(self) -> None:
        if self.limit <= 0 or (self.holding < self.limit and not self.waiting):
            self.holding += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # release() counted us in before waking us
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # admitted, then cancelled: pass the slot on
                self.release()
            raise

    def release(self) -> None:
        self.holding -= 1
        while self._waiters and self.holding < max(self.limit, 1):
            fut = self._waiters.popleft()
            if not fut.done():
                self.holding += 1
                fut.set_result(None)


__all__ = ["StartGate"]
