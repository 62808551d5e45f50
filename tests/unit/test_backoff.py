"""The jittered Backoff informers (and every retry loop) reconnect with, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from machinery.backoff import Backoff
from machinery.clock import FakeClock

# ------------------------------------------------------------------ Backoff


def test_backoff_sequence_and_cap() -> None:
    b = Backoff(0.8, 30.0, rand=lambda: 0.0)
    assert [round(b.next(), 3) for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


def test_backoff_jitter_stays_within_bounds() -> None:
    b = Backoff(1.0, 4.0, jitter=0.25, rand=lambda: 0.999999)
    assert [round(b.next(), 3) for _ in range(4)] == [0.75, 1.5, 3.0, 3.0]
    b2 = Backoff(0.8, 30.0)
    delays = [b2.next() for _ in range(50)]
    assert all(0.8 * 0.8 <= d <= 30.0 for d in delays)
    assert len({round(d, 6) for d in delays[10:]}) > 1, "delays at the cap must still be spread"


def test_backoff_resets_after_a_healthy_period() -> None:
    clock = FakeClock()
    b = Backoff(1.0, 60.0, reset_after_s=60.0, clock=clock, rand=lambda: 0.0)
    assert [b.next() for _ in range(3)] == [1.0, 2.0, 4.0]
    clock.advance(59.0)
    assert b.next() == 8.0
    clock.advance(60.5)
    assert b.next() == 1.0
    b.next()
    b.reset()
    assert b.next() == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0, "max_s": 1}, {"initial_s": 2, "max_s": 1}, {"initial_s": 1, "max_s": 2, "factor": 0.5},
     {"initial_s": 1, "max_s": 2, "jitter": 1.0}],
)
def test_backoff_validates(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_fake_clock_is_monotonic() -> None:
    with pytest.raises(ValueError):
        FakeClock().advance(-1)
