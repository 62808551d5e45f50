"""Garbage-collector settings for a daemon whose caches hold most of its objects.

Contract: `settle(threshold0)` runs one full collection, then freezes every object still
alive (`gc.freeze`: moved to the permanent generation, which collections never scan again;
they are still freed by reference counting when dropped) and sets the youngest generation's
threshold to `threshold0` allocations (CPython's default: 700). Call it once the daemon's
caches have synced, when its long-lived objects exist. Cycles among objects created later
are collected as before; a cycle formed among frozen objects is never freed (a daemon's
caches drop objects by reference, not in cycles).

Why: a full collection walks every tracked object. The scheduler's informers hold ~7,000
pods and nodes as pydantic models (400,000 objects): in bench/scheduler.py (1,000 nodes,
3,000 pods) its 3 full collections after the caches synced cost 0.81 s of CPU, 0.27 ms per
pod of its ~2 ms; settled, the phase had none (0.15 s for the one in `settle`), and the young
generation's collections cost the same (0.23-0.24 s) at 10,000 as at 700.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD0 = 10_000


def settle(threshold0: int = DEFAULT_THRESHOLD0) -> None:
    start = time.perf_counter()
    gc.collect()
    gc.freeze()
    _, t1, t2 = gc.get_threshold()
    gc.set_threshold(threshold0, t1, t2)
    log.info("gc: %d objects frozen in %.3f s; threshold0 %d", gc.get_freeze_count(),
             time.perf_counter() - start, threshold0)
