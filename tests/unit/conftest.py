"""Fixtures shared by the unit tests."""

import asyncio
import math
from collections.abc import AsyncIterator, Iterator

import pytest

from kubelet import probes
from machinery.clock import FakeClock


@pytest.fixture
def fast_probes() -> Iterator[float]:
    """Probe seconds last 10 ms (the API's periodSeconds are whole seconds): yields that length."""
    before = probes.PROBE_SECOND_S
    probes.PROBE_SECOND_S = 0.01
    yield probes.PROBE_SECOND_S
    probes.PROBE_SECOND_S = before


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
