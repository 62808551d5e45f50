"""Work queue: dedup, dirty/processing invariants, shutdown, delays and rate limiters.

Timing tests run on a fake loop clock (the `loop_clock` fixture of tests/unit/conftest.py), so
a 17-minute backoff is checked in microseconds.
"""

from __future__ import annotations

import asyncio
import math

import pytest

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
from tests.unit.queue_support import drain, settle

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
