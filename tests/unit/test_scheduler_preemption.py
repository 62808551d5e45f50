"""Preemption choices (Kubernetes' DefaultPreemption): victims per node and the node picked."""

from __future__ import annotations

from typing import Any

from scheduler.filters import FILTERS
from scheduler.info import NodeInfo, PodInfo, Resources
from scheduler.preemption import find_preemption, select_victims


def node(name: str, cpu: int, *pods: PodInfo, **extra: Any) -> NodeInfo:
    n = NodeInfo(name=name, allocatable=Resources(cpu, 1 << 34, 110), known=True, **extra)
    for p in pods:
        p.node_name = name
        n.add_pod(p)
    return n


def pod(name: str, cpu: int, priority: int = 0, start: str = "2026-01-01T00:00:00Z", **extra: Any) -> PodInfo:
    return PodInfo(namespace="d", name=name, uid=f"uid-{name}", priority=priority, start_time=start,
                   requests=Resources(cpu, 0, 1), **extra)


def full(*nodes: NodeInfo) -> dict[str, list[str]]:
    return {n.name: ["Insufficient cpu"] for n in nodes}


def names(pods: list[PodInfo]) -> list[str]:
    return [p.name for p in pods]


def test_fewest_victims_of_lowest_priority_and_reprieve() -> None:
    a = node("a", 3000, pod("a-low", 1000, 1), pod("a-lower", 1000, 0), pod("a-high", 1000, 50))
    found = select_victims(pod("new", 1000, 10), a, [], FILTERS)
    assert found is not None and names(found[0]) == ["a-lower"]  # one is enough; the more important stays
    b = node("b", 2000, pod("b-mid", 1000, 5), pod("b-low", 1000, 1))
    best = find_preemption(pod("new", 2000, 10), [a, b], full(a, b), [], FILTERS)
    # a needs a-low + a-lower (highest victim 1); b needs b-mid + b-low (highest 5): a wins.
    assert best is not None and best.node == "a" and sorted(names(best.victims)) == ["a-low", "a-lower"]


def test_no_preemption_for_never_equal_priority_or_unresolvable_nodes() -> None:
    a = node("a", 1000, pod("same", 1000, 10))
    assert find_preemption(pod("new", 1000, 10), [a], full(a), [], FILTERS) is None
    b = node("b", 1000, pod("low", 1000, 0))
    never = pod("polite", 1000, 10, preemption_policy="Never")
    assert find_preemption(never, [b], full(b), [], FILTERS) is None
    assert find_preemption(pod("new", 1000, 10), [b], {"b": ["node(s) didn't match node selector"]}, [],
                           FILTERS) is None
    assert find_preemption(pod("new", 5000, 10), [b], full(b), [], FILTERS) is None  # too big anyway


def test_pdb_violations_are_avoided_then_minimised() -> None:
    guarded = pod("guarded", 1000, 0, labels={"app": "db"})
    a = node("a", 1000, guarded)
    b = node("b", 1000, pod("free", 1000, 5))
    pdb = {"metadata": {"namespace": "d", "name": "db"}, "spec": {"selector": {"matchLabels": {"app": "db"}}},
           "status": {"disruptionsAllowed": 0}}
    best = find_preemption(pod("new", 1000, 10), [a, b], full(a, b), [pdb], FILTERS)
    assert best is not None and (best.node, best.pdb_violations) == ("b", 0)  # a higher victim, but no violation
    only = find_preemption(pod("new", 1000, 10), [a], full(a), [pdb], FILTERS)
    assert only is not None and (names(only.victims), only.pdb_violations) == (["guarded"], 1)  # "where possible"


def test_ties_go_to_the_latest_started_victims_then_name_order() -> None:
    a = node("a", 1000, pod("old", 1000, 1, start="2026-01-01T00:00:00Z"))
    b = node("b", 1000, pod("young", 1000, 1, start="2026-01-02T00:00:00Z"))
    best = find_preemption(pod("new", 1000, 10), [a, b], full(a, b), [], FILTERS)
    assert best is not None and best.node == "b"
    c = node("c", 1000, pod("twin", 1000, 1, start="2026-01-02T00:00:00Z"))
    best = find_preemption(pod("new", 1000, 10), [b, c], full(b, c), [], FILTERS)
    assert best is not None and best.node == "b"


def test_waits_while_its_earlier_victims_terminate() -> None:
    a = node("a", 1000, pod("leaving", 1000, 0, deleting=True))
    pending = pod("new", 1000, 10, nominated_node="a")
    assert find_preemption(pending, [a], full(a), [], FILTERS) is None
