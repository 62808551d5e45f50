"""Ranking: pure score functions over the feasible nodes, each node scored 0..100.

Contract: `score_nodes(pod, nodes, spread_selectors)` returns one total per node, in the order
given, as the weighted sum of:

- least allocated (weight 1): free fraction of cpu and memory after placing the pod, averaged;
- balanced allocation (weight 1): 100 * (1 - |cpu fraction - memory fraction| / 2), so nodes
  whose cpu and memory fill evenly win;
- spreading (weight 2): fewer pods of the same owner (controller ownerReference) or matching
  the same Service selector on the node = higher score, normalised over the feasible nodes;
- taint toleration (weight 3): fewer untolerated PreferNoSchedule taints = higher score.

Scores use non-zero requests (see `scheduler.info`) so pods without requests still spread.
`score_nodes` computes the same totals as `score_nodes_reference` (the per-function
definition) in one pass, skipping spreading and taints when no node can differ (the hot path),
and reusing a node's resource scores (least allocated + balanced) computed for a pod of the same
non-zero requests while the node's aggregates are the same objects (`NodeInfo.resource_score`).
Plain ints throughout: the sums are deterministic and ties are decided by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

from machinery.nodematch import tolerates
from machinery.selectors import LabelSelector
from scheduler.info import NodeInfo, PodInfo, Resources

MAX_SCORE = 100
WEIGHT_LEAST_ALLOCATED = 1
WEIGHT_BALANCED = 1
WEIGHT_SPREAD = 2
WEIGHT_TAINT = 3


def _free_score(requested: int, allocatable: int) -> int:
    if allocatable <= 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_SCORE // allocatable


def least_allocated(pod: PodInfo, node: NodeInfo) -> int:
    cpu = node.nonzero_requested.milli_cpu + pod.nonzero.milli_cpu
    mem = node.nonzero_requested.memory + pod.nonzero.memory
    return (_free_score(cpu, node.allocatable.milli_cpu) + _free_score(mem, node.allocatable.memory)) // 2


def balanced_allocation(pod: PodInfo, node: NodeInfo) -> int:
    alloc = node.allocatable
    if alloc.milli_cpu <= 0 or alloc.memory <= 0:
        return 0
    cpu_frac = (node.nonzero_requested.milli_cpu + pod.nonzero.milli_cpu) / alloc.milli_cpu
    mem_frac = (node.nonzero_requested.memory + pod.nonzero.memory) / alloc.memory
    if cpu_frac >= 1 or mem_frac >= 1:
        return 0  # an over-full resource is never "balanced"
    return int((1 - abs(cpu_frac - mem_frac) / 2) * MAX_SCORE)


def spread_count(pod: PodInfo, node: NodeInfo, selectors: Sequence[LabelSelector] = ()) -> int:
    """Pods already on the node that belong with this pod: same owner, else same Service."""
    if pod.owner_uid:
        return node.owner_counts.get(pod.owner_uid, 0)
    if not selectors:
        return 0
    return sum(
        1
        for other in node.pods.values()
        if other.namespace == pod.namespace and any(s.matches(other.labels) for s in selectors)
    )


def prefer_no_schedule_count(pod: PodInfo, node: NodeInfo) -> int:
    return sum(
        1 for t in node.taints if t.get("effect") == "PreferNoSchedule" and not tolerates(pod.tolerations, t)
    )


def reverse_normalize(raw: Sequence[int]) -> list[int]:
    """Fewer is better: the node with the most gets 0, a node with none gets 100."""
    top = max(raw, default=0)
    if top == 0:
        return [MAX_SCORE] * len(raw)
    return [MAX_SCORE * (top - r) // top for r in raw]


def score_nodes(
    pod: PodInfo, nodes: Sequence[NodeInfo], spread_selectors: Sequence[LabelSelector] = ()
) -> list[int]:
    """The weighted totals, computed in one pass (the hot path): equal to `score_nodes_reference`."""
    if pod.owner_uid or spread_selectors:
        spread = reverse_normalize([spread_count(pod, n, spread_selectors) for n in nodes])
    else:
        spread = None  # nothing to spread against: every node scores MAX_SCORE
    if any(n.taints for n in nodes):
        taints = reverse_normalize([prefer_no_schedule_count(pod, n) for n in nodes])
    else:
        taints = None
    constant = (0 if spread is not None else WEIGHT_SPREAD * MAX_SCORE) \
        + (0 if taints is not None else WEIGHT_TAINT * MAX_SCORE)
    p_cpu, p_mem = pod.nonzero.milli_cpu, pod.nonzero.memory
    totals: list[int] = []
    for i, n in enumerate(nodes):
        used, alloc = n.nonzero_requested, n.allocatable
        memo = n.resource_score
        if memo is not None and memo[2] is used and memo[3] is alloc and memo[0] == p_cpu and memo[1] == p_mem:
            total = memo[4] + constant
        else:
            resource = _resource_score(p_cpu, p_mem, used, alloc)
            n.resource_score = (p_cpu, p_mem, used, alloc, resource)
            total = resource + constant
        if spread is not None:
            total += WEIGHT_SPREAD * spread[i]
        if taints is not None:
            total += WEIGHT_TAINT * taints[i]
        totals.append(total)
    return totals


def _resource_score(p_cpu: int, p_mem: int, used: Resources, alloc: Resources) -> int:
    """Weighted least allocated + balanced allocation of a pod's non-zero requests on a node."""
    a_cpu, a_mem = alloc.milli_cpu, alloc.memory
    cpu = used.milli_cpu + p_cpu
    mem = used.memory + p_mem
    least = ((0 if a_cpu <= 0 or cpu > a_cpu else (a_cpu - cpu) * MAX_SCORE // a_cpu)
             + (0 if a_mem <= 0 or mem > a_mem else (a_mem - mem) * MAX_SCORE // a_mem)) // 2
    if a_cpu <= 0 or a_mem <= 0:
        balanced = 0
    else:
        cpu_frac, mem_frac = cpu / a_cpu, mem / a_mem
        balanced = 0 if cpu_frac >= 1 or mem_frac >= 1 else int((1 - abs(cpu_frac - mem_frac) / 2) * MAX_SCORE)
    return WEIGHT_LEAST_ALLOCATED * least + WEIGHT_BALANCED * balanced


def score_nodes_reference(
    pod: PodInfo, nodes: Sequence[NodeInfo], spread_selectors: Sequence[LabelSelector] = ()
) -> list[int]:
    """The definition: each score function applied per node, normalised, weighted and summed."""
    spread = reverse_normalize([spread_count(pod, n, spread_selectors) for n in nodes])
    taints = reverse_normalize([prefer_no_schedule_count(pod, n) for n in nodes])
    return [
        WEIGHT_LEAST_ALLOCATED * least_allocated(pod, n)
        + WEIGHT_BALANCED * balanced_allocation(pod, n)
        + WEIGHT_SPREAD * spread[i]
        + WEIGHT_TAINT * taints[i]
        for i, n in enumerate(nodes)
    ]
