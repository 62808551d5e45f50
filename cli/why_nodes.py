"""The node that came closest to taking an unscheduled pod, and what it lacks (for `kubelite why`).

Contract: `closest_node(pod, nodes, pods)` is pure (wire dicts in): for every node, the reasons
it cannot take the pod, checked as the scheduler's filters do (machinery/nodematch.py for taints,
nodeSelector and required node affinity; requests against allocatable minus the requests of the
non-terminal pods bound to it, Kubernetes' NodeResourcesFit, plus one pod slot). Returns (node
name, reasons) for the node with the fewest reasons, ties broken by the smallest resource
shortfall relative to allocatable, or None when there is no node. Reasons are plain words:
`cpu: the pod requests 500, 1900m of 2 is free`, `taint gpu=true:NoSchedule not tolerated`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from machinery import nodematch, quota

Obj = dict[str, Any]
_BLOCKING = ("NoSchedule", "NoExecute")


def _requests(pod: Obj) -> dict[str, Decimal]:
    out = quota.pod_totals(pod, "requests")
    out["pods"] = Decimal(1)
    return out


def _node_problems(pod: Obj, node: Obj, bound: list[Obj]) -> tuple[list[str], Decimal]:
    spec, meta = pod.get("spec") or {}, node.get("metadata") or {}
    labels, name = meta.get("labels") or {}, str(meta.get("name") or "")
    problems: list[str] = []
    if (node.get("spec") or {}).get("unschedulable"):
        problems.append("it is cordoned (unschedulable)")
    ready: Obj = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})
    if ready.get("status") != "True":
        problems.append("it is not Ready")
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in _BLOCKING and not nodematch.tolerates(spec.get("tolerations") or [], taint):
            shown = f"={taint['value']}" if taint.get("value") else ""
            problems.append(f"taint {taint.get('key')}{shown}:{taint.get('effect')} not tolerated")
    for key, want in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != want:
            problems.append(f"label {key}={want} missing (nodeSelector)")
    terms = nodematch.required_terms(spec.get("affinity"))
    if terms is not None and not nodematch.terms_match(terms, labels, name):
        problems.append("it does not match the pod's required node affinity")
    allocatable = quota.parse_list((node.get("status") or {}).get("allocatable"))
    used: dict[str, Decimal] = {"pods": Decimal(len(bound))}
    for other in bound:
        for res, value in quota.pod_totals(other, "requests").items():
            used[res] = used.get(res, Decimal(0)) + value
    shortfall = Decimal(0)
    for res, need in sorted(_requests(pod).items()):
        if need <= 0 or res not in allocatable:
            continue
        free = allocatable[res] - used.get(res, Decimal(0))
        if need > free:
            shortfall += (need - free) / max(allocatable[res], Decimal(1))
            what = "slots" if res == "pods" else ""
            problems.append(f"{res}: the pod requests {quota.fmt(res, need)}{' ' + what if what else ''}, "
                            f"{quota.fmt(res, max(free, Decimal(0)))} of {quota.fmt(res, allocatable[res])} is free")
    return problems, shortfall


def closest_node(pod: Obj, nodes: list[Obj], pods: list[Obj]) -> tuple[str, list[str]] | None:
    by_node: dict[str, list[Obj]] = {}
    for p in pods:
        node = (p.get("spec") or {}).get("nodeName")
        if node and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            by_node.setdefault(str(node), []).append(p)
    best: tuple[int, Decimal, str, list[str]] | None = None
    for node in nodes:
        name = str((node.get("metadata") or {}).get("name") or "")
        problems, shortfall = _node_problems(pod, node, by_node.get(name, []))
        key = (len(problems), shortfall, name, problems)
        if best is None or key[:3] < best[:3]:
            best = key
    return None if best is None else (best[2], best[3])


__all__ = ["closest_node"]
