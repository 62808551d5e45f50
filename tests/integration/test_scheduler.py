"""The real scheduler process against the real API server, with hollow nodes as the cluster.

The module runs its own etcd + API server (overriding the session `apiserver` fixture, so
`api_client` and `namespace` follow it): FailedScheduling messages count every node of the
cluster ("0/N nodes are available"), and nodes other test modules leave behind must not
change them. One scheduler subprocess serves the module; each test starts its own hollow-node
process with a unique prefix and deletes its nodes at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from machinery.client import ApiClient
from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdProcess, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def hollow_args() -> list[str]:
    main = ROOT / "kubelet" / "__main__.py"
    if main.exists() and "hollow" in main.read_text():
        return ["-m", "kubelet", "--hollow"]
    return ["-m", "kubelet.hollow"]


@pytest.fixture(scope="module")
def private_etcd() -> Iterator[EtcdProcess]:
    proc = EtcdProcess(name="kubelite-sched-test")
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


@pytest.fixture(scope="module")
def apiserver(private_etcd: EtcdProcess) -> Iterator[ApiServerProcess]:
    server = ApiServerProcess(private_etcd.url)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def scheduler(apiserver: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("scheduler") / "scheduler.log"
    proc = _spawn(["-m", "scheduler", "--kubeconfig", str(apiserver.kubeconfig), "--seed", "1"], log)
    try:
        yield log
    finally:
        _stop(proc)


class Hollow:
    """A hollow-node process for one test; `start()` waits until its nodes are Ready."""

    def __init__(self, client: ApiClient, kubeconfig: str, log_dir: Path) -> None:
        self.client = client
        self.kubeconfig = kubeconfig
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []

    async def start(self, count: int, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110") -> list[str]:
        prefix = f"h{uuid.uuid4().hex[:6]}-"
        args = [*hollow_args(), "--count", str(count), "--prefix", prefix, "--run-delay-s", "0.2"]
        args += ["--cpu", cpu, "--memory", memory, "--pods", pods, "--kubeconfig", self.kubeconfig, "--delete-on-exit"]
        self.procs.append(_spawn(args, self.log_dir / f"{prefix}log"))
        names = [f"{prefix}{i}" for i in range(count)]
        self.names += names

        async def registered() -> bool:
            data = await self.client.request("GET", "/api/v1/nodes")
            have = {n["metadata"]["name"] for n in data["items"]}
            return set(names) <= have

        await wait_until(registered, timeout_s=20, message=f"hollow nodes {names} never registered")
        return names

    def stop(self) -> None:
        for p in self.procs:
            _stop(p)


@pytest.fixture
async def hollow(
    apiserver: Any, api_client: ApiClient, scheduler: Path, tmp_path: Path
) -> AsyncIterator[Hollow]:
    h = Hollow(api_client, str(apiserver.kubeconfig), tmp_path)
    try:
        yield h
    finally:
        h.stop()
        for name in h.names:  # in case the process died before it could clean up
            with contextlib.suppress(Exception):
                await api_client.request("DELETE", f"/api/v1/nodes/{name}")


def ns_name(namespace: Any) -> str:
    return namespace if isinstance(namespace, str) else str(getattr(namespace, "name", namespace))


def pod_body(name: str, *, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "kubelite/busybox:latest", "resources": {"requests": {"cpu": cpu}}}
    if "host_port" in spec:
        container["ports"] = [{"containerPort": 80, "hostPort": spec.pop("host_port")}]
    labels = spec.pop("labels", None)
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    if "owner" in spec:
        meta["ownerReferences"] = [spec.pop("owner")]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [container], **spec}}


async def create_pod(client: ApiClient, ns: str, body: dict[str, Any]) -> None:
    await client.request("POST", f"/api/v1/namespaces/{ns}/pods", json=body)


async def get_pod(client: ApiClient, ns: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = await client.request("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
    return result


async def node_of(client: ApiClient, ns: str, name: str, timeout_s: float = 15) -> str:
    async def bound() -> bool:
        return bool((await get_pod(client, ns, name))["spec"].get("nodeName"))

    await wait_until(bound, timeout_s=timeout_s, message=f"pod {ns}/{name} never bound")
    return str((await get_pod(client, ns, name))["spec"]["nodeName"])


async def failed_scheduling(
    client: ApiClient, ns: str, name: str, expect: str | None = None, timeout_s: float = 15
) -> str:
    """Wait for the pod's FailedScheduling event (with message `expect`, if given: the
    scheduler's node cache may still hold a node deleted a moment ago) and return its message."""
    found: list[str] = []

    async def has_event() -> bool:
        data = await client.request("GET", f"/api/v1/namespaces/{ns}/events")
        found[:] = [
            e["message"]
            for e in data["items"]
            if e["involvedObject"]["name"] == name and e["reason"] == "FailedScheduling"
        ]
        return bool(found) if expect is None else expect in found

    try:
        await wait_until(has_event, timeout_s=timeout_s)
    except AssertionError:
        raise AssertionError(f"no FailedScheduling event {expect!r} for {name}; seen: {found}") from None
    return expect if expect is not None else found[-1]


