"""Work queue: dedup, dirty/processing invariants, delays, rate limiters, shutdown, workers.

Timing tests run on a fake loop clock (the running loop's `time` is replaced by a
`FakeClock`), so a 17-minute backoff is checked in microseconds; two tests use real time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
from collections.abc import AsyncIterator

import pytest

from machinery import errors
from machinery.clock import FakeClock
from machinery.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    ShutDown,
    WorkQueue,
    default_controller_rate_limiter,
    run_workers,
)


@pytest.fixture
async def loop_clock() -> AsyncIterator[FakeClock]:
    """Make the running loop's timers follow a manually advanced clock.

    It starts at a whole second (never behind the real loop time, so no timer goes back in
    time): steps of 0.25 s from a whole number are exact in binary floating point, whereas
    from an arbitrary start like 8123.456789 every step rounds and a measured 8 s delay came
    out as 7.999999999999773 (a CI flake)."""
    loop = asyncio.get_running_loop()
    clock = FakeClock(start_s=float(math.ceil(loop.time())))
    loop.time = clock  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        del loop.time  # back to the class method


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


# ------------------------------------------------------------------ basic queue semantics


async def test_fifo_and_dedup() -> None:
    q = WorkQueue(name="t")
    for k in ["a", "b", "a", "c", "b", "a"]:
        q.add(k)
    assert len(q) == 3
    assert await drain(q) == ["a", "b", "c"]
    assert len(q) == 0


async def test_readd_while_processing_runs_again_once_after_done() -> None:
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    assert key == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0, "a key being processed must not be handed out again"
    q.add("b")
    assert await q.get() == "b"
    q.done("b")
    q.done("a")
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_done_of_unknown_key_is_harmless() -> None:
    q = WorkQueue()
    q.done("never")
    q.add("a")
    q.done("a")  # queued, not processing: stays queued
    assert len(q) == 1 and await q.get() == "a"


async def test_get_waits_for_add() -> None:
    q = WorkQueue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_cancelled_getter_loses_nothing() -> None:
    q = WorkQueue()
    g1 = asyncio.create_task(q.get())
    await settle()
    g1.cancel()
    await settle()
    q.add("x")
    assert await asyncio.wait_for(q.get(), 1) == "x"


async def test_many_getters_each_key_once() -> None:
    q = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(5)]
    await settle()
    for k in "abc":
        q.add(k)
    await settle()
    got = sorted(g.result() for g in getters if g.done())
    assert got == ["a", "b", "c"]
    q.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert sum(isinstance(r, ShutDown) for r in results) == 2


# ------------------------------------------------------------------ shutdown


async def test_shutdown_wakes_getters_and_ignores_adds(loop_clock: FakeClock) -> None:
    q = WorkQueue()
    getter = asyncio.create_task(q.get())
    await settle()
    q.add_after("later", 5.0)
    q.add("dropped")  # the getter is woken but has not run yet when shutdown comes
    q.shutdown()
    with pytest.raises(ShutDown):
        await getter
    with pytest.raises(ShutDown):
        await q.get()
    q.add("x")
    q.add_after("y", 0.1)
    q.add_rate_limited("z")
    assert len(q) == 0 and q.waiting() == []
    loop_clock.advance(10)
    await settle()
    assert len(q) == 0, "timers must be cancelled by shutdown"


async def test_shutdown_with_drain_finishes_queued_and_in_flight() -> None:
    q = WorkQueue()
    processed: list[str] = []
    release = asyncio.Event()

    async def sync(key: str) -> None:
        if key == "slow":
            await release.wait()
        processed.append(key)

    for k in ["slow", "a", "b"]:
        q.add(k)
    workers = asyncio.create_task(run_workers(q, sync, workers=2))
    await settle()
    drain_task = asyncio.create_task(q.shutdown_with_drain(timeout_s=5))
    await settle()
    q.add("refused")
    assert not drain_task.done()
    release.set()
    await asyncio.wait_for(drain_task, 2)
    await asyncio.wait_for(workers, 2)
    assert sorted(processed) == ["a", "b", "slow"]


async def test_shutdown_with_drain_times_out() -> None:
    q = WorkQueue()
    q.add("stuck")
    key = await q.get()
    await q.shutdown_with_drain(timeout_s=0.01)
    assert key == "stuck"
    with pytest.raises(ShutDown):
        await q.get()


# ------------------------------------------------------------------ delays (fake loop clock)


async def test_add_after_orders_by_due_time(loop_clock: FakeClock) -> None:
    q = WorkQueue()
    q.add_after("c", 20.0)
    q.add_after("a", 10.0)
    q.add_after("b", 5.0)
    q.add_after("now", 0)
    assert await drain(q) == ["now"]
    loop_clock.advance(4.9)
    await settle()
    assert len(q) == 0
    loop_clock.advance(0.2)
    await settle()
    assert await drain(q) == ["b"]
    loop_clock.advance(15)
    await settle()
    assert await drain(q) == ["a", "c"]
    assert q.waiting() == []


async def test_add_after_keeps_earliest(loop_clock: FakeClock) -> None:
    q = WorkQueue()
    q.add_after("a", 10.0)
    q.add_after("a", 2.0)  # earlier wins
    q.add_after("a", 30.0)  # later is ignored
    assert q.waiting() == ["a"]
    loop_clock.advance(2.5)
    await settle()
    assert await drain(q) == ["a"]
    loop_clock.advance(100)
    await settle()
    assert len(q) == 0, "the replaced timers must not fire again"


async def test_add_after_of_queued_key_dedups(loop_clock: FakeClock) -> None:
    q = WorkQueue()
    q.add("a")
    q.add_after("a", 1.0)
    loop_clock.advance(2)
    await settle()
    assert await drain(q) == ["a"]


@pytest.mark.parametrize("offset_s", [0.0, -0.876543211])
async def test_add_rate_limited_backs_off_exponentially(loop_clock: FakeClock, offset_s: float) -> None:
    # offset: also start just below a power of two of the clock (2**k - 0.87...), where
    # every 0.25 s step rounds once the sum crosses 2**k: the delays must still be exact
    # to within the tolerance (this was the CI flake 7.999999999999773 != 8.0).
    if offset_s:
        loop_clock.now_s = 2.0 ** math.ceil(math.log2(loop_clock() + 20)) + offset_s
    q = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(base_s=1.0, max_s=8.0))
    due_after = []
    for _ in range(6):
        start = loop_clock()
        q.add_rate_limited("k")
        steps = 0
        while not len(q):
            loop_clock.advance(0.25)
            await settle(3)
            steps += 1
        due_after.append(loop_clock() - start)
        await drain(q)
    assert due_after == pytest.approx([1.0, 2.0, 4.0, 8.0, 8.0, 8.0], abs=1e-9)
    assert q.num_requeues("k") == 6
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_add_after_real_time() -> None:
    q = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("x", 0.05)
    assert await asyncio.wait_for(q.get(), 2) == "x"
    assert loop.time() - start >= 0.045


# ------------------------------------------------------------------ rate limiters


def test_item_exponential() -> None:
    rl = ItemExponentialFailureRateLimiter()
    delays = [rl.when("a") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[17] == pytest.approx(655.36)
    assert delays[18:] == [1000.0, 1000.0]
    assert rl.when("b") == 0.005, "keys back off independently"
    assert rl.num_requeues("a") == 20
    rl.forget("a")
    assert rl.num_requeues("a") == 0 and rl.when("a") == 0.005


def test_item_exponential_never_overflows() -> None:
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(3000):
        d = rl.when("a")
    assert d == 1000.0


def test_bucket() -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert [rl.when(f"k{i}") for i in range(100)] == [0.0] * 100
    assert rl.when("x") == pytest.approx(0.1)
    assert rl.when("y") == pytest.approx(0.2)
    clock.advance(1.0)  # 10 tokens back; 2 were owed
    assert [rl.when("z") for _ in range(8)] == [0.0] * 8
    assert rl.when("z") == pytest.approx(0.1)
    clock.advance(3600)
    assert rl.when("z") == 0.0  # refilled, capped at burst
    assert rl.num_requeues("z") == 0
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=0)


def test_max_of() -> None:
    clock = FakeClock()
    rl = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(1, 2, clock=clock))
    assert rl.when("a") == 0.005
    assert rl.when("a") == 0.01
    assert rl.when("b") == pytest.approx(1.0)  # the bucket is empty now: it dominates
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


def test_default_controller_rate_limiter() -> None:
    rl = default_controller_rate_limiter()
    assert rl.when("a") == 0.005
    assert max(rl.when(f"k{i}") for i in range(99)) == 0.005  # burst of 100 is free
    assert rl.when("over") == pytest.approx(0.1, abs=0.01)


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
