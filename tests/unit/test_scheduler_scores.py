"""Score functions and the pipeline's FitError message, feasible-node target and tie-breaking."""

from __future__ import annotations

import random

import pytest

from machinery.selectors import selector_from_map
from scheduler import scores as s
from scheduler.framework import FitError, feasible_target, fit_error_message, schedule, select_best
from tests.unit.test_scheduler_support import node, pod


def test_least_allocated_prefers_emptier_node() -> None:
    empty, busy = node("empty"), node("busy")
    busy.add_pod(pod("x", cpu="2", memory="4Gi", node="busy"))
    p = pod("p", cpu="1", memory="1Gi")
    assert s.least_allocated(p, empty) > s.least_allocated(p, busy)
    # 4 cpu / 8Gi node, pod takes 1 cpu and 1Gi: (75 + 87) // 2
    assert s.least_allocated(p, empty) == (75 + 87) // 2


def test_least_allocated_overfull_is_zero() -> None:
    assert s.least_allocated(pod(cpu="5", memory="9Gi"), node()) == 0


def test_balanced_allocation() -> None:
    n = node(cpu="4", memory="4Gi")
    assert s.balanced_allocation(pod(cpu="1", memory="1Gi"), n) == 100
    lopsided = s.balanced_allocation(pod(cpu="3", memory="100Mi"), n)
    assert 0 < lopsided < 100
    assert s.balanced_allocation(pod(cpu="4", memory="1Gi"), n) == 0  # cpu full


def test_spread_by_owner() -> None:
    a, b = node("a"), node("b")
    a.add_pod(pod("r1", owner_uid="rs1", node="a"))
    a.add_pod(pod("other", owner_uid="rs2", node="a"))
    p = pod("r2", owner_uid="rs1")
    assert s.spread_count(p, a) == 1 and s.spread_count(p, b) == 0
    totals = s.score_nodes(p, [a, b])
    assert totals[1] > totals[0]


def test_spread_by_service_selector() -> None:
    a, b = node("a"), node("b")
    a.add_pod(pod("w1", labels={"app": "web"}, node="a"))
    b.add_pod(pod("db", labels={"app": "db"}, node="b"))
    sel = [selector_from_map({"app": "web"})]
    p = pod("w2", labels={"app": "web"})
    assert [s.spread_count(p, n, sel) for n in (a, b)] == [1, 0]
    assert [s.spread_count(p, n) for n in (a, b)] == [0, 0]  # no service: no spreading signal


def test_prefer_no_schedule_lowers_score() -> None:
    tainted = node("t", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])
    clean = node("c")
    totals = s.score_nodes(pod(), [tainted, clean])
    assert totals[1] - totals[0] == s.WEIGHT_TAINT * 100
    tolerating = pod(tolerations=[{"key": "k", "operator": "Exists"}])
    t2 = s.score_nodes(tolerating, [tainted, clean])
    assert t2[0] == t2[1]


def test_reverse_normalize() -> None:
    assert s.reverse_normalize([0, 0]) == [100, 100]
    assert s.reverse_normalize([2, 1, 0]) == [0, 50, 100]


# ---- framework -----------------------------------------------------------------------------
def test_fit_error_message_kubernetes_wording() -> None:
    reasons = {
        "n1": ["node(s) didn't match node selector"],
        "n2": ["Insufficient cpu"],
        "n3": ["Insufficient cpu"],
    }
    assert fit_error_message(3, reasons) == (
        "0/3 nodes are available: 1 node(s) didn't match node selector, 2 Insufficient cpu."
    )


def test_fit_error_counts_each_resource_and_sorts_strings() -> None:
    reasons = {"a": ["Insufficient cpu", "Insufficient memory"], "b": ["Insufficient memory"], "c": ["Too many pods"]}
    assert fit_error_message(3, reasons) == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 Too many pods, 2 Insufficient memory."
    )


def test_schedule_raises_fit_error_with_per_node_reasons() -> None:
    nodes = [node("a", cpu="1"), node("b", cpu="1", labels={"disk": "hdd"}), node("c", ready=False)]
    with pytest.raises(FitError) as exc:
        schedule(pod(cpu="2", node_selector={"disk": "hdd"}), nodes, rng=random.Random(0))
    assert exc.value.message == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match node selector, 1 node(s) were not ready."
    )
    with pytest.raises(FitError, match="no nodes available to schedule pods"):
        schedule(pod(), [], rng=random.Random(0))


def test_schedule_picks_best_and_breaks_ties_with_rng() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    picks = {schedule(pod(), nodes, rng=random.Random(seed)).node_name for seed in range(20)}
    assert len(picks) > 1  # equal nodes: the rng decides
    again = [schedule(pod(), nodes, rng=random.Random(7)).node_name for _ in range(3)]
    assert len(set(again)) == 1  # same seed, same choice
    busy = [node("a"), node("b")]
    busy[0].add_pod(pod("x", cpu="3", memory="6Gi", node="a"))
    assert schedule(pod(cpu="100m"), busy, rng=random.Random(0)).node_name == "b"


def test_select_best() -> None:
    assert select_best(["a", "b", "c"], [1, 5, 3], random.Random(0)) == ("b", 5)


def test_feasible_target_like_kubernetes() -> None:
    assert feasible_target(50) == 50
    assert feasible_target(100) == 100
    assert feasible_target(1000) == 420  # 50% - 1000/125 = 42%
    assert feasible_target(5000) == 500  # 10%
    assert feasible_target(20000) == 1000  # floor of 5%


def test_search_rotates_start_over_large_clusters() -> None:
    nodes = [node(f"n{i:04d}") for i in range(300)]
    first = schedule(pod(), nodes, rng=random.Random(0), start=0)
    assert first.feasible == feasible_target(300) and first.next_start == feasible_target(300)
    second = schedule(pod(), nodes, rng=random.Random(0), start=first.next_start)
    assert second.next_start == (2 * feasible_target(300)) % 300