async def all_node_names(client: ApiClient) -> list[str]:
    data = await client.request("GET", "/api/v1/nodes")
    return [n["metadata"]["name"] for n in data["items"]]


def merge(d: dict[str, Any]) -> dict[str, Any]:
    return {"json": d, "headers": {"Content-Type": "application/merge-patch+json"}}


# ---- tests ---------------------------------------------------------------------------------
async def test_replicas_of_one_owner_spread_and_run(hollow: Hollow, api_client: ApiClient, namespace: Any) -> None:
    ns = ns_name(namespace)
    nodes = await hollow.start(3)
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": str(uuid.uuid4()), "controller": True}
    for i in range(6):
        await create_pod(api_client, ns, pod_body(f"web-{i}", owner=dict(owner)))
    placed = [await node_of(api_client, ns, f"web-{i}") for i in range(6)]
    assert sorted(placed) == sorted(nodes * 2), placed  # two per node, none doubled up

    async def running() -> bool:
        return bool((await get_pod(api_client, ns, "web-0")).get("status", {}).get("phase") == "Running")

    await wait_until(running, timeout_s=15, message="hollow node never ran web-0")
    data = await api_client.request("GET", f"/api/v1/namespaces/{ns}/events")
    scheduled = [e for e in data["items"] if e["reason"] == "Scheduled" and e["involvedObject"]["name"] == "web-0"]
    assert scheduled and scheduled[0]["message"] == f"Successfully assigned {ns}/web-0 to {placed[0]}"


async def test_node_selector(hollow: Hollow, api_client: ApiClient, namespace: Any) -> None:
    ns = ns_name(namespace)
    _a, b = await hollow.start(2)
    await api_client.request("PATCH", f"/api/v1/nodes/{b}", **merge({"metadata": {"labels": {"disk": "ssd"}}}))
    for i in range(3):
        await create_pod(api_client, ns, pod_body(f"ssd-{i}", nodeSelector={"disk": "ssd"}))
    assert {await node_of(api_client, ns, f"ssd-{i}") for i in range(3)} == {b}
    await create_pod(api_client, ns, pod_body("nvme", nodeSelector={"disk": "nvme"}))
    await failed_scheduling(api_client, ns, "nvme", "0/2 nodes are available: 2 node(s) didn't match node selector.")


