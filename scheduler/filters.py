"""Feasibility: pure filter functions `(pod, node) -> list of reasons` (empty list = fits).

Contract: a filter never mutates its arguments and never does I/O. The reasons are Kubernetes'
exact strings, because `FailedScheduling` messages aggregate them ("2 Insufficient cpu") and
users grep for them. `FILTERS` is the order Kubernetes' default profile runs them in; a node
reports only the reasons of the first filter that rejects it, like Kubernetes'
`RunFilterPlugins`, so counts add up to the number of nodes (NodeResourcesFit may name several
resources for one node).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def toleration_matches(tol: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Kubernetes' Toleration.ToleratesTaint."""
    effect = tol.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    operator = tol.get("operator") or "Equal"
    if key != (taint.get("key") or ""):
        # An empty key with operator Exists tolerates every taint.
        if not (key == "" and operator == "Exists"):
            return False
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (tol.get("value") or "") == (taint.get("value") or "")
    return False


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    return any(toleration_matches(t, taint) for t in tolerations)


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


def _expression_matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key = expr.get("key") or ""
    op = expr.get("operator") or ""
    values = [str(v) for v in expr.get("values") or []]
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        # Both sides must be integers; anything else does not match (as Kubernetes).
        if key not in labels or len(values) != 1:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _field_matches(expr: dict[str, Any], node: NodeInfo) -> bool:
    if expr.get("key") != "metadata.name":
        return False  # the only field Kubernetes supports in matchFields
    values = [str(v) for v in expr.get("values") or []]
    if expr.get("operator") == "In":
        return node.name in values
    if expr.get("operator") == "NotIn":
        return node.name not in values
    return False


def term_matches(term: dict[str, Any], node: NodeInfo) -> bool:
    """A nodeSelectorTerm: every expression and field must match; an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    return all(_expression_matches(e, node.labels) for e in exprs) and all(
        _field_matches(f, node) for f in fields
    )


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


def run_filters(pod: PodInfo, node: NodeInfo, filters: list[Filter] = FILTERS) -> list[str]:
    """Reasons of the first filter that rejects the node, or [] when every filter passes."""
    for f in filters:
        reasons = f(pod, node)
        if reasons:
            return reasons
    return []
