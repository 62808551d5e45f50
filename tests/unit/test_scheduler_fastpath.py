"""The fused hot paths equal their definitions: `filters.default_fit` vs `run_filters(FILTERS)`,
`scores.score_nodes` vs `score_nodes_reference`, and `find_feasible`'s reasons, on random
clusters (seeded, so a failure replays) covering every filter and score."""

from __future__ import annotations

import random
from typing import Any

import pytest

from machinery.selectors import selector_from_map
from scheduler import filters as f
from scheduler import scores as s
from scheduler.framework import find_feasible
from scheduler.info import NodeInfo, PodInfo, Resources
from tests.unit.test_scheduler_support import node, pod

TAINTS: list[dict[str, Any]] = [
    {"key": "gpu", "value": "yes", "effect": "NoSchedule"},
    {"key": "old", "effect": "PreferNoSchedule"},
    {"key": "drain", "effect": "NoExecute"},
]
TOLERATIONS: list[dict[str, Any]] = [
    {"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule"},
    {"key": "old", "operator": "Exists"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def random_node(rng: random.Random, i: int) -> NodeInfo:
    n = node(f"n{i}", cpu=rng.choice(["1", "2", "4", "0"]), memory=rng.choice(["1Gi", "4Gi", "8Gi"]),
             pods=rng.choice(["2", "5", "110"]), labels=rng.choice([{}, {"zone": "a"}, {"zone": "b", "disk": "ssd"}]),
             taints=rng.sample(TAINTS, rng.randint(0, 2)) if rng.random() < 0.4 else None,
             unschedulable=rng.random() < 0.1, ready=rng.random() < 0.9)
    for j in range(rng.randint(0, 4)):
        n.add_pod(pod(f"b{i}-{j}", cpu=rng.choice([None, "100m", "500m", "1"]), memory=rng.choice([None, "512Mi"]),
                      node=n.name, owner_uid=rng.choice(["", "rs1", "rs2"]) or None,
                      labels=rng.choice([{"app": "web"}, {"app": "db"}]),
                      host_port=rng.choice([None, None, 8080])))
    return n


def random_pod(rng: random.Random, k: int) -> PodInfo:
    return pod(f"p{k}", cpu=rng.choice([None, "100m", "1", "3"]), memory=rng.choice([None, "256Mi", "6Gi"]),
               node_selector=rng.choice([None, None, {"zone": "a"}]),
               affinity_terms=rng.choice([None, None, [{"matchExpressions": [
                   {"key": "disk", "operator": "In", "values": ["ssd"]}]}]]),
               tolerations=rng.sample(TOLERATIONS, rng.randint(0, 3)) if rng.random() < 0.5 else None,
               host_port=rng.choice([None, None, 8080]), owner_uid=rng.choice([None, "rs1"]),
               labels={"app": "web"})


@pytest.mark.parametrize("seed", range(20))
def test_fused_filters_and_scores_equal_their_definitions(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [random_node(rng, i) for i in range(30)]
    selectors = [selector_from_map({"app": "web"})]
    for k in range(30):
        p = random_pod(rng, k)
        fits = f.default_fit(p)
        for n in nodes:
            assert fits(n) == (not f.run_filters(p, n, f.FILTERS)), (p, n)
        sels = selectors if k % 2 else []
        assert s.score_nodes(p, nodes, sels) == s.score_nodes_reference(p, nodes, sels)
        feasible, rejected, _ = find_feasible(p, nodes)
        assert [n.name for n in feasible] == [n.name for n in nodes if not f.run_filters(p, n, f.FILTERS)]
        assert rejected == {n.name: f.run_filters(p, n, f.FILTERS) for n in nodes if f.run_filters(p, n, f.FILTERS)}


def test_extra_filters_run_after_the_fused_ones() -> None:
    nodes = [node("a"), node("b"), node("c", ready=False)]

    def not_b(p: PodInfo, n: NodeInfo) -> list[str]:
        return ["not b"] if n.name == "b" else []

    feasible, rejected, _ = find_feasible(pod(), nodes, filters=[*f.FILTERS, not_b])
    assert [n.name for n in feasible] == ["a"]
    assert rejected == {"b": ["not b"], "c": [f.NOT_READY]}


@pytest.mark.parametrize("seed", range(10))
def test_resource_scores_reused_only_while_the_node_is_unchanged(seed: int) -> None:
    """score_nodes reuses a node's resource score for equal pods while its aggregates are
    unchanged: placing or removing pods and changing allocatable between pods must show."""
    rng = random.Random(seed)
    nodes = [random_node(rng, i) for i in range(20)]
    same = [pod(f"same{k}", cpu="100m", memory="256Mi") for k in range(40)]
    for k, p in enumerate(same):
        p = p if rng.random() < 0.7 else random_pod(rng, k)
        assert s.score_nodes(p, nodes) == s.score_nodes_reference(p, nodes)
        target = rng.choice(nodes)
        action = rng.random()
        if action < 0.6:
            target.add_pod(pod(f"placed{k}", cpu=rng.choice(["100m", "1"]), memory="512Mi", node=target.name))
        elif action < 0.8 and target.pods:
            target.remove_pod(rng.choice(sorted(target.pods)))
        else:
            target.set_node({"metadata": {"name": target.name},
                             "status": {"allocatable": {"cpu": rng.choice(["2", "8"]),
                                                        "memory": rng.choice(["4Gi", "16Gi"]), "pods": "110"},
                                        "conditions": [{"type": "Ready", "status": "True"}]}})
        assert s.score_nodes(p, nodes) == s.score_nodes_reference(p, nodes)
    assert all(n.resource_score is not None for n in nodes)


@pytest.mark.parametrize("seed", range(10))
def test_node_aggregates_equal_their_pods_after_updates(seed: int) -> None:
    """NodeInfo keeps its aggregates (and their identity, for the score memo) when a new version
    of a pod holds the same; any change of requests, ports, owner or phase is counted."""
    rng = random.Random(seed)
    n = node("n", cpu="64", memory="256Gi")
    kept = 0
    for k in range(200):
        name = f"p{rng.randint(0, 15)}"
        version = pod(name, cpu=rng.choice([None, "100m", "1"]), memory=rng.choice([None, "512Mi"]), node="n",
                      owner_uid=rng.choice(["", "rs1"]) or None, labels={"v": str(k)},
                      host_port=rng.choice([None, None, 8080]))
        version.terminated = rng.random() < 0.1
        before = (n.requested, n.nonzero_requested)
        held = n.pods.get(version.key)
        same = held is not None and not version.terminated and (
            (held.requests, held.nonzero, held.host_ports, held.owner_uid)
            == (version.requests, version.nonzero, version.host_ports, version.owner_uid))
        if rng.random() < 0.2 and version.key in n.pods:
            n.remove_pod(version.key)
        else:
            n.add_pod(version)
            if same:
                kept += 1
                assert (n.requested, n.nonzero_requested) == before
                assert n.requested is before[0] and n.nonzero_requested is before[1]
                assert n.pods[version.key] is version  # the new labels are seen (Service spreading)
        pods = list(n.pods.values())
        assert n.requested == sum((p.requests for p in pods), Resources())
        assert n.nonzero_requested == sum((p.nonzero for p in pods), Resources())
        assert n.owner_counts == {o: c for o in {"rs1"} if (c := sum(p.owner_uid == o for p in pods))}
        assert n.used_ports == {port: c for port in {pp for p in pods for pp in p.host_ports}
                                if (c := sum(port in p.host_ports for p in pods))}
    assert kept > 0  # the same-footprint path ran
