"""PodDisruptionBudget arithmetic shared by the disruption controller and the eviction
subresource (pure, on wire dicts).

Contract (Kubernetes pkg/controller/disruption, pkg/registry/core/pod/storage/eviction.go):
- `selects(pdb, pod)`: the PDB's selector (none: nothing) matches the pod's labels.
- `is_healthy(pod)`: not being deleted and Ready=True.
- `compute_status(pdb, pods, expected)`: expectedPods = `expected` (the pods' controllers'
  replicas, else the number of pods), currentHealthy, desiredHealthy from minAvailable
  (int, or percent of expected rounded up) or maxUnavailable (expected minus the int, or
  the percent rounded up), disruptionsAllowed = max(0, currentHealthy - desiredHealthy),
  observedGeneration, the DisruptionAllowed condition (SufficientPods / InsufficientPods).
- `eviction_refusal(pdb, pod)`: None when the eviction may go ahead (charging the budget when
  `charges` says so), else the 429 cause message
  (`The disruption budget web needs 2 healthy pods and has 2 currently`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from machinery.selectors import selector_from_model

Obj = dict[str, Any]
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def selects(pdb: Obj, pod: Obj) -> bool:
    sel = (pdb.get("spec") or {}).get("selector")
    if sel is None:
        return False
    try:
        return selector_from_model(sel).matches((pod.get("metadata") or {}).get("labels") or {})
    except ValueError:
        return False


def is_healthy(pod: Obj) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _scaled(value: int | str, total: int) -> int:
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%"):
        return math.ceil(int(text[:-1]) * total / 100)
    return int(text)


def desired_healthy(pdb: Obj, expected: int) -> int:
    spec = pdb.get("spec") or {}
    if spec.get("minAvailable") is not None:
        return _scaled(spec["minAvailable"], expected)
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - _scaled(spec["maxUnavailable"], expected))
    return expected  # neither: Kubernetes' default of minAvailable 1 is applied at defaulting


def compute_status(pdb: Obj, pods: Iterable[Obj], expected: int | None, *, now: str) -> Obj:
    matched = [p for p in pods if selects(pdb, p)]
    expected_pods = len(matched) if expected is None else expected
    healthy = sum(1 for p in matched if is_healthy(p))
    desired = desired_healthy(pdb, expected_pods)
    allowed = max(0, healthy - desired)
    old = pdb.get("status") or {}
    old_cond = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    status = "True" if allowed > 0 else "False"
    cond = {"type": "DisruptionAllowed", "status": status,
            "reason": "SufficientPods" if allowed > 0 else "InsufficientPods", "message": "",
            "observedGeneration": int((pdb.get("metadata") or {}).get("generation") or 1),
            "lastTransitionTime": old_cond["lastTransitionTime"] if old_cond and old_cond.get("status") == status
            and old_cond.get("lastTransitionTime") else now}
    out: Obj = {"observedGeneration": int((pdb.get("metadata") or {}).get("generation") or 1),
                "disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": desired,
                "expectedPods": expected_pods, "conditions": [cond]}
    live = {p["metadata"]["name"] for p in matched if not (p.get("metadata") or {}).get("deletionTimestamp")}
    disrupted = {k: v for k, v in (old.get("disruptedPods") or {}).items() if k in live}
    if disrupted:
        out["disruptedPods"] = disrupted
    return out


def eviction_refusal(pdb: Obj, pod: Obj) -> tuple[str | None, bool]:
    """(refusal message or None, whether the eviction charges the budget)."""
    status = pdb.get("status") or {}
    name = (pdb.get("metadata") or {}).get("name", "")
    generation = int((pdb.get("metadata") or {}).get("generation") or 1)
    if not is_healthy(pod):
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
        if policy == "AlwaysAllow":
            return None, False
        if int(status.get("currentHealthy") or 0) >= int(status.get("desiredHealthy") or 0) > 0:
            return None, False
    if int(status.get("observedGeneration") or 0) < generation:
        return f"The disruption budget {name} is still being processed by the server.", False
    if int(status.get("disruptionsAllowed") or 0) <= 0:
        return (f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} healthy pods "
                f"and has {int(status.get('currentHealthy') or 0)} currently"), False
    return None, True


__all__ = ["REFUSED", "compute_status", "desired_healthy", "eviction_refusal", "is_healthy", "selects"]
