"""Feasibility: pure filter functions `(pod, node) -> list of reasons` (empty list = fits).

Contract: a filter never mutates its arguments and never does I/O. The reasons are Kubernetes'
exact strings, because `FailedScheduling` messages aggregate them ("2 Insufficient cpu") and
users grep for them. `FILTERS` is the order Kubernetes' default profile runs them in; a node
reports only the reasons of the first filter that rejects it, like Kubernetes'
`RunFilterPlugins`, so counts add up to the number of nodes (NodeResourcesFit may name several
resources for one node). Toleration and node-selector-term matching live in
machinery/nodematch.py (shared with the DaemonSet controller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from machinery import nodematch
from machinery.nodematch import tolerates
from scheduler.info import HostPort, NodeInfo, PodInfo

Filter = Callable[[PodInfo, NodeInfo], list[str]]

NOT_READY = "node(s) were not ready"
UNSCHEDULABLE = "node(s) were unschedulable"
SELECTOR_MISMATCH = "node(s) didn't match node selector"
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity"
PORTS_TAKEN = "node(s) didn't have free ports for the requested pod ports"
TOO_MANY_PODS = "Too many pods"
UNSCHEDULABLE_TAINT: dict[str, Any] = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def node_ready(pod: PodInfo, node: NodeInfo) -> list[str]:
    """The node's Ready condition is True."""
    return [] if node.ready else [NOT_READY]


def node_unschedulable(pod: PodInfo, node: NodeInfo) -> list[str]:
    """A cordoned node takes only pods tolerating node.kubernetes.io/unschedulable:NoSchedule."""
    if not node.unschedulable or tolerates(pod.tolerations, UNSCHEDULABLE_TAINT):
        return []
    return [UNSCHEDULABLE]


def untolerated_taint(pod: PodInfo, node: NodeInfo, effects: tuple[str, ...]) -> dict[str, Any] | None:
    for taint in node.taints:
        if taint.get("effect") in effects and not tolerates(pod.tolerations, taint):
            return taint
    return None


def taint_toleration(pod: PodInfo, node: NodeInfo) -> list[str]:
    """NoSchedule and NoExecute taints must be tolerated; PreferNoSchedule only lowers the score."""
    taint = untolerated_taint(pod, node, ("NoSchedule", "NoExecute"))
    if taint is None:
        return []
    return [f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"]


def term_matches(term: dict[str, Any], node: NodeInfo) -> bool:
    """A nodeSelectorTerm: every expression and field must match; an empty term matches nothing."""
    return nodematch.term_matches(term, node.labels, node.name)


def node_affinity(pod: PodInfo, node: NodeInfo) -> list[str]:
    """spec.nodeSelector (every label equal) and required node affinity (terms ORed)."""
    for key, value in pod.node_selector.items():
        if node.labels.get(key) != value:
            return [SELECTOR_MISMATCH]
    if pod.affinity_terms is not None and not any(term_matches(t, node) for t in pod.affinity_terms):
        return [AFFINITY_MISMATCH]
    return []


def _port_conflict(want: HostPort, used: HostPort) -> bool:
    w_ip, w_proto, w_port = want
    u_ip, u_proto, u_port = used
    if w_port != u_port or w_proto != u_proto:
        return False
    return w_ip == u_ip or "0.0.0.0" in (w_ip, u_ip)


def node_ports(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Host ports (ip, protocol, port) the pod wants must be free on the node; 0.0.0.0 covers all."""
    for want in pod.host_ports:
        if want in node.used_ports or any(_port_conflict(want, used) for used in node.used_ports):
            return [PORTS_TAKEN]
    return []


def resources_fit(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Requests fit allocatable minus what the node's (non-terminated) pods already request."""
    reasons: list[str] = []
    if len(node.pods) + 1 > node.allocatable.pods:
        reasons.append(TOO_MANY_PODS)
    req, used, alloc = pod.requests, node.requested, node.allocatable
    if req.milli_cpu > 0 and alloc.milli_cpu < used.milli_cpu + req.milli_cpu:
        reasons.append("Insufficient cpu")
    if req.memory > 0 and alloc.memory < used.memory + req.memory:
        reasons.append("Insufficient memory")
    return reasons


FILTERS: list[Filter] = [
    node_ready,
    node_unschedulable,
    taint_toleration,
    node_affinity,
    node_ports,
    resources_fit,
]


def default_fit(pod: PodInfo) -> Callable[[NodeInfo], bool]:
    """A predicate equal to `not run_filters(pod, node, FILTERS)`, fused for the hot loop.

    Per pod it drops what cannot reject (Kubernetes' PreFilter "Skip": no nodeSelector or
    affinity, no host ports), per node it looks at taints and cordons only when the node has
    any, and it compares the precomputed aggregates inline; the reasons of a rejected node are
    then computed by `run_filters` (rejections are the rare, slow path)."""
    cpu, mem = pod.requests.milli_cpu, pod.requests.memory
    wants_affinity = bool(pod.node_selector) or pod.affinity_terms is not None
    wants_ports = bool(pod.host_ports)

    def fits(node: NodeInfo) -> bool:
        if not node.ready:
            return False
        if (node.unschedulable or node.taints) and (node_unschedulable(pod, node) or taint_toleration(pod, node)):
            return False
        if wants_affinity and node_affinity(pod, node):
            return False
        if wants_ports and node_ports(pod, node):
            return False
        alloc, used = node.allocatable, node.requested
        return (len(node.pods) < alloc.pods
                and (cpu <= 0 or used.milli_cpu + cpu <= alloc.milli_cpu)
                and (mem <= 0 or used.memory + mem <= alloc.memory))

    return fits


def run_filters(pod: PodInfo, node: NodeInfo, filters: list[Filter] = FILTERS) -> list[str]:
    """Reasons of the first filter that rejects the node, or [] when every filter passes."""
    for f in filters:
        reasons = f(pod, node)
        if reasons:
            return reasons
    return []
