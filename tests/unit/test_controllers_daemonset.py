"""DaemonSet controller: sync(key) on preloaded caches with the recording fake client."""

from __future__ import annotations

from typing import Any

from controllers.daemonset.controller import DaemonSetController
from controllers.daemonset.placement import (
    DAEMON_TOLERATIONS,
    add_daemon_tolerations,
    should_run,
    target_node,
)
from machinery.clock import FakeClock
from machinery.models import ControllerRevision, DaemonSet, Node, Pod
from tests.unit.builders import NS, make_context, preload
from tests.unit.fake_client import FakeClient

DS_UID = "ds-uid"
LABELS = {"app": "agent"}


def make_ds(*, strategy: dict[str, Any] | None = None, node_selector: dict[str, str] | None = None,
            min_ready: int = 0, tolerations: list[dict[str, Any]] | None = None) -> DaemonSet:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    return DaemonSet.from_dict({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": NS, "uid": DS_UID, "resourceVersion": "9", "generation": 2},
        "spec": {"selector": {"matchLabels": LABELS}, "minReadySeconds": min_ready,
                 "template": {"metadata": {"labels": LABELS}, "spec": spec},
                 "updateStrategy": strategy or {"type": "RollingUpdate",
                                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                 "revisionHistoryLimit": 10},
    })


def make_node(name: str, *, labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None) -> Node:
    return Node.from_dict({"metadata": {"name": name, "labels": labels or {"role": "worker"}, "resourceVersion": "1"},
                           "spec": {"taints": taints} if taints else {}})


def ds_pod(name: str, node: str, *, hash_: str = "h", ready: bool = True, phase: str = "Running",
           created: str = "2026-01-01T00:00:00Z") -> Pod:
    status: dict[str, Any] = {"phase": phase}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "4",
                     "creationTimestamp": created, "labels": {**LABELS, "controller-revision-hash": hash_},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": DS_UID,
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
        "status": status})


def setup(ds: DaemonSet, nodes: list[Node], pods: list[Pod] | None = None,
          revisions: list[ControllerRevision] | None = None) -> tuple[FakeClient, DaemonSetController]:
    client = FakeClient(namespace=NS)
    client.add(ds, *nodes, *(pods or []), *(revisions or []))
    c = DaemonSetController(make_context(client), clock=FakeClock())
    preload(c.ds_informer, ds)
    preload(c.node_informer, *nodes)
    preload(c.pod_informer, *(pods or []))
    preload(c.rev_informer, *(revisions or []))
    return client, c


def api_calls(client: FakeClient) -> list[tuple[str, str, str]]:
    return [(c.verb, c.kind, c.name) for c in client.calls if c.kind != "Event"]


async def current_hash(ds: DaemonSet, nodes: list[Node]) -> tuple[str, ControllerRevision]:
    client, c = setup(ds, nodes)
    await c.sync(ds.key)
    rev_name = client.calls_of("create", "ControllerRevision")[0].name
    rev = client.stored(ControllerRevision, rev_name, NS)
    return rev_name.rsplit("-", 1)[-1], rev


async def test_one_pod_per_eligible_node_bound_through_match_fields() -> None:
    ds = make_ds(node_selector={"role": "worker"})
    nodes = [make_node("n1"), make_node("n2"), make_node("n3", labels={"role": "db"}),
             make_node("n4", taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])]
    client, c = setup(ds, nodes)
    await c.sync(ds.key)
    calls = api_calls(client)
    assert calls[0][:2] == ("create", "ControllerRevision")
    assert [v for v, k, _ in calls[1:]] == ["create", "create", "patch/status"]
    rev = client.stored(ControllerRevision, calls[0][2], NS)
    hash_ = calls[0][2].rsplit("-", 1)[-1]
    assert rev.revision == 1 and rev.data["spec"]["template"]["$patch"] == "replace"
    targets = []
    for call in client.calls_of("create", "Pod"):
        body = call.body
        assert body["metadata"]["generateName"] == "agent-"
        assert body["metadata"]["labels"] == {**LABELS, "controller-revision-hash": hash_}
        assert "nodeName" not in body["spec"]  # the default scheduler binds it
        terms = body["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"]
        assert len(terms) == 1 and terms[0]["matchFields"][0]["key"] == "metadata.name"
        targets.append(terms[0]["matchFields"][0]["values"][0])
        assert {(t["key"], t["effect"]) for t in body["spec"]["tolerations"]} == {
            (t["key"], t["effect"]) for t in DAEMON_TOLERATIONS}
    assert sorted(targets) == ["n1", "n2"]
    status = client.calls_of("patch/status", "DaemonSet")[0].body["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberMisscheduled"]) == (2, 0, 0)
    assert status["observedGeneration"] == 2
    assert c.expectations.pending(ds.key) == (2, 0)


