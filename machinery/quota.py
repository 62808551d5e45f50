"""ResourceQuota arithmetic shared by the quota admission and the quota controller (pure).

Contract (Kubernetes pkg/quota/v1/evaluator/core):
- `usage(plural, group, obj)`: what one object charges: `count/<plural>[.<group>]` = 1, the
  legacy names `pods`, `services`, `configmaps`, `secrets`, `persistentvolumeclaims`,
  `replicationcontrollers`, `resourcequotas` = 1; a pod also `requests.X`/`limits.X` (sum of its
  containers, an init container counts where larger) and `X` = `requests.X` for cpu, memory,
  ephemeral-storage; a terminal pod (Succeeded/Failed) or one being deleted charges nothing; a
  PVC `requests.storage`; a Service `services.nodeports`/`services.loadbalancers`.
- `matches(quota, plural, obj)`: the quota's scopes (spec.scopes and scopeSelector) select the
  object: scoped quotas select pods only; BestEffort/NotBestEffort by QoS class,
  Terminating/NotTerminating by spec.activeDeadlineSeconds, PriorityClass by
  spec.priorityClassName (In/NotIn/Exists/DoesNotExist).
- `kinds_for(hard)`: the plurals whose objects a quota with these hard limits counts.
- `used_of(quota, objects)`: status.used recomputed from all objects (plural -> dicts).
- `missing_requests(quota, pod)`: resources a pod must specify because the quota limits them
  (`limits.cpu for: web`), as Kubernetes refuses such pods.
- `exceeded(hard, used, delta)`: the resources the delta would push past hard (sorted).
- `fmt(name, value)`: a quantity as Kubernetes prints it (`500m`, `256Mi`, `3`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from machinery.qos import pod_qos_class
from machinery.quantity import format_memory, parse_quantity

Obj = dict[str, Any]
LEGACY_COUNTED = ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims",
                  "replicationcontrollers", "resourcequotas")
POD_COMPUTE = ("cpu", "memory", "ephemeral-storage")
_POD_KEYS = {"pods", *POD_COMPUTE, *(f"requests.{r}" for r in POD_COMPUTE), *(f"limits.{r}" for r in POD_COMPUTE)}
_ONE = Decimal(1)


def pod_totals(pod: Obj, field: str) -> dict[str, Decimal]:
    """Sum of the containers' `field` (requests/limits); an init container counts where it alone
    is larger (Kubernetes' podRequests/podLimits)."""
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {}
    for c in spec.get("containers") or []:
        for name, raw in ((c.get("resources") or {}).get(field) or {}).items():
            total[name] = total.get(name, Decimal(0)) + parse_quantity(raw)
    for c in spec.get("initContainers") or []:
        for name, raw in ((c.get("resources") or {}).get(field) or {}).items():
            total[name] = max(total.get(name, Decimal(0)), parse_quantity(raw))
    return total


def _pod_usage(pod: Obj) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for field in ("requests", "limits"):
        for name, value in pod_totals(pod, field).items():
            if name in POD_COMPUTE:
                out[f"{field}.{name}"] = value
                if field == "requests":
                    out[name] = value
    return out


def usage(plural: str, group: str, obj: Obj) -> dict[str, Decimal]:
    if plural == "pods":
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return {}
    out: dict[str, Decimal] = {f"count/{plural}" + (f".{group}" if group else ""): _ONE}
    if not group and plural in LEGACY_COUNTED:
        out[plural] = _ONE
    if plural == "pods":
        out.update(_pod_usage(obj))
    elif plural == "persistentvolumeclaims":
        storage = (((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        if storage is not None:
            out["requests.storage"] = parse_quantity(storage)
    elif plural == "services":
        stype = (obj.get("spec") or {}).get("type")
        if stype in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Decimal(len((obj.get("spec") or {}).get("ports") or []))
        if stype == "LoadBalancer":
            out["services.loadbalancers"] = _ONE
    return out


def _scope_terms(quota: Obj) -> list[tuple[str, str, list[str]]]:
    spec = quota.get("spec") or {}
    terms: list[tuple[str, str, list[str]]] = [(str(s), "Exists", []) for s in spec.get("scopes") or []]
    for req in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        terms.append((str(req.get("scopeName") or ""), str(req.get("operator") or ""), list(req.get("values") or [])))
    return terms


def _term_matches(scope: str, op: str, values: list[str], pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    if scope in ("BestEffort", "NotBestEffort"):
        return (pod_qos_class(spec) == "BestEffort") == (scope == "BestEffort")
    if scope in ("Terminating", "NotTerminating"):
        return (spec.get("activeDeadlineSeconds") is not None) == (scope == "Terminating")
    if scope == "PriorityClass":
        name = spec.get("priorityClassName")
        return {"In": name in values, "NotIn": name not in values, "Exists": bool(name),
                "DoesNotExist": not name}.get(op, False)
    return False


def matches(quota: Obj, plural: str, obj: Obj) -> bool:
    terms = _scope_terms(quota)
    if not terms:
        return True
    return plural == "pods" and all(_term_matches(s, op, vals, obj) for s, op, vals in terms)


def kinds_for(hard: Iterable[str]) -> set[tuple[str, str]]:
    """(plural, group) of the objects that the hard resources count."""
    out: set[tuple[str, str]] = set()
    for name in hard:
        if name in _POD_KEYS:
            out.add(("pods", ""))
        elif name in LEGACY_COUNTED:
            out.add((name, ""))
        elif name.startswith("services."):
            out.add(("services", ""))
        elif name == "requests.storage" or name.endswith(".storageclass.storage.k8s.io/requests.storage"):
            out.add(("persistentvolumeclaims", ""))
        elif name.startswith("count/"):
            plural, _, group = name[len("count/"):].partition(".")
            out.add((plural, group))
    return out


def used_of(quota: Obj, objects: Mapping[tuple[str, str], Iterable[Obj]]) -> dict[str, Decimal]:
    hard = (quota.get("spec") or {}).get("hard") or {}
    used = {name: Decimal(0) for name in hard}
    for (plural, group), items in objects.items():
        for obj in items:
            if not matches(quota, plural, obj):
                continue
            for name, value in usage(plural, group, obj).items():
                if name in used:
                    used[name] += value
    return used


def missing_requests(quota: Obj, pod: Obj) -> list[str]:
    """`limits.cpu for: a,b` for each compute resource the quota limits and a container lacks."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    out: list[str] = []
    for key in sorted(hard):
        field, _, resource = key.partition(".")
        if key in POD_COMPUTE:
            field, resource = "requests", key
        elif field not in ("requests", "limits") or resource not in POD_COMPUTE:
            continue
        lacking = [str(c.get("name") or "") for c in (pod.get("spec") or {}).get("containers") or []
                   if resource not in ((c.get("resources") or {}).get(field) or {})]
        if lacking:
            out.append(f"{key} for: {','.join(lacking)}")
    return out


def exceeded(hard: Mapping[str, Decimal], used: Mapping[str, Decimal], delta: Mapping[str, Decimal]) -> list[str]:
    return sorted(n for n, d in delta.items() if n in hard and used.get(n, Decimal(0)) + d > hard[n])


def fmt(name: str, value: Decimal) -> str:
    if ("memory" in name or "storage" in name) and value == value.to_integral_value():
        return format_memory(int(value))
    if value == value.to_integral_value():
        return str(int(value))
    milli = value * 1000
    return f"{int(milli)}m" if milli == milli.to_integral_value() else format(value, "f")


def parse_list(values: Mapping[str, Any] | None) -> dict[str, Decimal]:
    return {name: parse_quantity(raw) for name, raw in (values or {}).items()}


__all__ = ["LEGACY_COUNTED", "exceeded", "fmt", "kinds_for", "matches", "missing_requests", "parse_list",
           "pod_totals", "usage", "used_of"]
