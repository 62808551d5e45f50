"""LimitRanger admission (plugin/pkg/admission/limitranger/admission.go), pure functions.

Contract (all on wire dicts, as stored after defaults and validation):
- `default_pod(pod, limit_ranges)`: for every `Container` item of every LimitRange, each
  container and init container missing a limit (request) for a resource in `default`
  (`defaultRequest`) gets it; the pod is annotated `kubernetes.io/limit-ranger:
  "LimitRanger plugin set: cpu, memory request for container web; cpu limit for container web"`.
  Returns True if it changed the pod. (Kubernetes API defaults of a LimitRange item, applied at
  its creation in machinery/defaults.py: default <- max, defaultRequest <- default <- min.)
- `pod_violations(pod, limit_range)` / `pvc_violations(pvc, limit_range)`: the messages of the
  min / max / maxLimitRequestRatio rules the object breaks, worded as Kubernetes
  (`minimum cpu usage per Container is 100m, but request is 50m`). Pod items apply to the sum of
  the containers' requests/limits (an init container counts when it is larger); PVC items to
  `spec.resources.requests` (limits are not user input there, as in Kubernetes).
- `forbidden_message(kind, obj, limit_ranges)`: None, or the message of the first LimitRange
  the object violates (several violations as Kubernetes aggregates them: `[a, b]`).
Quantities are printed as the user wrote them (Kubernetes prints the canonical form, the same
for canonical input such as `50m`, `128Mi`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from machinery.quantity import parse_quantity
from machinery.quota import pod_totals

Obj = dict[str, Any]
ANNOTATION = "kubernetes.io/limit-ranger"


def _items(limit_range: Obj, limit_type: str) -> list[Obj]:
    limits = (limit_range.get("spec") or {}).get("limits") or []
    return [item for item in limits if isinstance(item, dict) and item.get("type") == limit_type]


def _containers(pod: Obj) -> Iterable[tuple[str, Obj]]:
    spec = pod.get("spec") or {}
    for prefix, key in (("init container", "initContainers"), ("container", "containers")):
        for c in spec.get(key) or []:
            yield prefix, c


# --- defaults --------------------------------------------------------------------------------


def _merge(container: Obj, prefix: str, requests: Mapping[str, str], limits: Mapping[str, str]) -> list[str]:
    resources = container.setdefault("resources", {})
    notes: list[str] = []
    for field, defaults, word in (("requests", requests, "request"), ("limits", limits, "limit")):
        current = resources.get(field) or {}
        added = sorted(name for name in defaults if name not in current)
        if added:
            resources[field] = {**current, **{name: defaults[name] for name in added}}
            notes.append(f"{', '.join(added)} {word} for {prefix} {container.get('name', '')}")
    return notes


def default_pod(pod: Obj, limit_ranges: Iterable[Obj]) -> bool:
    notes: list[str] = []
    for lr in limit_ranges:
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        for item in _items(lr, "Container"):
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
        if not requests and not limits:
            continue
        for prefix, container in _containers(pod):
            notes += _merge(container, prefix, requests, limits)
    if notes:
        meta = pod.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               ANNOTATION: "LimitRanger plugin set: " + "; ".join(notes)}
    return bool(notes)


# --- constraints -----------------------------------------------------------------------------


def _value(resources: Mapping[str, Any], name: str) -> Decimal | None:
    raw = resources.get(name)
    return None if raw is None else parse_quantity(raw)


def _min(kind: str, name: str, enforced: str, request: Mapping[str, Any], limit: Mapping[str, Any]) -> str | None:
    req, lim, bound = _value(request, name), _value(limit, name), parse_quantity(enforced)
    if req is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if req < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {request[name]}"
    if lim is not None and lim < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {limit[name]}"
    return None


def _max(kind: str, name: str, enforced: str, request: Mapping[str, Any], limit: Mapping[str, Any]) -> str | None:
    req, lim, bound = _value(request, name), _value(limit, name), parse_quantity(enforced)
    if lim is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if lim > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {limit[name]}"
    if req is not None and req > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request[name]}"
    return None


def _max_request(kind: str, name: str, enforced: str, request: Mapping[str, Any]) -> str | None:
    req = _value(request, name)
    if req is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if req > parse_quantity(enforced):
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request[name]}"
    return None


def _ratio(kind: str, name: str, enforced: str, request: Mapping[str, Any], limit: Mapping[str, Any]) -> str | None:
    req, lim = _value(request, name), _value(limit, name)
    prefix = f"{name} max limit to request ratio per {kind} is {enforced}"
    if not req:
        return f"{prefix}, but no request is specified or request is 0"
    if not lim:
        return f"{prefix}, but no limit is specified or limit is 0"
    observed = lim / req
    if observed > parse_quantity(enforced):
        return f"{prefix}, but provided ratio is {float(observed):f}"
    return None


def _check(kind: str, item: Obj, request: Mapping[str, Any], limit: Mapping[str, Any]) -> list[str]:
    found = [_min(kind, n, v, request, limit) for n, v in (item.get("min") or {}).items()]
    found += [_max(kind, n, v, request, limit) for n, v in (item.get("max") or {}).items()]
    found += [_ratio(kind, n, v, request, limit) for n, v in (item.get("maxLimitRequestRatio") or {}).items()]
    return [msg for msg in found if msg is not None]


def _show(value: Decimal) -> str:
    """A sum as Kubernetes prints it: whole units, else milli-units (600m + 600m = 1200m)."""
    if value == value.to_integral_value():
        return str(int(value))
    milli = value * 1000
    return f"{int(milli)}m" if milli == milli.to_integral_value() else format(value, "f")


def pod_violations(pod: Obj, limit_range: Obj) -> list[str]:
    errs: list[str] = []
    for item in _items(limit_range, "Container"):
        for _, c in _containers(pod):
            resources = c.get("resources") or {}
            errs += _check("Container", item, resources.get("requests") or {}, resources.get("limits") or {})
    for item in _items(limit_range, "Pod"):
        requests = {k: _show(v) for k, v in pod_totals(pod, "requests").items()}
        limits = {k: _show(v) for k, v in pod_totals(pod, "limits").items()}
        errs += _check("Pod", item, requests, limits)
    return errs


def pvc_violations(pvc: Obj, limit_range: Obj) -> list[str]:
    requests = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
    errs: list[str] = []
    for item in _items(limit_range, "PersistentVolumeClaim"):
        found = [_min("PersistentVolumeClaim", n, v, requests, {}) for n, v in (item.get("min") or {}).items()]
        found += [_max_request("PersistentVolumeClaim", n, v, requests) for n, v in (item.get("max") or {}).items()]
        errs += [msg for msg in found if msg is not None]
    return errs


def forbidden_message(kind: str, obj: Obj, limit_ranges: Iterable[Obj]) -> str | None:
    check = pod_violations if kind == "Pod" else pvc_violations
    for lr in limit_ranges:
        errs = list(dict.fromkeys(check(obj, lr)))  # Kubernetes' aggregate drops duplicates
        if errs:
            return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
    return None


__all__ = ["ANNOTATION", "default_pod", "forbidden_message", "pod_violations", "pvc_violations"]
