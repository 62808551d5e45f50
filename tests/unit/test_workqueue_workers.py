"""run_workers: one key never processed twice at once, coalesced adds, failures requeued with
back-off, cancellation, and retries by error class (permanent, temporary, other) on the fake
loop clock (the `loop_clock` fixture of tests/unit/conftest.py); two tests use real time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random

import pytest

from machinery import errors
from machinery.clock import FakeClock
from machinery.workqueue import (
    ItemExponentialFailureRateLimiter,
    WorkQueue,
    run_workers,
)
from tests.unit.queue_support import settle

# ------------------------------------------------------------------ workers


async def test_workers_never_process_a_key_twice_at_once() -> None:
    q = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.002))
    keys = [f"k{i}" for i in range(8)]
    active: set[str] = set()
    violations: list[str] = []
    runs: dict[str, int] = dict.fromkeys(keys, 0)
    last_add: dict[str, int] = {}
    last_start: dict[str, int] = {}
    tick = 0
    rng = random.Random(7)

    adds = 0
    failures = 0

    def add(key: str) -> None:
        nonlocal tick, adds
        tick += 1
        adds += 1
        last_add[key] = tick
        q.add(key)

    async def sync(key: str) -> None:
        nonlocal tick, failures
        if key in active:
            violations.append(key)
        active.add(key)
        tick += 1
        last_start[key] = tick
        runs[key] += 1
        try:
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)
                if rng.random() < 0.3:
                    add(rng.choice(keys))  # changes arrive while work is in flight
            if rng.random() < 0.1:
                failures += 1
                raise RuntimeError("transient")
        finally:
            active.discard(key)

    workers = asyncio.create_task(run_workers(q, sync, workers=4))
    for _ in range(300):
        add(rng.choice(keys))
        await asyncio.sleep(0)
    # Quiesce: wait until nothing is queued, waiting or in flight.
    for _ in range(2000):
        await asyncio.sleep(0.001)
        if not len(q) and not q.waiting() and not active:
            await asyncio.sleep(0.01)
            if not len(q) and not q.waiting() and not active:
                break
    q.shutdown()
    await asyncio.wait_for(workers, 2)
    assert violations == []
    # Level-trigger guarantee: every add is followed by a run that started after it.
    for key, added in last_add.items():
        assert last_start[key] > added, key
    assert sum(runs.values()) <= adds + failures


async def test_adds_during_a_run_coalesce_into_one_more_run() -> None:
    q = WorkQueue()
    runs: list[str] = []
    gate = asyncio.Event()

    async def sync(key: str) -> None:
        runs.append(key)
        if len(runs) == 1:
            await gate.wait()

    q.add("a")
    workers = asyncio.create_task(run_workers(q, sync, workers=3))
    await settle()
    for _ in range(10):
        q.add("a")  # ten changes while the first run is in flight
    await settle()
    assert runs == ["a"], "other workers must not pick up the key in flight"
    gate.set()
    await settle(10)
    assert runs == ["a", "a"]
    q.shutdown()
    await asyncio.wait_for(workers, 1)


async def test_worker_failure_requeues_with_backoff_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    q = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01), name="ctl")
    attempts: list[str] = []

    async def sync(key: str) -> None:
        attempts.append(key)
        if len(attempts) < 4:
            raise ValueError(f"boom {len(attempts)}")

    q.add("ns/x")
    with caplog.at_level(logging.WARNING, logger="machinery.workqueue"):
        workers = asyncio.create_task(run_workers(q, sync, workers=2))
        for _ in range(500):
            await asyncio.sleep(0.002)
            if len(attempts) >= 4:
                break
        await settle()
    assert attempts == ["ns/x"] * 4
    assert q.num_requeues("ns/x") == 0, "success must forget the key's failures"
    failures = [r for r in caplog.records if "sync of 'ns/x' failed" in r.getMessage()]
    assert len(failures) == 3
    assert all(r.exc_info is not None for r in failures), "the traceback must be logged"
    q.shutdown()
    await asyncio.wait_for(workers, 1)


async def test_run_workers_cancel_stops_workers() -> None:
    q = WorkQueue()
    started = asyncio.Event()

    async def sync(key: str) -> None:
        started.set()
        await asyncio.sleep(100)

    q.add("a")
    task = asyncio.create_task(run_workers(q, sync, workers=3))
    await asyncio.wait_for(started.wait(), 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    q.add("a")
    assert len(q) == 1, "the cancelled sync must still have called done()"


async def test_run_workers_rejects_zero_workers() -> None:
    with pytest.raises(ValueError):
        await run_workers(WorkQueue(), _noop, workers=0)


async def _noop(key: str) -> None:
    return None


# ------------------------------------------------------------------ retries by error class


@pytest.mark.parametrize("exc", [errors.Invalid("spec.replicas: Invalid value"), errors.Forbidden("no"),
                                 errors.BadRequest("bad")])
async def test_permanent_errors_are_reported_and_not_retried(loop_clock: FakeClock, exc: Exception) -> None:
    q = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(base_s=1.0, max_s=1000.0))
    runs: list[str] = []
    reported: list[tuple[str, Exception]] = []

    async def sync(key: str) -> None:
        runs.append(key)
        raise exc

    async def on_permanent(key: str, e: Exception) -> None:
        reported.append((key, e))

    q.add("ns/a")
    workers = asyncio.create_task(run_workers(q, sync, on_permanent=on_permanent))
    await settle()
    loop_clock.advance(3600)
    await settle()
    assert runs == ["ns/a"] and reported == [("ns/a", exc)]
    assert q.num_requeues("ns/a") == 0 and q.waiting() == []
    q.add("ns/a")  # the object changed: its handler queues the key again
    await settle()
    assert runs == ["ns/a", "ns/a"]
    q.shutdown()
    await asyncio.wait_for(workers, 2)


async def test_temporary_errors_back_off_with_a_cap(loop_clock: FakeClock) -> None:
    q = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(base_s=1.0, max_s=1000.0))
    runs: list[float] = []

    async def sync(key: str) -> None:
        runs.append(loop_clock())
        if len(runs) < 9:
            raise errors.ServiceUnavailable("etcd is down") if len(runs) % 2 else ConnectionError("refused")

    q.add("k")
    workers = asyncio.create_task(run_workers(q, sync, temporary_max_delay_s=30.0))
    await settle()
    while len(runs) < 9:
        loop_clock.advance(0.5)
        await settle(3)
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps == pytest.approx([1, 2, 4, 8, 16, 30, 30, 30], abs=0.5)  # 32, 64, 128 capped at 30
    assert q.num_requeues("k") == 0  # the success forgot the failures
    q.shutdown()
    await asyncio.wait_for(workers, 2)


async def test_other_errors_keep_the_plain_backoff_and_a_failing_reporter_is_harmless(
        loop_clock: FakeClock) -> None:
    q = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(base_s=1.0, max_s=1000.0))
    runs: list[float] = []

    async def sync(key: str) -> None:
        runs.append(loop_clock())
        raise errors.Conflict("the object has been modified") if key == "c" else errors.Invalid("x")

    async def broken_reporter(key: str, e: Exception) -> None:
        raise RuntimeError("API down")

    for _ in range(6):  # six earlier failures: the next delay is 64 s, above the cap
        q.rate_limiter.when("c")
    q.add("c")
    q.add("i")
    workers = asyncio.create_task(run_workers(q, sync, temporary_max_delay_s=30.0, on_permanent=broken_reporter))
    await settle()
    assert len(runs) == 2 and q.waiting() == ["c"]
    loop_clock.advance(63)
    await settle()
    assert len(runs) == 2  # Conflict is not temporary: the full 64 s, not the 30 s cap
    loop_clock.advance(1.5)
    await settle()
    assert len(runs) == 3
    q.shutdown()
    await asyncio.wait_for(workers, 2)
