"""Node lifecycle on real Docker: a frozen kubelet (SIGSTOP) makes its node Unknown and tainted
and its pods not Ready; after SIGCONT the node is Ready again, untainted, and every pod is still
there (same uid, same containers), Ready again. One node is the whole cluster, so (as in
Kubernetes) the controller is in "every zone down" mode: no NoExecute taint, no eviction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from machinery.client import ApiClient
from tests.e2e.conftest import Cluster, is_ready, run_cluster
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 6.0  # the fixture's kubelet heartbeats every 2 s
UNREACH = "node.kubernetes.io/unreachable"
POD_UID = "io.kubernetes.pod.uid"


@pytest.fixture(scope="module")
def lifecycle_cluster() -> Iterator[Cluster]:
    with run_cluster(control_plane=True, controller_args=(
            "--node-monitor-period", "1", "--node-monitor-grace-period", str(GRACE_S))) as c:
        yield c


@pytest.fixture
async def api(lifecycle_cluster: Cluster) -> AsyncIterator[ApiClient]:
    client = lifecycle_cluster.client()
    try:
        yield client
    finally:
        await client.aclose()


def kubelite(c: Cluster, *args: str) -> str:
    out = subprocess.run([str(Path(sys.executable).parent / "kubelite"), "--kubeconfig", str(c.kubeconfig), *args],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


async def _node(api: ApiClient, c: Cluster) -> dict[str, Any]:
    node: dict[str, Any] = await api.request("GET", f"/api/v1/nodes/{c.node}")
    return node


def _ready(node: dict[str, Any]) -> str:
    return next((x["status"] for x in node["status"].get("conditions") or [] if x["type"] == "Ready"), "None")


def _taints(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


async def _pods(api: ApiClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.request("GET", "/api/v1/namespaces/default/pods",
                                                     params={"labelSelector": "app=frozen"}))["items"]
    return items


async def test_sigstop_kubelet_unknown_then_ready_without_losing_pods(lifecycle_cluster: Cluster,
                                                                     api: ApiClient) -> None:
    c = lifecycle_cluster
    await api.request("POST", "/apis/apps/v1/namespaces/default/deployments", json={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "frozen"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "frozen"}},
                 "template": {"metadata": {"labels": {"app": "frozen"}},
                              "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                  {"name": "c", "image": "kubelite/busybox:latest", "command": ["sleep", "3600"]}]}}}})

    async def both_ready() -> bool:
        pods = await _pods(api)
        return len(pods) == 2 and all(is_ready(p) for p in pods)

    # A bare pod deleted while the kubelet is frozen: the returning kubelet removes its containers.
    doomed = c.pod("doomed", [{"name": "c", "image": "kubelite/busybox:latest", "command": ["sleep", "3600"]}])
    doomed_uid = (await api.request("POST", "/api/v1/namespaces/default/pods", json=doomed))["metadata"]["uid"]
    await wait_until(both_ready, 90, 0.3, message=c.logs())

    async def doomed_running() -> bool:
        pod = await api.request("GET", "/api/v1/namespaces/default/pods/doomed")
        return is_ready(pod)

    await wait_until(doomed_running, 60, 0.3, message=c.logs())
    before = {p["metadata"]["uid"] for p in await _pods(api)}
    containers = {ct.id for ct in c.docker_containers() if ct.labels.get(POD_UID) != doomed_uid}
    assert c.docker_containers(**{POD_UID: doomed_uid})
    assert c.kubelet.popen is not None
    pid = c.kubelet.popen.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        async def unknown() -> bool:
            node = await _node(api, c)
            return _ready(node) == "Unknown" and (UNREACH, "NoSchedule") in _taints(node)

        await wait_until(unknown, GRACE_S + 30, 0.3, message=c.logs())
        node = await _node(api, c)
        assert (UNREACH, "NoExecute") not in _taints(node)  # the whole cluster is down: no eviction

        async def pods_not_ready() -> bool:
            pods = await _pods(api)
            return len(pods) == 2 and not any(is_ready(p) for p in pods)

        await wait_until(pods_not_ready, 20, 0.3, message=c.logs())
        table = kubelite(c, "get", "nodes")
        assert table.splitlines()[1].split()[:2] == [c.node, "Unknown"], table
        desc = kubelite(c, "describe", "node", c.node)
        assert f"{UNREACH}:NoSchedule" in desc and "NodeStatusUnknown" in desc and "NodeNotReady" in desc, desc
        assert "LastHeartbeatTime" in desc and "RegisteredNode" in desc, desc
        await api.request("DELETE", "/api/v1/namespaces/default/pods/doomed", json={"gracePeriodSeconds": 0})
    finally:
        os.kill(pid, signal.SIGCONT)

    async def back() -> bool:
        node = await _node(api, c)
        return _ready(node) == "True" and not _taints(node)

    await wait_until(back, 60, 0.3, message=c.logs())
    await wait_until(both_ready, 60, 0.3, message=c.logs())
    assert {p["metadata"]["uid"] for p in await _pods(api)} == before  # no pod lost or replaced
    assert {ct.id for ct in c.docker_containers() if ct.labels.get(POD_UID) != doomed_uid} == containers

    async def doomed_cleaned() -> bool:  # not even a container restarted, and the deleted pod's removed
        return not c.docker_containers(**{POD_UID: doomed_uid})

    await wait_until(doomed_cleaned, 60, 0.5, message=c.logs())
    assert kubelite(c, "get", "nodes").splitlines()[1].split()[:2] == [c.node, "Ready"]
