"""Policy admission on create: LimitRanger for Pods and PersistentVolumeClaims.

Contract: `await admit_limits(storage, kind, plural, obj)` reads the LimitRanges of the object's
namespace from the watch cache behind a consistent-read fence (admission/lookup.py: a
LimitRange created a moment ago applies), applies the container
defaults to a Pod (then recomputes its status.qosClass, which depends on them), and raises
403 Forbidden `pods "x" is forbidden: <violation>` (apiserver/admission/limitranger.py) when a
min / max / maxLimitRequestRatio rule is broken. Other kinds pass untouched. Kubernetes runs
LimitRanger on pod creation (resources are immutable afterwards) and on PVC create and update;
kubelite on creation of both.
"""

from __future__ import annotations

from typing import Any

from apiserver.admission import limitranger
from apiserver.admission.lookup import fresh_list
from apiserver.storage import Storage
from machinery import errors
from machinery.qos import pod_qos_class

Obj = dict[str, Any]
LIMITED_KINDS = ("Pod", "PersistentVolumeClaim")


async def admit_limits(storage: Storage, kind: str, plural: str, obj: Obj) -> None:
    if kind not in LIMITED_KINDS:
        return
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    limit_ranges = await fresh_list(storage, "limitranges", namespace)
    if not limit_ranges:
        return
    if kind == "Pod" and limitranger.default_pod(obj, limit_ranges):
        obj.setdefault("status", {})["qosClass"] = pod_qos_class(obj.get("spec") or {})
    message = limitranger.forbidden_message(kind, obj, limit_ranges)
    if message is not None:
        name = str(meta.get("name") or "")
        raise errors.Forbidden(f'{plural} "{name}" is forbidden: {message}', name=name, kind=plural)


__all__ = ["LIMITED_KINDS", "admit_limits"]
