"""Pure predicates deciding whether a pod may run on a node: tolerations against taints, node
selector terms (required node affinity) against a node's labels and name.

Contract (Kubernetes' `v1.Toleration.ToleratesTaint` and `nodeaffinity`/`corev1 helper`):
- Everything works on plain wire dicts (`{"key", "operator", "value", "effect"}`), never
  mutates them and does no I/O; the scheduler's filters and the DaemonSet controller share it.
- `toleration_matches(tol, taint)`: an empty effect matches every effect; an empty key with
  operator Exists matches every taint; Equal compares values ("" when absent).
- `term_matches(term, labels, name)`: every matchExpression (In, NotIn, Exists, DoesNotExist,
  Gt, Lt with integers) and every matchField (only `metadata.name`, In/NotIn) must hold; an
  empty term matches nothing. `terms_match(terms, ...)` ORs the terms.
- `node_selector_matches(node_selector, labels)`: every spec.nodeSelector pair is equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def toleration_matches(tol: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = tol.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    operator = tol.get("operator") or "Equal"
    if key != (taint.get("key") or "") and not (key == "" and operator == "Exists"):
        return False
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (tol.get("value") or "") == (taint.get("value") or "")
    return False


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(toleration_matches(t, taint) for t in tolerations)


def expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
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


def field_matches(expr: Mapping[str, Any], name: str) -> bool:
    if expr.get("key") != "metadata.name":
        return False  # the only field Kubernetes supports in matchFields
    values = [str(v) for v in expr.get("values") or []]
    if expr.get("operator") == "In":
        return name in values
    if expr.get("operator") == "NotIn":
        return name not in values
    return False


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    return all(expression_matches(e, labels) for e in exprs) and all(field_matches(f, name) for f in fields)


def terms_match(terms: Iterable[Mapping[str, Any]], labels: Mapping[str, str], name: str) -> bool:
    return any(term_matches(t, labels, name) for t in terms)


def node_selector_matches(node_selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (node_selector or {}).items())


def required_terms(affinity: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The required nodeSelectorTerms of a pod's affinity, or None when it has none."""
    node_aff = (affinity or {}).get("nodeAffinity") or {}
    required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return None
    return list(required.get("nodeSelectorTerms") or [])


__all__ = [
    "expression_matches",
    "field_matches",
    "node_selector_matches",
    "required_terms",
    "term_matches",
    "terms_match",
    "tolerates",
    "toleration_matches",
]
