"""The scheduling pipeline for one pod: feasibility -> ranking -> selection. Pure, no I/O.

Contract: `schedule(pod, nodes, ...)` returns `Scheduled(node_name, score)` or raises
`FitError`, whose `message` is Kubernetes' exact FailedScheduling text ("0/3 nodes are
available: 1 node(s) didn't match node selector, 2 Insufficient cpu.": reasons counted per
node, formatted "COUNT REASON", sorted as strings, joined with ", ").

Like Kubernetes, a large cluster is not searched exhaustively: once `feasible_target(n)` nodes
pass the filters the search stops (50% - n/125 of the nodes, at least 5% and at least 100
nodes), and the next pod's search starts where this one stopped (`start`), so every node gets
its turn. Ties between the best scores are broken by the injected `rng` (seeded in tests,
`random.Random()` otherwise).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from machinery.selectors import LabelSelector
from scheduler.filters import FILTERS, Filter, default_fit, run_filters
from scheduler.info import NodeInfo, PodInfo
from scheduler.scores import score_nodes

MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENT = 5
NO_NODES = "no nodes available to schedule pods"


class FitError(Exception):
    """No node fits: `reasons` maps node name -> that node's reasons."""

    def __init__(self, num_nodes: int, reasons: dict[str, list[str]]) -> None:
        self.num_nodes = num_nodes
        self.reasons = reasons
        super().__init__(fit_error_message(num_nodes, reasons))

    @property
    def message(self) -> str:
        return str(self)


def fit_error_message(num_nodes: int, reasons: dict[str, list[str]]) -> str:
    if num_nodes == 0:
        return NO_NODES
    histogram: dict[str, int] = {}
    for node_reasons in reasons.values():
        for reason in node_reasons:
            histogram[reason] = histogram.get(reason, 0) + 1
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    return f"0/{num_nodes} nodes are available: {', '.join(parts)}."


@dataclass(frozen=True)
class Scheduled:
    node_name: str
    score: int
    feasible: int  # how many feasible nodes were ranked
    next_start: int  # where the next pod's search should begin


def feasible_target(num_nodes: int) -> int:
    """How many feasible nodes are enough to rank (Kubernetes' numFeasibleNodesToFind)."""
    if num_nodes < MIN_FEASIBLE_NODES:
        return num_nodes
    percent = max(50 - num_nodes // 125, MIN_FEASIBLE_PERCENT)
    return max(num_nodes * percent // 100, MIN_FEASIBLE_NODES)


def find_feasible(
    pod: PodInfo, nodes: Sequence[NodeInfo], *, start: int = 0, filters: list[Filter] = FILTERS
) -> tuple[list[NodeInfo], dict[str, list[str]], int]:
    """(feasible nodes, reasons per rejected node, index after the last node examined)."""
    n = len(nodes)
    target = feasible_target(n)
    feasible: list[NodeInfo] = []
    rejected: dict[str, list[str]] = {}
    examined = 0
    # The default filters run fused (filters.default_fit); extra ones (volumes, nominated
    # pods) after them; a rejected node gets its exact reasons from run_filters.
    n_default = len(FILTERS)
    fused = filters[:n_default] == FILTERS
    fits = default_fit(pod) if fused else None
    extra = filters[n_default:] if fused else filters
    for examined in range(1, n + 1):
        node = nodes[(start + examined - 1) % n]
        ok = fits is None or fits(node)
        if ok and extra:
            ok = not any(f(pod, node) for f in extra)
        if ok:
            feasible.append(node)
            if len(feasible) >= target:
                break
        else:
            rejected[node.name] = run_filters(pod, node, filters)
    return feasible, rejected, (start + examined) % n if n else 0


def select_best(names: Sequence[str], scores: Sequence[int], rng: random.Random) -> tuple[str, int]:
    """The highest score; among equals a random one (deterministic for a seeded rng)."""
    best = max(scores)
    winners = [name for name, s in zip(names, scores, strict=True) if s == best]
    return (winners[0] if len(winners) == 1 else rng.choice(winners)), best


def schedule(
    pod: PodInfo,
    nodes: Sequence[NodeInfo],
    *,
    rng: random.Random,
    start: int = 0,
    spread_selectors: Sequence[LabelSelector] = (),
    filters: list[Filter] = FILTERS,
) -> Scheduled:
    """Pick a node for `pod` among `nodes` (known nodes, in a stable order) or raise FitError."""
    if not nodes:
        raise FitError(0, {})
    feasible, rejected, next_start = find_feasible(pod, nodes, start=start, filters=filters)
    if not feasible:
        raise FitError(len(nodes), rejected)
    if len(feasible) == 1:
        return Scheduled(feasible[0].name, 0, 1, next_start)
    scores = score_nodes(pod, feasible, spread_selectors)
    name, best = select_best([n.name for n in feasible], scores, rng)
    return Scheduled(name, best, len(feasible), next_start)
