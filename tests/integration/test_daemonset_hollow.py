"""DaemonSet controller process + scheduler process + hollow nodes on a private etcd and API server:
exactly one pod per eligible node, through joins and relabelling."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from machinery.client import ApiClient
from tests.integration.conftest import ApiServerProcess
from tests.integration.test_controllers import ControllerManagerProcess
from tests.integration.test_scheduler import Hollow, _spawn, _stop
from tests.support import EtcdProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
NODES = 100
SELECTOR = {"kubelite.io/hollow": "true"}


@pytest.fixture(scope="module")
def private_apiserver() -> Iterator[ApiServerProcess]:
    etcd = EtcdProcess(name="kubelite-ds-test")
    etcd.start()
    server = ApiServerProcess(etcd.url)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
        etcd.cleanup()


@pytest.fixture
async def cluster(private_apiserver: ApiServerProcess, tmp_path: Path) -> AsyncIterator[tuple[ApiClient, Hollow]]:
    sched = _spawn(["-m", "scheduler", "--kubeconfig", private_apiserver.kubeconfig], tmp_path / "scheduler.log")
    cm = ControllerManagerProcess(private_apiserver.kubeconfig, "--controllers", "daemonset").start()
    async with ApiClient.from_kubeconfig(private_apiserver.kubeconfig, timeout_s=30.0) as client:
        hollow = Hollow(client, private_apiserver.kubeconfig, tmp_path)
        try:
            yield client, hollow
        finally:
            hollow.stop()
            cm.cleanup()
            _stop(sched)


def _ds_body() -> dict[str, Any]:
    labels = {"app": "agent"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"nodeSelector": SELECTOR,
                                           "containers": [{"name": "c", "image": "kubelite/busybox:latest",
                                                           "resources": {"requests": {"cpu": "10m"}}}]}}}}


async def _placement(client: ApiClient) -> Counter[str]:
    """Node name -> number of live DaemonSet pods bound there ("" = not bound yet)."""
    data = await client.request("GET", "/api/v1/namespaces/default/pods", params={"labelSelector": "app=agent"})
    return Counter((p["spec"].get("nodeName") or "") for p in data["items"]
                   if not p["metadata"].get("deletionTimestamp"))


async def _wait_one_per_node(client: ApiClient, nodes: set[str], timeout_s: float) -> None:
    async def exact() -> bool:
        placed = await _placement(client)
        return set(placed) == nodes and all(n == 1 for n in placed.values())

    await wait_until(exact, timeout_s=timeout_s, message=f"not exactly one pod on each of {len(nodes)} nodes")


async def test_one_pod_per_hollow_node_through_join_and_relabel(cluster: tuple[ApiClient, Hollow]) -> None:
    client, hollow = cluster
    names = await hollow.start(NODES, pods="110")
    await client.request("POST", "/apis/apps/v1/namespaces/default/daemonsets", json=_ds_body())
    await _wait_one_per_node(client, set(names), timeout_s=120)

    async def status_settled(desired: int) -> bool:
        ds = await client.request("GET", "/apis/apps/v1/namespaces/default/daemonsets/agent")
        st = ds.get("status") or {}
        return (st.get("desiredNumberScheduled"), st.get("currentNumberScheduled"), st.get("numberReady"),
                st.get("updatedNumberScheduled"), st.get("numberMisscheduled")) == (desired, desired, desired,
                                                                                  desired, 0)

    await wait_until(lambda: status_settled(NODES), timeout_s=60, message="DaemonSet status never settled at 100")

    joined = await hollow.start(1)
    await _wait_one_per_node(client, {*names, *joined}, timeout_s=60)

    patch = {"metadata": {"labels": {"kubelite.io/hollow": "false"}}}
    await client.request("PATCH", f"/api/v1/nodes/{names[0]}", json=patch,
                         headers={"Content-Type": "application/merge-patch+json"})
    await _wait_one_per_node(client, {*names[1:], *joined}, timeout_s=60)
    await wait_until(lambda: status_settled(NODES), timeout_s=60, message="DaemonSet status never settled again")
    await asyncio.sleep(1.0)  # nothing more happens: still exactly one pod on each eligible node
    placed = await _placement(client)
    assert sum(placed.values()) == NODES and names[0] not in placed
