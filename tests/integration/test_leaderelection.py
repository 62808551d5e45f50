"""Leader election on a real API server: atomic acquisition, and failover between two
controller-manager processes when the leader is killed."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.leaderelection import LeaderElector
from machinery.models import Lease, Pod, ReplicaSet
from tests.integration.test_controllers import ControllerManagerProcess
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def _holder(client: ApiClient, name: str) -> str | None:
    try:
        lease = await client.get(Lease, name, namespace="kube-system")
    except errors.NotFound:
        return None
    return lease.spec.holderIdentity if lease.spec else None


async def test_only_one_of_many_concurrent_candidates_wins(api_client: ApiClient) -> None:
    name = f"le-{uuid.uuid4().hex[:8]}"
    electors = [LeaderElector(api_client, name, identity=f"c{i}", lease_duration_s=5, renew_deadline_s=3,
                              retry_period_s=1) for i in range(6)]
    results = await asyncio.gather(*(e.try_acquire_or_renew() for e in electors))
    assert sum(results) == 1
    winner = electors[results.index(True)].identity
    assert await _holder(api_client, name) == winner
    # Everyone tries again right away: the holder renews, the others still lose.
    results = await asyncio.gather(*(e.try_acquire_or_renew() for e in electors))
    assert [e.identity for e, ok in zip(electors, results, strict=True) if ok] == [winner]


def _cm(apiserver: Any, lease: str, identity: str) -> ControllerManagerProcess:
    return ControllerManagerProcess(
        apiserver.kubeconfig, "--controllers", "replicaset", "--leader-elect",
        "--leader-elect-lease-name", lease, "--identity", identity,
        "--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
        "--leader-elect-retry-period", "0.5")


async def test_standby_takes_over_when_the_leader_dies(apiserver: Any, api_client: ApiClient,
                                                       namespace: str) -> None:
    lease = f"cm-{uuid.uuid4().hex[:8]}"
    first, second = _cm(apiserver, lease, "first"), _cm(apiserver, lease, "second")
    try:
        async def holder_is(who: str) -> bool:
            return await _holder(api_client, lease) == who

        first.start()
        await wait_until(lambda: holder_is("first"), 20, message=first.log_text()[-2000:])

        second.start()
        await asyncio.sleep(2.0)
        assert await holder_is("first")
        assert "running controllers" not in second.log_text()  # the standby does nothing
        first.kill()  # no release: the standby must wait for the lease to expire
        killed_at = time.monotonic()
        await wait_until(lambda: holder_is("second"), 15, message=second.log_text()[-2000:])
        assert time.monotonic() - killed_at < 10
        got = await api_client.get(Lease, lease, namespace="kube-system")
        assert got.spec.leaseTransitions == 1  # type: ignore[union-attr]
        # The new leader really runs the controllers.
        await api_client.create(ReplicaSet.from_dict({
            "metadata": {"name": "after", "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "after"}},
                     "template": {"metadata": {"labels": {"app": "after"}},
                                  "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}}}))

        async def pods() -> bool:
            return len((await api_client.list(Pod, namespace=namespace, label_selector="app=after")).items) == 2

        await wait_until(pods, 20, message=second.log_text()[-2000:])
        # A clean stop releases the lease at once.
        second.stop()
        assert await _holder(api_client, lease) is None
    finally:
        first.cleanup()
        second.cleanup()
