"""Preemption (Kubernetes' DefaultPreemption PostFilter), pure: which pods to evict, on which node.

Contract: `find_preemption(pod, nodes, rejected, pdbs, filters)` is called when `pod` fits
nowhere (`rejected`: node name -> the filter reasons of the failed attempt) and returns a
`Candidate(node, victims, pdb_violations)` or None:
- only a pod with preemptionPolicy PreemptLowerPriority preempts (`eligible`), and not while
  lower-priority pods it already evicted on its nominated node are still terminating;
- only nodes whose rejection removing pods can resolve are tried (resources, host ports: not
  readiness, cordons, taints or node affinity: Kubernetes' UnschedulableAndUnresolvable);
- on a node, every pod of lower priority is removed from a copy of the node; if the pod still
  does not fit, the node is no candidate; then the removed pods are added back one by one,
  PDB-violating ones first, each from the most important (highest priority, then earliest
  start), and each that can stay while the pod still fits is reprieved: the rest are victims
  (SelectVictimsOnNode);
- a victim violates a PodDisruptionBudget when its namespace's budget selecting it has no
  disruption left once the earlier victims are counted (pods already in disruptedPods do not
  count: the API server processed their eviction);
- the node is chosen as pickOneNodeForPreemption: fewest PDB violations, then the lowest
  highest-victim priority, then the smallest sum of victim priorities, then the fewest
  victims, then the latest start among the highest-priority victims, then the first in name
  order.
The caller (core.py) sets status.nominatedNodeName, deletes the victims gracefully with a
`Preempted` event (`Preempted by pod <uid> on node <node>`) and binds once the pod fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from machinery.selectors import selector_from_model
from scheduler.filters import (
    AFFINITY_MISMATCH,
    NOT_READY,
    SELECTOR_MISMATCH,
    UNSCHEDULABLE,
    Filter,
    run_filters,
)
from scheduler.info import NodeInfo, PodInfo

_INT32_MAX = 2**31 - 1
_UNRESOLVABLE = (NOT_READY, UNSCHEDULABLE, SELECTOR_MISMATCH, AFFINITY_MISMATCH)


@dataclass(frozen=True)
class Candidate:
    node: str
    victims: list[PodInfo]
    pdb_violations: int


def eligible(pod: PodInfo, nodes: dict[str, NodeInfo]) -> bool:
    """PodEligibleToPreemptOthers: policy allows it, and no earlier preemption is still settling."""
    if pod.preemption_policy == "Never":
        return False
    node = nodes.get(pod.nominated_node) if pod.nominated_node else None
    return node is None or not any(p.deleting and p.priority < pod.priority for p in node.pods.values())


def _resolvable(reasons: Sequence[str]) -> bool:
    return not any(r in _UNRESOLVABLE or r.startswith("node(s) had untolerated taint") for r in reasons)


def clone_node(node: NodeInfo) -> NodeInfo:
    """A copy of the node and its pods that a simulation may change."""
    copy = NodeInfo(name=node.name, labels=node.labels, allocatable=node.allocatable, taints=node.taints,
                    unschedulable=node.unschedulable, ready=node.ready, known=node.known)
    for p in node.pods.values():
        copy.add_pod(p)
    return copy


def _importance(p: PodInfo) -> tuple[int, str]:
    """Sort key, most important first: higher priority, then earlier start (MoreImportantPod)."""
    return (-p.priority, p.start_time)


def _split_by_pdb(pods: list[PodInfo], pdbs: Sequence[dict[str, Any]]) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating) as Kubernetes' filterPodsWithPDBViolation; order kept."""
    allowed = [int((b.get("status") or {}).get("disruptionsAllowed") or 0) for b in pdbs]
    violating: list[PodInfo] = []
    fine: list[PodInfo] = []
    for p in pods:
        violated = False
        for i, pdb in enumerate(pdbs):
            meta = pdb.get("metadata") or {}
            selector = (pdb.get("spec") or {}).get("selector")
            if meta.get("namespace") != p.namespace or not selector:
                continue
            if not selector_from_model(selector).matches(p.labels):
                continue
            if p.name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                continue
            allowed[i] -= 1
            if allowed[i] < 0:
                violated = True
        (violating if violated else fine).append(p)
    return violating, fine


def select_victims(pod: PodInfo, node: NodeInfo, pdbs: Sequence[dict[str, Any]],
                   filters: list[Filter]) -> tuple[list[PodInfo], int] | None:
    """(victims, how many of them violate a PDB) on `node`, or None when evicting cannot help."""
    trial = clone_node(node)
    lower = sorted((p for p in node.pods.values() if p.priority < pod.priority), key=_importance)
    if not lower:
        return None
    for p in lower:
        trial.remove_pod(p.key)
    if run_filters(pod, trial, filters):
        return None
    violating, fine = _split_by_pdb(lower, pdbs)
    victims: list[PodInfo] = []
    violations = 0
    for group, counts in ((violating, True), (fine, False)):
        for p in group:
            trial.add_pod(p)
            if run_filters(pod, trial, filters):
                trial.remove_pod(p.key)
                victims.append(p)
                violations += int(counts)
    return victims, violations


def _rank(c: Candidate) -> tuple[int, int, int, int, str]:
    top = max(v.priority for v in c.victims)
    total = sum(v.priority + _INT32_MAX + 1 for v in c.victims)
    latest_top_start = max(v.start_time for v in c.victims if v.priority == top)
    # Later start is better: invert the string order by negating character codes.
    inverted = "".join(chr(0x10FFFF - ord(ch)) for ch in latest_top_start)
    return (c.pdb_violations, top, total, len(c.victims), inverted)


def find_preemption(pod: PodInfo, nodes: Sequence[NodeInfo], rejected: dict[str, list[str]],
                    pdbs: Sequence[dict[str, Any]], filters: list[Filter]) -> Candidate | None:
    by_name = {n.name: n for n in nodes}
    if not eligible(pod, by_name):
        return None
    candidates: list[Candidate] = []
    for node in nodes:  # name order: the last tie-break is the first node
        if node.name not in rejected or not _resolvable(rejected[node.name]):
            continue
        found = select_victims(pod, node, pdbs, filters)
        if found is not None and found[0]:
            candidates.append(Candidate(node.name, found[0], found[1]))
    if not candidates:
        return None
    return min(candidates, key=_rank)


__all__ = ["Candidate", "clone_node", "eligible", "find_preemption", "select_victims"]
