"""LeaderElector against the recording fake client, on a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
import contextlib

from machinery import errors
from machinery.clock import FakeClock
from machinery.leaderelection import LeaderElector
from machinery.models import Lease
from tests.unit.fake_client import FakeClient

# client-go's defaults; the fake clock makes them cost nothing.
TIMING = {"lease_duration_s": 15.0, "renew_deadline_s": 10.0, "retry_period_s": 2.0}


def _elector(client: FakeClient, identity: str, clock: FakeClock) -> LeaderElector:
    return LeaderElector(client, "cm", namespace="kube-system", identity=identity, clock=clock,
                         rand=lambda: 0.0, **TIMING)


async def _advance_until_done(clock: FakeClock, task: asyncio.Task[None], step_s: float, *,
                              max_steps: int = 100) -> float:
    """Move fake time in `step_s` steps (each once something sleeps) until `task` ends."""
    start = clock.monotonic()
    for _ in range(max_steps):
        if task.done():
            break
        await clock.sleepers(1)
        clock.advance(step_s)
        for _ in range(20):
            await asyncio.sleep(0)
    assert task.done(), "the task did not finish"
    return clock.monotonic() - start


async def test_first_acquires_second_waits_for_expiry_then_takes_over() -> None:
    client, clock = FakeClient(), FakeClock()
    a, b = _elector(client, "a", clock), _elector(client, "b", clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # A's record just observed
    clock.advance(14.0)
    assert await a.try_acquire_or_renew()  # renewal (a new renewTime)
    clock.advance(14.0)
    assert not await b.try_acquire_or_renew()  # renewed record: B's clock restarts
    clock.advance(14.9)
    assert not await b.try_acquire_or_renew()  # 14.9 s < the 15 s lease: still A's
    clock.advance(0.2)
    assert await b.try_acquire_or_renew()
    lease = client.stored(Lease, "cm", "kube-system")
    assert lease.spec.holderIdentity == "b" and lease.spec.leaseTransitions == 1
    assert not await a.try_acquire_or_renew()  # B holds it now


async def test_concurrent_writes_lose_on_conflict() -> None:
    client, clock = FakeClient(), FakeClock()
    a, b = _elector(client, "a", clock), _elector(client, "b", clock)
    assert await a.try_acquire_or_renew()
    clock.advance(16.0)
    # B read the lease, then A renewed before B wrote: B's PUT carries a stale resourceVersion.
    stale = client.stored(Lease, "cm", "kube-system")
    assert await a.try_acquire_or_renew()
    real_get = client.get

    async def stale_get(*args: object, **kwargs: object) -> Lease:
        await real_get(*args, **kwargs)  # type: ignore[arg-type]
        result: Lease = stale
        return result

    client.get = stale_get  # type: ignore[method-assign]
    b._observed_at -= 10  # B believes A's record is old
    assert not await b.try_acquire_or_renew()
    assert client.stored(Lease, "cm", "kube-system").spec.holderIdentity == "a"


async def test_run_loses_leadership_when_renewals_fail() -> None:
    client, clock = FakeClient(), FakeClock()
    a = _elector(client, "a", clock)
    started, stopped = asyncio.Event(), asyncio.Event()
    cancelled = asyncio.Event()

    async def lead() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner = asyncio.create_task(a.run(lead, stopped.set))
    await asyncio.wait_for(started.wait(), 2)
    assert a.is_leader
    renewals = len(client.calls_of("replace", "Lease"))
    for _ in range(3):  # healthy renewals every retry period
        await clock.sleepers(1)
        clock.advance(2.0)
        for _ in range(20):
            await asyncio.sleep(0)
    assert len(client.calls_of("replace", "Lease")) == renewals + 3
    client.fail("get", "Lease", errors.ServiceUnavailable("etcd down"))
    lost_after = await _advance_until_done(clock, runner, 2.0)
    assert stopped.is_set() and cancelled.is_set() and not a.is_leader
    # Lost at the first failed attempt more than renew_deadline_s (10 s) after the last good
    # renewal: attempts every 2 s, so at 12 s.
    assert lost_after == 12.0


async def test_cancel_releases_the_lease_for_a_fast_takeover() -> None:
    client, clock = FakeClient(), FakeClock()
    a, b = _elector(client, "a", clock), _elector(client, "b", clock)
    started = asyncio.Event()

    async def lead() -> None:
        started.set()
        await asyncio.sleep(3600)

    runner = asyncio.create_task(a.run(lead, lambda: None))
    await asyncio.wait_for(started.wait(), 2)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert client.stored(Lease, "cm", "kube-system").spec.holderIdentity is None
    assert await b.try_acquire_or_renew()  # no need to wait for expiry


async def test_a_standby_polls_every_retry_period_and_takes_over_after_the_lease() -> None:
    client, clock = FakeClient(), FakeClock()
    a, b = _elector(client, "a", clock), _elector(client, "b", clock)
    assert await a.try_acquire_or_renew()  # A then dies without releasing
    leading = asyncio.Event()

    async def lead() -> None:
        leading.set()
        await asyncio.sleep(3600)

    runner = asyncio.create_task(b.run(lead, lambda: None))
    waited = 0.0
    while not leading.is_set():
        await clock.sleepers(1)
        clock.advance(2.0)
        waited += 2.0
        for _ in range(20):
            await asyncio.sleep(0)
    assert 15.0 <= waited <= 18.0  # the 15 s lease, observed on B's own clock, then one poll
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