async def test_taints_and_tolerations(hollow: Hollow, api_client: ApiClient, namespace: Any) -> None:
    ns = ns_name(namespace)
    (tainted,) = await hollow.start(1)
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    await api_client.request("PATCH", f"/api/v1/nodes/{tainted}", **merge({"spec": {"taints": [taint]}}))
    await asyncio.sleep(0.3)  # let the scheduler's node informer see the taint
    await create_pod(api_client, ns, pod_body("plain"))
    await failed_scheduling(
        api_client, ns, "plain", "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}."
    )
    tol = [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
    await create_pod(api_client, ns, pod_body("tolerant", tolerations=tol))
    assert await node_of(api_client, ns, "tolerant") == tainted
    pod = await get_pod(api_client, ns, "plain")
    assert not pod["spec"].get("nodeName")


async def test_insufficient_then_scheduled_when_node_added(
    hollow: Hollow, api_client: ApiClient, namespace: Any
) -> None:
    ns = ns_name(namespace)
    small = await hollow.start(2, cpu="1")
    await create_pod(api_client, ns, pod_body("big", cpu="3"))
    assert set(await all_node_names(api_client)) == set(small)
    msg = await failed_scheduling(api_client, ns, "big", "0/2 nodes are available: 2 Insufficient cpu.")

    async def condition_says_so() -> bool:
        pod = await get_pod(api_client, ns, "big")
        conds = [c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"]
        return bool(conds) and conds[0].get("message") == msg

    await wait_until(condition_says_so, timeout_s=10, message="PodScheduled condition never carried the message")
    pod = await get_pod(api_client, ns, "big")
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
    data = await api_client.request("GET", f"/api/v1/namespaces/{ns}/events")
    ev = next(e for e in data["items"] if e["reason"] == "FailedScheduling")
    assert ev["type"] == "Warning" and ev["involvedObject"]["kind"] == "Pod"
    assert ev.get("reportingComponent") == "default-scheduler"
    (big,) = await hollow.start(1, cpu="8")
    assert await node_of(api_client, ns, "big", timeout_s=10) == big


async def test_cordoned_node_is_skipped(hollow: Hollow, api_client: ApiClient, namespace: Any) -> None:
    ns = ns_name(namespace)
    a, b = await hollow.start(2)
    await api_client.request("PATCH", f"/api/v1/nodes/{a}", **merge({"spec": {"unschedulable": True}}))
    await asyncio.sleep(0.3)
    for i in range(4):
        await create_pod(api_client, ns, pod_body(f"p{i}"))
    assert {await node_of(api_client, ns, f"p{i}") for i in range(4)} == {b}


async def test_host_port_conflict(hollow: Hollow, api_client: ApiClient, namespace: Any) -> None:
    ns = ns_name(namespace)
    a, b = await hollow.start(2)
    for i in range(2):
        await create_pod(api_client, ns, pod_body(f"hp{i}", host_port=8080))
    assert {await node_of(api_client, ns, "hp0"), await node_of(api_client, ns, "hp1")} == {a, b}
    await create_pod(api_client, ns, pod_body("hp2", host_port=8080))
    await failed_scheduling(
        api_client, ns, "hp2", "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
    )


async def test_higher_priority_wins_the_only_slot(hollow: Hollow, api_client: ApiClient, namespace: Any) -> None:
    ns = ns_name(namespace)
    # The priority admission computes spec.priority from a PriorityClass (a bare priority is 403).
    high = f"high-{ns}"
    await api_client.request("POST", "/apis/scheduling.k8s.io/v1/priorityclasses",
                             json={"metadata": {"name": high}, "value": 1000})
    try:
        await create_pod(api_client, ns, pod_body("low", cpu="3"))
        await create_pod(api_client, ns, pod_body("high", cpu="3", priorityClassName=high))
        await failed_scheduling(api_client, ns, "low")
        await failed_scheduling(api_client, ns, "high")
        (node,) = await hollow.start(1, cpu="4")
        assert await node_of(api_client, ns, "high", timeout_s=10) == node
        await asyncio.sleep(1.0)
        assert not (await get_pod(api_client, ns, "low"))["spec"].get("nodeName")
    finally:
        await api_client.request("DELETE", f"/apis/scheduling.k8s.io/v1/priorityclasses/{high}")


async def test_survives_api_server_restart(
    apiserver_factory: Any, private_etcd: EtcdProcess, namespace: Any, tmp_path: Path
) -> None:
    """A private API server (same etcd) is restarted under a running scheduler: pods created
    afterwards are still scheduled (informers resume, bindings retried). A scheduler name of
    its own keeps the module's scheduler away from these pods."""
    ns = ns_name(namespace)
    server = apiserver_factory(private_etcd.url)
    sched = _spawn(
        ["-m", "scheduler", "--kubeconfig", server.kubeconfig, "--scheduler-name", "restart-test"], tmp_path / "s.log"
    )
    async with ApiClient.from_kubeconfig(server.kubeconfig, timeout_s=20) as client:
        h = Hollow(client, server.kubeconfig, tmp_path)
        try:
            (node,) = await h.start(1)
            await create_pod(client, ns, pod_body("before", schedulerName="restart-test"))
            assert await node_of(client, ns, "before") == node
            await asyncio.to_thread(server.restart)
            await create_pod(client, ns, pod_body("after", schedulerName="restart-test"))
            assert await node_of(client, ns, "after", timeout_s=30) == node
        finally:
            _stop(sched)
            h.stop()
            for name in h.names:
                with contextlib.suppress(Exception):
                    await client.request("DELETE", f"/api/v1/nodes/{name}")


async def test_leader_election_hands_over(
    apiserver: Any, api_client: ApiClient, hollow: Hollow, namespace: Any, tmp_path: Path
) -> None:
    """Two schedulers with --leader-elect: one holds the Lease and schedules; when it stops
    (releasing the Lease) the other takes over and schedules the next pod."""
    ns = ns_name(namespace)
    name = f"le-{uuid.uuid4().hex[:6]}"
    args = ["-m", "scheduler", "--kubeconfig", str(apiserver.kubeconfig), "--scheduler-name", name, "--leader-elect"]
    procs = [_spawn(args, tmp_path / f"le{i}.log") for i in range(2)]
    try:
        (node,) = await hollow.start(1)
        await create_pod(api_client, ns, pod_body("first", schedulerName=name))
        assert await node_of(api_client, ns, "first", timeout_s=20) == node
        lease = await api_client.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}")
        holder = lease["spec"]["holderIdentity"]
        leader = next(p for p in procs if holder.endswith(f"_{p.pid}"))
        _stop(leader)
        await create_pod(api_client, ns, pod_body("second", schedulerName=name))
        assert await node_of(api_client, ns, "second", timeout_s=20) == node
        lease = await api_client.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}")
        assert lease["spec"]["holderIdentity"] != holder
    finally:
        for p in procs:
            _stop(p)


