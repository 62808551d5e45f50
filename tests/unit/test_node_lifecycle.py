"""Node lifecycle controller: pure helpers, and monitor/taint passes on preloaded caches with a
fake clock and the recording fake client."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.nodehealth import (
    FULL,
    NORMAL,
    PARTIAL,
    TaintQueue,
    TokenBucket,
    condition_taints,
    mark_unknown,
    zone_key,
    zone_state,
)
from controllers.nodelifecycle import NodeLifecycleController
from controllers.options import ControllerOptions, parse_duration_s
from machinery.clock import FakeClock, format_micro_time, format_time
from machinery.models import Lease, Node, Pod
from tests.unit.builders import make_context, make_pod, preload
from tests.unit.fake_client import FakeClient

# -- pure helpers ------------------------------------------------------------------------------


def test_condition_taints_follow_kubernetes_map() -> None:
    conds = [{"type": "Ready", "status": "Unknown"}, {"type": "MemoryPressure", "status": "True"},
             {"type": "DiskPressure", "status": "False"}]
    assert condition_taints(conds, unschedulable=True) == [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    assert condition_taints([{"type": "Ready", "status": "False"}], unschedulable=False) == [
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
    assert condition_taints([{"type": "Ready", "status": "True"}], unschedulable=False) == []


def test_mark_unknown_keeps_heartbeat_and_adds_missing() -> None:
    conds = [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "h",
              "lastTransitionTime": "t"}]
    out = mark_unknown(conds, now="NOW", creation="C")
    ready = out[0]
    assert (ready["status"], ready["reason"], ready["lastHeartbeatTime"], ready["lastTransitionTime"]) == (
        "Unknown", "NodeStatusUnknown", "h", "NOW")
    assert ready["message"] == "Kubelet stopped posting node status."
    assert [(c["type"], c["reason"]) for c in out[1:]] == [
        ("MemoryPressure", "NodeStatusNeverUpdated"), ("DiskPressure", "NodeStatusNeverUpdated"),
        ("PIDPressure", "NodeStatusNeverUpdated")]
    assert conds[0]["status"] == "True"  # input untouched
    again = mark_unknown(out, now="LATER", creation="C")
    assert again[0]["lastTransitionTime"] == "NOW"  # already Unknown: no new transition


def test_zone_key_and_state() -> None:
    assert zone_key({}) == ""
    assert zone_key({"topology.kubernetes.io/zone": "a"}) == ":\x00:a"
    assert zone_key({"topology.kubernetes.io/region": "r", "failure-domain.beta.kubernetes.io/zone": "b"}) == "r:\x00:b"
    assert zone_state(["True"] * 5, 0.55) == (0, NORMAL)
    assert zone_state(["Unknown", "Unknown", "True"], 0.55) == (2, NORMAL)  # needs more than 2
    assert zone_state(["Unknown"] * 3 + ["True"] * 2, 0.55) == (3, PARTIAL)
    assert zone_state(["Unknown"] * 3 + ["True"] * 3, 0.55) == (3, NORMAL)  # 50% < 55%
    assert zone_state(["Unknown", None], 0.55) == (2, FULL)


def test_token_bucket_and_taint_queue() -> None:
    b = TokenBucket(2.0, now_s=0.0)
    assert b.try_accept(0.0) and not b.try_accept(0.1) and b.try_accept(0.5)
    assert not TokenBucket(0.0, now_s=0.0).try_accept(100.0)
    q = TaintQueue(1.0, now_s=0.0)
    assert q.add("a", 0.0) and q.add("b", 0.0) and not q.add("a", 0.0)
    assert q.take(0.0) == ["a"]
    assert q.take(0.5) == []
    assert q.take(1.0) == ["b"]
    assert not q.add("a", 1.0)  # processed names stay known until removed
    q.remove("a")
    assert q.add("a", 2.0)
    q.swap_rate(0.0, 3.0)
    assert q.take(100.0) == []
    q.swap_rate(0.5, 100.0)
    assert q.take(100.0) == ["a"]


@pytest.mark.parametrize(("text", "seconds"), [("5", 5.0), ("5s", 5.0), ("500ms", 0.5), ("1m30s", 90.0),
                                               ("0.5", 0.5), ("1h", 3600.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "s", "1m5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_s(text)


# -- the controller ----------------------------------------------------------------------------

GRACE_S = 40.0


def _node(name: str, clock: FakeClock, *, ready: str = "True", zone: str | None = None,
          taints: list[dict[str, Any]] | None = None) -> Node:
    stamp = format_time(clock.now())
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return Node.from_dict({
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "labels": labels,
                     "creationTimestamp": stamp},
        "spec": {"taints": taints} if taints else {},
        "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": stamp,
                                   "lastTransitionTime": stamp}]}})


def _lease(name: str, clock: FakeClock) -> Lease:
    return Lease.from_dict({"metadata": {"name": name, "namespace": "kube-node-lease", "resourceVersion": "1"},
                            "spec": {"holderIdentity": name, "renewTime": format_micro_time(clock.now())}})


class Harness:
    def __init__(self, nodes: int, *, zone: str | None = None, **opts: Any) -> None:
        self.clock = FakeClock()
        self.client = FakeClient(namespace="ns1")
        ctx = make_context(self.client)
        ctx.options = ControllerOptions(node_monitor_grace_period_s=GRACE_S, **opts)
        self.ctl = NodeLifecycleController(ctx, clock=self.clock)
        self.names = [f"n{i}" for i in range(nodes)]
        objs = [_node(n, self.clock, zone=zone) for n in self.names]
        self.client.add(*objs)
        preload(self.ctl.nodes, *objs)
        preload(self.ctl.pods)
        self.renew(*self.names)

    def renew(self, *names: str) -> None:
        leases = [_lease(n, self.clock) for n in names]
        self.client.add(*leases)
        preload(self.ctl.leases, *leases)

    def refresh(self) -> None:
        """The informers catch up with what the controller wrote."""
        preload(self.ctl.nodes, *[self.client.stored(Node, n) for n in self.names])
        pods = [p for p in (self.client.stored(Pod, k[2], k[1]) for k in self.client.objects if k[0] == "Pod")]
        preload(self.ctl.pods, *pods)

    def ready(self, name: str) -> str:
        node = self.client.stored(Node, name)
        result: str = next(c.status for c in node.status.conditions if c.type == "Ready")
        return result

    def taints(self, name: str) -> set[tuple[str, str]]:
        node = self.client.stored(Node, name)
        return {(t.key, t.effect) for t in (node.spec.taints or [])}

    async def pass_(self, advance_s: float = 5.0, *, alive: list[str] | None = None) -> None:
        self.clock.advance(advance_s)
        self.renew(*(alive if alive is not None else []))
        await self.ctl.monitor_once()
        self.refresh()
        await self.ctl.taint_pass()
        self.refresh()


UNREACH_NX = ("node.kubernetes.io/unreachable", "NoExecute")


async def test_lease_renewals_keep_a_node_ready_and_silence_marks_it_unknown() -> None:
    h = Harness(2)
    pod = make_pod("p1", node="n1", ready=True)
    h.client.add(pod)
    preload(h.ctl.pods, pod)
    await h.pass_(0.0, alive=h.names)
    assert [c.body["reason"] for c in h.client.calls_of("create", "Event")] == ["RegisteredNode"] * 2
    for _ in range(9):  # 45 s: n0 renews its lease (status heartbeat never changes), n1 is silent
        await h.pass_(5.0, alive=["n0"])
    assert h.ready("n0") == "True" and h.ready("n1") == "Unknown"
    assert not h.taints("n1") - {("node.kubernetes.io/unreachable", "NoSchedule")}
    node = h.client.stored(Node, "n1")
    assert {c.type: (c.status, c.reason) for c in node.status.conditions} == {
        "Ready": ("Unknown", "NodeStatusUnknown"), "MemoryPressure": ("Unknown", "NodeStatusNeverUpdated"),
        "DiskPressure": ("Unknown", "NodeStatusNeverUpdated"), "PIDPressure": ("Unknown", "NodeStatusNeverUpdated")}
    reasons = [c.body["reason"] for c in h.client.calls_of("create", "Event")]
    assert reasons.count("NodeNotReady") == 2  # the node's, and the pod's "Node is not ready"
    stored = h.client.stored(Pod, "p1", "ns1")
    assert [(c.type, c.status) for c in stored.status.conditions] == [("Ready", "False")]
    # One pass later (Kubernetes' order) the unreachable NoExecute taint is added.
    await h.ctl.sync("n1")  # the NoSchedule taint, from the node update event
    assert h.taints("n1") == {("node.kubernetes.io/unreachable", "NoSchedule")}
    await h.pass_(5.0, alive=["n0"])
    assert h.taints("n1") == {UNREACH_NX, ("node.kubernetes.io/unreachable", "NoSchedule")} and not h.taints("n0")
    taint = next(t for t in h.client.stored(Node, "n1").spec.taints if t.effect == "NoExecute")
    assert taint.timeAdded == format_time(h.clock.now())


async def test_node_unknown_within_grace_plus_period() -> None:
    h = Harness(3)
    await h.pass_(0.0, alive=h.names)
    await h.pass_(5.0, alive=["n0", "n1"])  # n2 goes silent now
    passes = 0
    while h.ready("n2") == "True":
        await h.pass_(5.0, alive=["n0", "n1"])
        passes += 1
    assert passes * 5.0 <= GRACE_S + 5.0


async def test_returning_node_is_untainted() -> None:
    h = Harness(2)
    await h.pass_(0.0, alive=h.names)
    for _ in range(11):
        await h.pass_(5.0, alive=["n0"])
    assert UNREACH_NX in h.taints("n1")
    # The kubelet is back: a fresh lease and a Ready status.
    back = _node("n1", h.clock)
    back.spec = h.client.stored(Node, "n1").spec
    h.client.add(back)
    h.refresh()
    await h.pass_(5.0, alive=h.names)
    assert h.ready("n1") == "True" and UNREACH_NX not in h.taints("n1")


async def _zone_outage(nodes: int, down: int, **opts: Any) -> Harness:
    h = Harness(nodes, **opts)
    await h.pass_(0.0, alive=h.names)
    alive = h.names[down:]
    for _ in range(10):
        await h.pass_(5.0, alive=alive)
    assert all(h.ready(n) == "Unknown" for n in h.names[:down])
    return h


async def test_partial_disruption_in_large_zone_uses_secondary_rate() -> None:
    h = await _zone_outage(10, 8, node_eviction_rate=1.0, secondary_node_eviction_rate=0.1,
                           large_cluster_size_threshold=5)
    for _ in range(4):  # 20 s at 0.1 nodes/s: the burst token plus two more
        await h.pass_(5.0, alive=h.names[8:])
    tainted = [n for n in h.names if UNREACH_NX in h.taints(n)]
    assert 1 <= len(tainted) <= 3, tainted
    assert h.ctl.tainters[""].qps == 0.1


async def test_partial_disruption_in_small_zone_stops_eviction() -> None:
    h = await _zone_outage(10, 8, node_eviction_rate=1.0, secondary_node_eviction_rate=0.1)
    for _ in range(4):
        await h.pass_(5.0, alive=h.names[8:])
    assert not [n for n in h.names if UNREACH_NX in h.taints(n)]
    assert h.ctl.tainters[""].qps == 0.0


async def test_normal_zone_evicts_at_primary_rate() -> None:
    h = await _zone_outage(10, 2, node_eviction_rate=1.0)
    await h.pass_(5.0, alive=h.names[2:])
    assert [n for n in h.names if UNREACH_NX in h.taints(n)] == ["n0", "n1"]


async def test_whole_cluster_down_means_no_eviction_and_taints_removed() -> None:
    h = Harness(3, node_eviction_rate=1.0)
    await h.pass_(0.0, alive=h.names)
    for _ in range(10):
        await h.pass_(5.0, alive=["n0", "n1"])
    await h.pass_(5.0, alive=["n0", "n1"])
    assert UNREACH_NX in h.taints("n2")
    for _ in range(12):  # now every node is silent
        await h.pass_(5.0, alive=[])
    assert all(h.ready(n) == "Unknown" for n in h.names)
    assert not any(UNREACH_NX in h.taints(n) for n in h.names)
    assert h.ctl.tainters[""].qps == 0.0


async def test_noschedule_taints_follow_conditions_and_cordon() -> None:
    h = Harness(1)
    node = _node("n0", h.clock, ready="Unknown")
    node.spec.unschedulable = True  # type: ignore[union-attr]
    h.client.add(node)
    preload(h.ctl.nodes, node)
    await h.ctl.sync("n0")
    assert h.taints("n0") == {("node.kubernetes.io/unreachable", "NoSchedule"),
                              ("node.kubernetes.io/unschedulable", "NoSchedule")}
    back = _node("n0", h.clock, ready="True", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                                                      {"key": "user", "effect": "NoSchedule"}])
    h.client.add(back)
    preload(h.ctl.nodes, back)
    await h.ctl.sync("n0")
    assert h.taints("n0") == {("user", "NoSchedule")}  # taints of others are kept


async def test_pod_bound_to_not_ready_node_is_marked_not_ready() -> None:
    h = Harness(1)
    down = _node("n0", h.clock, ready="False")
    h.client.add(down)
    preload(h.ctl.nodes, down)
    h.ctl._observe(down)
    pod = make_pod("late", node="n0", ready=True)
    h.client.add(pod)
    preload(h.ctl.pods, pod)
    await h.ctl.sync_pod(pod.key)
    assert [(c.type, c.status) for c in h.client.stored(Pod, "late", "ns1").status.conditions] == [("Ready", "False")]
