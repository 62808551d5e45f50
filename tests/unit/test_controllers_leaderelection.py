"""LeaderElector against the recording fake client (fast durations, real clock)."""

from __future__ import annotations

import asyncio

from machinery import errors
from machinery.leaderelection import LeaderElector
from machinery.models import Lease
from tests.unit.fake_client import FakeClient

# leaseDurationSeconds is an integer on the wire: 1 s is the shortest lease there is.
FAST = {"lease_duration_s": 1.0, "renew_deadline_s": 0.5, "retry_period_s": 0.1}


def _elector(client: FakeClient, identity: str) -> LeaderElector:
    return LeaderElector(client, "cm", namespace="kube-system", identity=identity, **FAST)


async def test_first_acquires_second_waits_for_expiry_then_takes_over() -> None:
    client = FakeClient()
    a, b = _elector(client, "a"), _elector(client, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # A's record just observed
    assert await a.try_acquire_or_renew()  # renewal
    assert not await b.try_acquire_or_renew()  # renewed record: B's clock restarts
    await asyncio.sleep(1.05)
    assert await b.try_acquire_or_renew()
    lease = client.stored(Lease, "cm", "kube-system")
    assert lease.spec.holderIdentity == "b" and lease.spec.leaseTransitions == 1  # type: ignore[union-attr]
    assert not await a.try_acquire_or_renew()  # B holds it now


async def test_concurrent_writes_lose_on_conflict() -> None:
    client = FakeClient()
    a, b = _elector(client, "a"), _elector(client, "b")
    assert await a.try_acquire_or_renew()
    await asyncio.sleep(1.05)
    # B read the lease, then A renewed before B wrote: B's PUT carries a stale resourceVersion.
    stale = client.stored(Lease, "cm", "kube-system")
    assert await a.try_acquire_or_renew()
    real_get = client.get

    async def stale_get(*args: object, **kwargs: object) -> Lease:
        await real_get(*args, **kwargs)  # type: ignore[arg-type]
        return stale

    client.get = stale_get  # type: ignore[method-assign]
    b._observed_at -= 10  # B believes A's record is old
    assert not await b.try_acquire_or_renew()
    assert client.stored(Lease, "cm", "kube-system").spec.holderIdentity == "a"  # type: ignore[union-attr]


async def test_run_loses_leadership_when_renewals_fail() -> None:
    client = FakeClient()
    a = _elector(client, "a")
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
    client.fail("get", "Lease", errors.ServiceUnavailable("etcd down"))
    await asyncio.wait_for(runner, 2)
    assert stopped.is_set() and cancelled.is_set() and not a.is_leader


async def test_cancel_releases_the_lease_for_a_fast_takeover() -> None:
    client = FakeClient()
    a, b = _elector(client, "a"), _elector(client, "b")
    started = asyncio.Event()

    async def lead() -> None:
        started.set()
        await asyncio.sleep(3600)

    runner = asyncio.create_task(a.run(lead, lambda: None))
    await asyncio.wait_for(started.wait(), 2)
    runner.cancel()
    try:
        await runner
    except asyncio.CancelledError:
        pass
    assert client.stored(Lease, "cm", "kube-system").spec.holderIdentity is None  # type: ignore[union-attr]
    assert await b.try_acquire_or_renew()  # no need to wait for expiry