async def test_preemption_evicts_the_lowest_priority_pods(hollow: Hollow, api_client: ApiClient,
                                                          namespace: Any) -> None:
    ns = ns_name(namespace)
    classes = {f"low-{ns}": (100, None), f"mid-{ns}": (500, None), f"high-{ns}": (1000, None),
               f"never-{ns}": (2000, "Never")}
    for name, (value, policy) in classes.items():
        body: dict[str, Any] = {"metadata": {"name": name}, "value": value}
        if policy:
            body["preemptionPolicy"] = policy
        await api_client.request("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", json=body)
    try:
        a, b = await hollow.start(2, cpu="2")
        placed = {"low1": (a, "low"), "low2": (a, "low"), "mid1": (b, "mid"), "low3": (b, "low")}
        for pod, (node, cls) in placed.items():
            await create_pod(api_client, ns, pod_body(pod, cpu="1", nodeName=node, priorityClassName=f"{cls}-{ns}",
                                                      terminationGracePeriodSeconds=1))
        # Never preempts: stays pending, nothing evicted.
        await create_pod(api_client, ns, pod_body("polite", cpu="2", priorityClassName=f"never-{ns}"))
        await failed_scheduling(api_client, ns, "polite", "0/2 nodes are available: 2 Insufficient cpu.")
        assert not (await get_pod(api_client, ns, "polite"))["status"].get("nominatedNodeName")
        await api_client.request("DELETE", f"/api/v1/namespaces/{ns}/pods/polite")
        # 2 cpu: node a frees them by evicting two priority-100 pods, node b would evict a 500.
        await create_pod(api_client, ns, pod_body("urgent", cpu="2", priorityClassName=f"high-{ns}"))
        assert await node_of(api_client, ns, "urgent", timeout_s=30) == a
        urgent = await get_pod(api_client, ns, "urgent")
        assert urgent["status"].get("nominatedNodeName") == a
        names = {p["metadata"]["name"] for p in (await api_client.request("GET", f"/api/v1/namespaces/{ns}/pods"))["items"]}
        assert names == {"mid1", "low3", "urgent"}
        events = (await api_client.request("GET", f"/api/v1/namespaces/{ns}/events"))["items"]
        preempted = {e["involvedObject"]["name"]: e["message"] for e in events if e["reason"] == "Preempted"}
        uid = urgent["metadata"]["uid"]
        assert preempted == {"low1": f"Preempted by pod {uid} on node {a}", "low2": f"Preempted by pod {uid} on node {a}"}
    finally:
        for name in classes:
            await api_client.request("DELETE", f"/apis/scheduling.k8s.io/v1/priorityclasses/{name}")
