"""Taint eviction, pod GC, default tolerations admission and hollow control ranges: pure parts
and syncs on preloaded caches with a fake clock and the recording fake client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from apiserver.admission.tolerations import add_default_tolerations
from controllers.options import ControllerOptions
from controllers.podgc import PodGarbageCollector
from controllers.tainteviction import TaintEvictionController, eviction_delay
from kubelet.hollow_control import parse_ranges, read_control_file
from machinery.clock import FakeClock, format_time
from machinery.models import Node, Pod
from tests.unit.builders import make_context, make_pod, preload
from tests.unit.fake_client import FakeClient

UNREACH = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


def _tol(key: str | None, seconds: int | None = None, effect: str | None = "NoExecute") -> dict[str, Any]:
    t: dict[str, Any] = {"operator": "Exists"}
    if key is not None:
        t["key"] = key
    if effect is not None:
        t["effect"] = effect
    if seconds is not None:
        t["tolerationSeconds"] = seconds
    return t


def test_eviction_delay_rules() -> None:
    taint = {"key": UNREACH, "effect": "NoExecute"}
    assert eviction_delay([], []) is None
    assert eviction_delay([taint], []) == 0.0  # not tolerated: now
    assert eviction_delay([taint], [_tol(UNREACH, 300)]) == 300.0
    assert eviction_delay([taint], [_tol(UNREACH)]) is None  # tolerated forever
    assert eviction_delay([taint], [_tol(UNREACH, -5)]) == 0.0
    other = {"key": "x", "effect": "NoExecute"}
    assert eviction_delay([taint, other], [_tol(UNREACH, 30)]) == 0.0
    assert eviction_delay([taint, other], [_tol(UNREACH, 30), _tol("x", 10)]) == 10.0
    assert eviction_delay([taint], [_tol(None, 7, effect=None)]) == 7.0  # empty key+effect matches all


def _tainted_node(clock: FakeClock, added_ago_s: float) -> Node:
    added = format_time(clock.now() - timedelta(seconds=added_ago_s))
    return Node.from_dict({"metadata": {"name": "n1", "uid": "u1", "resourceVersion": "3"},
                           "spec": {"taints": [{"key": UNREACH, "effect": "NoExecute", "timeAdded": added}]}})


def _pod(name: str, tolerations: list[dict[str, Any]]) -> Pod:
    pod = make_pod(name, node="n1")
    pod.spec.tolerations = [t for t in Pod.from_dict(  # type: ignore[union-attr]
        {"metadata": {"name": "x"}, "spec": {"containers": [], "tolerations": tolerations}}).spec.tolerations or []]
    return pod


async def test_taint_manager_deletes_after_toleration_counted_from_time_added() -> None:
    clock = FakeClock()
    client = FakeClient(namespace="ns1")
    tm = TaintEvictionController(make_context(client), clock=clock)
    node = _tainted_node(clock, added_ago_s=100)
    fast, slow, forever = _pod("fast", [_tol(UNREACH, 60)]), _pod("slow", [_tol(UNREACH, 300)]), _pod("f", [_tol(UNREACH)])
    client.add(node, fast, slow, forever)
    preload(tm.nodes, node)
    preload(tm.pods, fast, slow, forever)
    await tm.sync("node:n1")
    assert [c.name for c in client.calls_of("delete", "Pod")] == ["fast"]
    assert client.calls_of("patch/status", "Pod")[0].body["status"]["conditions"][-1]["reason"] == \
        "DeletionByTaintManager"
    assert [c.body["reason"] for c in client.calls_of("create", "Event")] == ["TaintManagerEviction"]
    assert tm.scheduled == {slow.key}
    clock.advance(199)
    await tm.sync(f"pod:{slow.key}")
    assert [c.name for c in client.calls_of("delete", "Pod")] == ["fast"]
    clock.advance(1)
    await tm.sync(f"pod:{slow.key}")
    assert [c.name for c in client.calls_of("delete", "Pod")] == ["fast", "slow"]


async def test_taint_removed_cancels_scheduled_deletion() -> None:
    clock = FakeClock()
    client = FakeClient(namespace="ns1")
    tm = TaintEvictionController(make_context(client), clock=clock)
    node = _tainted_node(clock, added_ago_s=0)
    pod = _pod("p", [_tol(UNREACH, 300)])
    preload(tm.nodes, node)
    preload(tm.pods, pod)
    await tm.sync("node:n1")
    assert tm.scheduled == {pod.key}
    healed = Node.from_dict({"metadata": {"name": "n1", "resourceVersion": "4"}, "spec": {}})
    preload(tm.nodes, healed)
    await tm.sync("node:n1")
    clock.advance(400)
    await tm.sync(f"pod:{pod.key}")
    assert not client.calls_of("delete")
    assert [c.body["message"] for c in client.calls_of("create", "Event")] == ["Cancelling deletion of Pod ns1/p"]


async def test_podgc_force_deletes_pods_of_a_vanished_node_only() -> None:
    client = FakeClient(namespace="ns1")
    ctx = make_context(client)
    ctx.options = ControllerOptions(pod_gc_quarantine_s=0.01)
    gc = PodGarbageCollector(ctx)
    live = Node.from_dict({"metadata": {"name": "alive"}})
    orphan, fine = make_pod("orphan", node="gone"), make_pod("fine", node="alive")
    lagging = make_pod("lagging", node="new")  # its node exists, our cache has not seen it yet
    client.add(live, orphan, fine, lagging, Node.from_dict({"metadata": {"name": "new"}}))
    preload(gc.nodes, live)
    preload(gc.pods, orphan, fine, lagging)
    for p in (orphan, fine, lagging):
        await gc.sync(p.key)
    deletes = client.calls_of("delete", "Pod")
    assert [c.name for c in deletes] == ["orphan"]
    status = client.calls_of("patch/status", "Pod")[0].body["status"]
    assert status["phase"] == "Failed" and status["conditions"][-1]["reason"] == "DeletionByPodGC"


def test_default_tolerations_added_unless_the_pod_has_its_own() -> None:
    pod: dict[str, Any] = {"spec": {"containers": []}}
    add_default_tolerations(pod, not_ready_s=300, unreachable_s=200)
    assert pod["spec"]["tolerations"] == [
        {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": UNREACH, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 200}]
    own: dict[str, Any] = {"spec": {"tolerations": [_tol(UNREACH, 5)]}}
    add_default_tolerations(own, not_ready_s=300, unreachable_s=300)
    assert own["spec"]["tolerations"] == [_tol(UNREACH, 5), {"key": NOT_READY, "operator": "Exists",
                                                            "effect": "NoExecute", "tolerationSeconds": 300}]
    everything: dict[str, Any] = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    add_default_tolerations(everything, not_ready_s=300, unreachable_s=300)
    assert everything["spec"]["tolerations"] == [{"operator": "Exists"}]
    no_schedule_only: dict[str, Any] = {"spec": {"tolerations": [_tol(UNREACH, effect="NoSchedule")]}}
    add_default_tolerations(no_schedule_only, not_ready_s=1, unreachable_s=1)
    assert len(no_schedule_only["spec"]["tolerations"]) == 3


def test_hollow_ranges(tmp_path: Any) -> None:
    assert parse_ranges("0-2, 5\n7-7") == {0, 1, 2, 5, 7}
    assert parse_ranges("") == set()
    for bad in ("a", "3-1", "-1", "1-x"):
        with pytest.raises(ValueError, match="range"):
            parse_ranges(bad)
    f = tmp_path / "ctl"
    assert read_control_file(f) == set()
    f.write_text("10-12 # the first rack\n20\n")
    assert read_control_file(f) == {10, 11, 12, 20}
