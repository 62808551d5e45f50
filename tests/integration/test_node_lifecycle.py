"""Node lifecycle at scale with hollow nodes on a real API server, scheduler and
controller-manager (short flags): heartbeat loss -> Unknown + taints -> eviction after the
toleration -> replacements Running elsewhere; the secondary eviction rate when most of the zone
is down; a returning node untainted with its remaining pods; DefaultTolerationSeconds admission.

One module-scoped cluster (private etcd): 50 hollow nodes in one process whose heartbeats are
stopped and resumed through its control file + SIGUSR1, as a user would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from machinery.client import ApiClient
from machinery.clock import parse_time
from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdProcess, spawn_python, stop_process_group, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]

NODES = 50
PREFIX = "hl-"
GRACE_S, PERIOD_S, LEASE_S = 10.0, 1.0, 1.0  # the grace leaves room for a loaded 2-core machine
TOLERATION_S = 3
PRIMARY_RATE, SECONDARY_RATE, LARGE = 5.0, 0.2, 20
UNREACH = "node.kubernetes.io/unreachable"






@dataclass
class Lab:
    api: ApiServerProcess
    hollow: subprocess.Popen[bytes]
    control: Path
    logs: Path

    def stop_heartbeats(self, ranges: str) -> None:
        """Exactly these node index ranges stop heartbeating (the others run)."""
        self.control.write_text(ranges + "\n")
        os.kill(self.hollow.pid, signal.SIGUSR1)

    def log(self, name: str, tail: int | None = 4000) -> str:
        p = self.logs / f"{name}.log"
        text = p.read_text(errors="replace") if p.exists() else ""
        return text[-tail:] if tail else text


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    logs = Path(tempfile.mkdtemp(prefix="kubelite-nodelife-"))
    procs: list[subprocess.Popen[bytes]] = []
    with EtcdProcess() as etcd:
        api = ApiServerProcess(etcd.url, extra_args=(
            "--default-not-ready-toleration-seconds", str(TOLERATION_S),
            "--default-unreachable-toleration-seconds", str(TOLERATION_S)))
        try:
            api.start()
            kc = api.kubeconfig
            procs.append(spawn_python(["-m", "scheduler", "--kubeconfig", kc], logs / "scheduler.log"))
            procs.append(spawn_python([
                "-m", "controllers", "--kubeconfig", kc,
                "--node-monitor-period", str(PERIOD_S), "--node-monitor-grace-period", str(GRACE_S),
                "--node-eviction-rate", str(PRIMARY_RATE), "--secondary-node-eviction-rate", str(SECONDARY_RATE),
                "--large-cluster-size-threshold", str(LARGE), "--pod-gc-quarantine", "1"], logs / "controllers.log"))
            control = logs / "stopped"
            control.write_text("")
            hollow = spawn_python(["-m", "kubelet", "--hollow", "--count", str(NODES), "--prefix", PREFIX,
                             "--run-delay-s", "0.2", "--lease-period-s", str(LEASE_S), "--kubeconfig", kc,
                             "--control-file", str(control)], logs / "hollow.log")
            procs.append(hollow)
            yield Lab(api=api, hollow=hollow, control=control, logs=logs)
        finally:
            for p in reversed(procs):
                stop_process_group(p)
            api.cleanup()
            if os.environ.get("KUBELITE_KEEP_E2E_LOGS"):
                print(f"logs kept in {logs}")
            else:
                shutil.rmtree(logs, ignore_errors=True)


@pytest.fixture
async def client(lab: Lab) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(lab.api.kubeconfig, timeout_s=30.0) as c:
        yield c


async def _nodes(c: ApiClient) -> dict[str, dict[str, Any]]:
    return {n["metadata"]["name"]: n for n in (await c.request("GET", "/api/v1/nodes"))["items"]}


def _ready(node: dict[str, Any]) -> str:
    return next((c["status"] for c in node["status"].get("conditions") or [] if c["type"] == "Ready"), "None")


def _taints(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


async def _pods(c: ApiClient, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await c.request("GET", "/api/v1/namespaces/default/pods",
                                                   params={"labelSelector": selector}))["items"]
    return items


def _running_ready(p: dict[str, Any]) -> bool:
    st = p.get("status") or {}
    return (not p["metadata"].get("deletionTimestamp") and st.get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or []))


def name(i: int) -> str:
    return f"{PREFIX}{i}"


async def _all_ready_untainted(c: ApiClient, lab: Lab) -> None:
    async def ok() -> bool:
        nodes = await _nodes(c)
        return len(nodes) == NODES and all(_ready(n) == "True" and not _taints(n) for n in nodes.values())

    await wait_until(ok, 60, 0.3, message=f"nodes not all Ready\n{lab.log('controllers')}\n{lab.log('hollow')}")


async def _deployment(c: ApiClient, app: str, replicas: int) -> None:
    await c.request("POST", "/apis/apps/v1/namespaces/default/deployments", json={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}}})


async def test_admission_adds_default_tolerations_and_keeps_a_pods_own(client: ApiClient, lab: Lab) -> None:
    plain = await client.request("POST", "/api/v1/namespaces/default/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "adm-plain"},
        "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}], "nodeName": "nowhere"}})
    assert sorted((t["key"], t["effect"], t["tolerationSeconds"]) for t in plain["spec"]["tolerations"]) == [
        ("node.kubernetes.io/not-ready", "NoExecute", TOLERATION_S), (UNREACH, "NoExecute", TOLERATION_S)]
    own = {"key": UNREACH, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 7}
    mine = await client.request("POST", "/api/v1/namespaces/default/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "adm-own"},
        "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}], "nodeName": "nowhere",
                 "tolerations": [own]}})
    tols = mine["spec"]["tolerations"]
    assert [t for t in tols if t["key"] == UNREACH] == [own]
    assert [t["tolerationSeconds"] for t in tols if t["key"] == "node.kubernetes.io/not-ready"] == [TOLERATION_S]
    for n in ("adm-plain", "adm-own"):  # bound to a node that does not exist: the pod GC removes them
        async def gone(pod: str = n) -> bool:
            return not [p for p in await _pods(client, "") if p["metadata"]["name"] == pod]

        await wait_until(gone, 30, 0.3, message=f"pod GC did not remove {n}\n{lab.log('controllers')}")


async def test_ten_of_fifty_nodes_lose_heartbeats(client: ApiClient, lab: Lab) -> None:
    await _all_ready_untainted(client, lab)
    await _deployment(client, "web", 100)
    # A pod that tolerates unreachable forever stays on its node through the outage.
    await client.request("POST", "/api/v1/namespaces/default/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stayer", "labels": {"app": "stayer"}},
        "spec": {"nodeName": name(0), "containers": [{"name": "c", "image": "kubelite/busybox:latest"}],
                 "tolerations": [{"key": UNREACH, "operator": "Exists", "effect": "NoExecute"}]}})

    async def running(n: int, sel: str = "app=web") -> bool:
        return sum(_running_ready(p) for p in await _pods(client, sel)) == n

    await wait_until(lambda: running(100), 90, 0.5, message=f"web not Running\n{lab.log('scheduler')}")
    await wait_until(lambda: running(1, "app=stayer"), 30, 0.3)
    victims = {name(i) for i in range(10)}
    before = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in await _pods(client, "app=web")}
    on_victims = {pn for pn, nn in before.items() if nn in victims}
    assert on_victims, "the scheduler put no pod on the first 10 nodes"
    stayer_uid = (await _pods(client, "app=stayer"))[0]["metadata"]["uid"]

    t0 = time.monotonic()
    lab.stop_heartbeats("0-9")

    async def exactly_victims_unknown() -> bool:
        nodes = await _nodes(client)
        bad = {n for n, node in nodes.items() if _ready(node) == "Unknown"
               and (UNREACH, "NoSchedule") in _taints(node) and (UNREACH, "NoExecute") in _taints(node)}
        return bad == victims

    # Grace + one period to be marked, plus the scheduler of the taint queue; generous for load.
    await wait_until(exactly_victims_unknown, GRACE_S + PERIOD_S + 20, 0.2,
                     message=f"victims not Unknown+tainted\n{lab.log('controllers')}")
    marked_s = time.monotonic() - t0
    nodes = await _nodes(client)
    assert all(_ready(nodes[name(i)]) == "True" and not _taints(nodes[name(i)]) for i in range(10, NODES))
    assert marked_s <= GRACE_S + PERIOD_S + 20
    for i in range(10):  # never before the grace period after the node's last Lease renewal
        lease = await client.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name(i)}")
        renewed = parse_time(lease["spec"]["renewTime"])
        cond = next(x for x in nodes[name(i)]["status"]["conditions"] if x["type"] == "Ready")
        marked = parse_time(cond["lastTransitionTime"])
        assert renewed is not None and marked is not None
        # lastTransitionTime has second precision (truncated): allow one second.
        assert (marked - renewed).total_seconds() >= GRACE_S - 1.0, (name(i), renewed, marked)

    # Their pods: deleted after the toleration, replaced by pods Running on the other nodes.
    async def replaced() -> bool:
        pods = await _pods(client, "app=web")
        live = [p for p in pods if _running_ready(p)]
        return len(live) == 100 and all(p["spec"]["nodeName"] not in victims for p in live)

    await wait_until(replaced, 90, 0.5, message=f"pods not replaced\n{lab.log('controllers')}")
    nodes = await _nodes(client)
    for pod in await _pods(client, "app=web"):
        if pod["metadata"]["name"] in on_victims:  # still Terminating: their kubelet is frozen
            assert pod["metadata"].get("deletionTimestamp"), pod["metadata"]["name"]
            node = nodes[pod["spec"]["nodeName"]]
            added = next(t["timeAdded"] for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
            # deletionTimestamp is the end of the grace period: the eviction came that much earlier.
            deleted_at, added_at = parse_time(pod["metadata"]["deletionTimestamp"]), parse_time(added)
            assert deleted_at is not None and added_at is not None
            waited = ((deleted_at - added_at).total_seconds()
                      - float(pod["metadata"].get("deletionGracePeriodSeconds") or 0))
            assert waited >= TOLERATION_S - 1.0, f"evicted {waited:.1f}s after the taint"
    stayer = (await _pods(client, "app=stayer"))[0]
    assert not stayer["metadata"].get("deletionTimestamp")
    assert not _running_ready(stayer)  # marked Ready=False while its node is unreachable

    # Node 0 comes back: untainted, keeps its remaining pod (Ready again), finishes the evicted.
    lab.stop_heartbeats("1-9")

    async def back() -> bool:
        node = (await _nodes(client))[name(0)]
        pods = await _pods(client, "app=stayer")
        return (_ready(node) == "True" and not _taints(node) and len(pods) == 1
                and _running_ready(pods[0]) and pods[0]["metadata"]["uid"] == stayer_uid)

    await wait_until(back, 30, 0.3, message=f"node 0 not back\n{lab.log('controllers')}\n{lab.log('hollow')}")

    async def finished_on_node0() -> bool:
        return not [p for p in await _pods(client, "app=web") if p["spec"]["nodeName"] == name(0)]

    await wait_until(finished_on_node0, 30, 0.3, message="evicted pods of node 0 not finished off")
    lab.stop_heartbeats("")
    await _all_ready_untainted(client, lab)
    await client.request("DELETE", "/apis/apps/v1/namespaces/default/deployments/web")
    await client.request("DELETE", "/api/v1/namespaces/default/pods/stayer")

    async def cleaned() -> bool:  # the next test starts on a quiet cluster
        return not await _pods(client, "app in (web,stayer)")

    await wait_until(cleaned, 90, 0.5, message="web pods not garbage-collected")


async def test_forty_of_fifty_down_uses_the_secondary_rate(client: ApiClient, lab: Lab) -> None:
    await _all_ready_untainted(client, lab)
    lab.stop_heartbeats(f"10-{NODES - 1}")
    down = {name(i) for i in range(10, NODES)}

    async def all_unknown() -> bool:
        nodes = await _nodes(client)
        return all(_ready(nodes[n]) == "Unknown" for n in down)

    # Generous: a loaded 2-core machine can stall the control plane for a while.
    await wait_until(all_unknown, GRACE_S + 60, 0.2, message=lab.log("controllers"))

    async def tainted() -> int:
        nodes = await _nodes(client)
        return sum((UNREACH, "NoExecute") in _taints(nodes[n]) for n in down)

    # A few nodes may cross the grace period one pass before the rest and be tainted at the
    # primary rate before the zone counts as disrupted (as in Kubernetes); from then on the
    # secondary rate applies. The primary rate (5 nodes/s) would taint all 40 within 8 s.
    await asyncio.sleep(2 * PERIOD_S)
    first = await tainted()
    t0 = time.monotonic()
    assert first <= 15, f"{first} of 40 nodes tainted before the zone state changed"
    await asyncio.sleep(10.0)
    window_s = time.monotonic() - t0
    count = await tainted()
    assert count - first <= 2 + SECONDARY_RATE * window_s, f"{count - first} more tainted in {window_s:.0f}s"
    assert count < len(down)
    assert "PartialDisruption" in lab.log("controllers", tail=None)
    more = count

    async def grows() -> bool:
        return await tainted() > more

    await wait_until(grows, 2 / SECONDARY_RATE + 10, 0.5, message="the secondary rate stopped tainting")
    lab.stop_heartbeats("")
    await _all_ready_untainted(client, lab)


async def test_deleted_node_pods_are_collected_and_recreated(client: ApiClient, lab: Lab) -> None:
    """Runs last: the deleted hollow node does not come back."""
    await _all_ready_untainted(client, lab)
    await _deployment(client, "gone", 20)

    async def running(n: int) -> bool:
        return sum(_running_ready(p) for p in await _pods(client, "app=gone")) == n

    await wait_until(lambda: running(20), 90, 0.5, message=lab.log("scheduler"))
    on_node: dict[str, list[str]] = {}
    for p in await _pods(client, "app=gone"):
        on_node.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    victim = max(on_node, key=lambda n: len(on_node[n]))
    await client.request("DELETE", f"/api/v1/nodes/{victim}")

    async def recreated() -> bool:
        pods = await _pods(client, "app=gone")
        return (not [p for p in pods if p["spec"].get("nodeName") == victim]  # replacements may be unbound
                and sum(_running_ready(p) for p in pods) == 20)

    await wait_until(recreated, 60, 0.3, message=f"pods of {victim} not collected\n{lab.log('controllers')}")

    async def removing_event() -> bool:
        events = (await client.request("GET", "/api/v1/namespaces/default/events"))["items"]
        return any(e["reason"] == "RemovingNode" and e["involvedObject"]["name"] == victim for e in events)

    await wait_until(removing_event, 30, 0.3, message=lab.log("controllers"))
