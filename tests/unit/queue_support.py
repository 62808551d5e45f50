"""Helpers of the work queue tests: let due timers and woken tasks run, drain a queue."""

from __future__ import annotations

import asyncio

from machinery.workqueue import (
    WorkQueue,
)


async def settle(rounds: int = 5) -> None:
    """Let due timers fire and woken tasks run (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def drain(q: WorkQueue) -> list[str]:
    """Pop (and mark done) everything queued right now."""
    out = []
    while len(q):
        key = await q.get()
        q.done(key)
        out.append(key)
    return out
