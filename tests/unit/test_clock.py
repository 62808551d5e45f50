"""machinery.clock: the fake clock's sleepers, the real clock, and the one timestamp format."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from machinery.clock import (
    REAL_CLOCK,
    Clock,
    FakeClock,
    format_micro_time,
    format_time,
    now_micro_rfc3339,
    now_rfc3339,
    parse_time,
    wait_for,
)


async def test_fake_sleep_wakes_only_when_time_reaches_the_deadline() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, delay_s: float) -> None:
        await clock.sleep(delay_s)
        woke.append(f"{name}@{clock.monotonic() - 1000.0:g}")

    tasks = [asyncio.create_task(sleeper("late", 10.0)), asyncio.create_task(sleeper("early", 2.5))]
    await clock.sleepers(2)
    clock.advance(2.0)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.5)
    await clock.sleepers(1)  # "late" still sleeps
    await asyncio.sleep(0)
    assert woke == ["early@2.5"]
    clock.advance(100.0)
    await asyncio.gather(*tasks)
    assert woke == ["early@2.5", "late@102.5"]
    assert clock.sleeping == 0


async def test_fake_sleep_of_zero_yields_and_cancelled_sleepers_are_not_counted() -> None:
    clock = FakeClock()
    await asyncio.wait_for(clock.sleep(0), 1)
    task = asyncio.create_task(clock.sleep(5))
    await clock.sleepers(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleeping == 0
    clock.advance(10)  # waking a cancelled sleeper is harmless
    with pytest.raises(AssertionError, match="expected 1 sleeper"):
        await clock.sleepers(1, max_turns=3)


def test_fake_wall_and_monotonic_move_together() -> None:
    clock = FakeClock(start_s=50.0, wall=datetime(2026, 3, 1, tzinfo=UTC))
    assert clock() == clock.monotonic() == 50.0
    clock.advance(90.5)
    assert clock.now() == datetime(2026, 3, 1, 0, 1, 30, 500000, tzinfo=UTC)
    assert now_rfc3339(clock) == "2026-03-01T00:01:30Z"
    assert now_micro_rfc3339(clock) == "2026-03-01T00:01:30.500000Z"
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


async def test_real_clock_satisfies_the_protocol() -> None:
    clock: Clock = REAL_CLOCK
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() - before >= 0.009
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5
    fake: Clock = FakeClock()
    assert fake.now().tzinfo is not None


def test_formats_and_parse_round_trip() -> None:
    dt = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert format_time(dt) == "2026-01-02T03:04:05Z"
    assert format_micro_time(dt) == "2026-01-02T03:04:05.678901Z"
    assert parse_time(format_micro_time(dt)) == dt
    assert parse_time("2026-01-02T03:04:05Z") == dt.replace(microsecond=0)
    plus_two = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert parse_time("2026-01-02T05:04:05+02:00") == plus_two
    assert format_time(plus_two) == "2026-01-02T03:04:05Z"  # always written in UTC
    assert parse_time(None) is None and parse_time("") is None


async def test_wait_for_on_the_fake_clock() -> None:
    clock = FakeClock()
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_for(clock, event.wait(), 5.0))
    await clock.sleepers(1)
    clock.advance(5.0)
    assert await waiting is False  # timed out: the owned coroutine was cancelled
    waiting = asyncio.create_task(wait_for(clock, event.wait(), 5.0))
    await clock.sleepers(1)
    event.set()
    assert await waiting is True
    assert clock.sleeping == 0  # its timer was cancelled

    async def forever() -> None:
        await asyncio.sleep(3600)

    task = asyncio.create_task(forever())
    waiting = asyncio.create_task(wait_for(clock, task, 1.0))
    await clock.sleepers(1)
    clock.advance(1.0)
    assert await waiting is False and not task.done()  # the caller's task keeps running
    task.cancel()
    assert await wait_for(clock, task, 1.0) is True  # done by cancellation counts as done
