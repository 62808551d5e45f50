"""autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler, as Kubernetes converts them.

Contract (pkg/apis/autoscaling/v1/conversion.go): v1 has only `targetCPUUtilizationPercentage`
and `currentCPUUtilizationPercentage`; whatever else a v2 object says rides in v1 annotations and
comes back on the way in: `autoscaling.alpha.kubernetes.io/metrics` (the non-cpu-utilization
metrics), `.../behavior`, `.../conditions`, `.../current-metrics` (JSON). Decision: the JSON in
those annotations is in v2's shape (Kubernetes writes v2beta1's there).
- `to_v1(obj) -> obj`, `to_v2(obj) -> obj`: plain dicts, the input untouched.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Obj = dict[str, Any]
PREFIX = "autoscaling.alpha.kubernetes.io/"
METRICS, BEHAVIOR, CONDITIONS, CURRENT = (f"{PREFIX}metrics", f"{PREFIX}behavior", f"{PREFIX}conditions",
                                          f"{PREFIX}current-metrics")


def _is_cpu_utilization(m: Obj) -> bool:
    r = m.get("resource") or {}
    return m.get("type") == "Resource" and r.get("name") == "cpu" and (r.get("target") or {}).get("type") == "Utilization"


def to_v1(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    meta = out.setdefault("metadata", {})
    ann = dict(meta.get("annotations") or {})
    spec, status = out.get("spec") or {}, out.get("status") or {}
    metrics = spec.pop("metrics", None) or []
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get("averageUtilization")
    others = [m for m in metrics if m is not cpu]
    if others:
        ann[METRICS] = json.dumps(others)
    behavior = spec.pop("behavior", None)
    if behavior:
        ann[BEHAVIOR] = json.dumps(behavior)
    current = status.pop("currentMetrics", None) or []
    cur_cpu = next((m for m in current if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu"
                    and ((m.get("resource") or {}).get("current") or {}).get("averageUtilization") is not None), None)
    if cur_cpu is not None:
        status["currentCPUUtilizationPercentage"] = cur_cpu["resource"]["current"]["averageUtilization"]
    if current:
        ann[CURRENT] = json.dumps(current)
    conditions = status.pop("conditions", None)
    if conditions:
        ann[CONDITIONS] = json.dumps(conditions)
    if ann:
        meta["annotations"] = ann
    return out


def _load(ann: Obj, key: str) -> Any:
    raw = ann.pop(key, None)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def to_v2(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    meta = out.setdefault("metadata", {})
    ann = dict(meta.get("annotations") or {})
    spec = out.get("spec")
    if isinstance(spec, dict):
        target = spec.pop("targetCPUUtilizationPercentage", None)
        metrics = []
        if target is not None:
            metrics.append({"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}})
        others = _load(ann, METRICS)
        if isinstance(others, list):
            metrics += others
        if metrics:
            spec["metrics"] = metrics
        behavior = _load(ann, BEHAVIOR)
        if isinstance(behavior, dict):
            spec["behavior"] = behavior
    status = out.get("status")
    if isinstance(status, dict):
        status.pop("currentCPUUtilizationPercentage", None)
        current = _load(ann, CURRENT)
        if isinstance(current, list):
            status["currentMetrics"] = current
        conditions = _load(ann, CONDITIONS)
        if isinstance(conditions, list):
            status["conditions"] = conditions
    else:
        _load(ann, CURRENT)
        _load(ann, CONDITIONS)
    if ann:
        meta["annotations"] = ann
    else:
        meta.pop("annotations", None)
    return out