async def test_pods_leave_ineligible_and_removed_nodes() -> None:
    ds = make_ds(node_selector={"role": "worker"})
    nodes = [make_node("n1"), make_node("n3", labels={"role": "db"}),
             make_node("n5", taints=[{"key": "evict", "effect": "NoExecute"}]),
             make_node("n6", taints=[{"key": "new", "effect": "NoSchedule"}])]
    hash_, rev = await current_hash(ds, nodes)
    pods = [ds_pod("p1", "n1", hash_=hash_), ds_pod("p3", "n3", hash_=hash_), ds_pod("p5", "n5", hash_=hash_),
            ds_pod("p6", "n6", hash_=hash_), ds_pod("gone", "n9", hash_=hash_)]
    client, c = setup(ds, nodes, pods, [rev])
    await c.sync(ds.key)
    assert sorted(n for v, k, n in api_calls(client) if v == "delete") == ["gone", "p3", "p5"]
    assert not client.calls_of("create", "Pod")  # n6: NoSchedule keeps p6 but would not start one
    status = client.calls_of("patch/status", "DaemonSet")[0].body["status"]
    assert status["desiredNumberScheduled"] == 1 and status["numberMisscheduled"] == 3


async def test_failed_pod_deleted_with_backoff_and_duplicates_trimmed() -> None:
    ds = make_ds()
    nodes = [make_node("n1"), make_node("n2")]
    hash_, rev = await current_hash(ds, nodes)
    pods = [ds_pod("f1", "n1", hash_=hash_, phase="Failed", ready=False),
            ds_pod("old", "n2", hash_=hash_, created="2026-01-01T00:00:00Z"),
            ds_pod("dup", "n2", hash_=hash_, created="2026-01-02T00:00:00Z")]
    client, c = setup(ds, nodes, pods, [rev])
    await c.sync(ds.key)
    assert sorted(n for v, k, n in api_calls(client) if v == "delete") == ["dup", "f1"]
    assert "FailedDaemonPod" in [e.body["reason"] for e in client.calls_of("create", "Event")]
    c.expectations.delete(ds.key)
    client.calls.clear()
    await c.sync(ds.key)  # within the 1 s backoff: the failed pod is left alone this time
    assert ("delete", "Pod", "f1") not in api_calls(client)


async def test_rolling_update_deletes_at_most_max_unavailable_old_pods() -> None:
    ds = make_ds()
    nodes = [make_node(f"n{i}") for i in range(3)]
    _hash, rev = await current_hash(ds, nodes)
    pods = [ds_pod(f"old{i}", f"n{i}", hash_="old") for i in range(3)]
    client, c = setup(ds, nodes, pods, [rev])
    await c.sync(ds.key)
    assert [v for v, k, n in api_calls(client)] == ["delete", "patch/status"]
    status = client.calls_of("patch/status", "DaemonSet")[0].body["status"]
    assert status["updatedNumberScheduled"] is None and status["numberReady"] == 3


async def test_rolling_update_with_surge_creates_new_then_deletes_old_when_available() -> None:
    ds = make_ds(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    nodes = [make_node("n0"), make_node("n1")]
    hash_, rev = await current_hash(ds, nodes)
    pods = [ds_pod("old0", "n0", hash_="old"), ds_pod("old1", "n1", hash_="old")]
    client, c = setup(ds, nodes, pods, [rev])
    await c.sync(ds.key)
    creates = client.calls_of("create", "Pod")
    assert len(creates) == 1 and not client.calls_of("delete", "Pod")
    target = creates[0].body["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
    new = ds_pod("new", target, hash_=hash_, created="2026-01-02T00:00:00Z")
    client, c = setup(ds, nodes, [*pods, new], [rev])
    await c.sync(ds.key)
    assert [n for v, k, n in api_calls(client) if v == "delete"] == [f"old{target[-1]}"]


async def test_on_delete_leaves_old_pods_alone() -> None:
    ds = make_ds(strategy={"type": "OnDelete"})
    nodes = [make_node("n0")]
    _hash, rev = await current_hash(ds, nodes)
    client, c = setup(ds, nodes, [ds_pod("old0", "n0", hash_="old")], [rev])
    await c.sync(ds.key)
    assert [v for v, _, _ in api_calls(client)] == ["patch/status"]


def test_tolerations_and_targets() -> None:
    spec: dict[str, Any] = {"hostNetwork": True, "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}
    add_daemon_tolerations(spec)
    keys = [(t["key"], t["effect"]) for t in spec["tolerations"]]
    assert len(keys) == len(set(keys)) == 7 and ("node.kubernetes.io/network-unavailable", "NoSchedule") in keys
    assert spec["tolerations"][0]["tolerationSeconds"] == 5  # the user's own is kept
    ds = make_ds(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}])
    assert should_run(ds, make_node("a", taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])) \
        == (True, True)
    assert should_run(ds, make_node("b", taints=[{"key": "node.kubernetes.io/unschedulable",
                                                  "effect": "NoSchedule"}])) == (True, True)
    assert should_run(ds, make_node("c", taints=[{"key": "x", "effect": "NoExecute"}])) == (False, False)
    assert target_node(ds_pod("p", "n7")) == "n7"


async def test_handlers_route_node_changes_and_observe_creations() -> None:
    ds = make_ds()
    node = make_node("n1")
    _client, c = setup(ds, [node])
    heartbeat = node.model_copy(deep=True)
    heartbeat.metadata.resourceVersion = "2"
    c._node_updated(node, heartbeat)  # status-only change: nothing to do
    assert len(c.queue) == 0
    relabelled = node.model_copy(deep=True)
    relabelled.metadata.labels = {"role": "db"}
    c._node_updated(node, relabelled)
    assert len(c.queue) == 1 and await c.queue.get() == ds.key
    c.queue.done(ds.key)
    c.expectations.expect_creations(ds.key, 1)
    c._pod_added(ds_pod("p1", "n1"))
    assert c.expectations.satisfied(ds.key)
