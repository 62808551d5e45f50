"""Small pure helpers about pods and owner references shared by the workload controllers.

Contract:
- `is_active(pod)`: not Succeeded/Failed and not being deleted (what counts toward replicas).
- `is_ready(pod)`: condition Ready=True. `is_available(pod, min_ready_s, now)`: ready for at
  least `min_ready_s` (by the Ready condition's lastTransitionTime), as Kubernetes.
- `controller_ref(obj)`: the ownerReference with controller=true, or None.
- `new_controller_ref(owner)`: controller=true, blockOwnerDeletion=true.
- `namespace_going_away(err)`: the create failed because its namespace is gone or being
  terminated: not worth a retry (the namespace controller deletes the owner too).
- `deletion_rank(pod)`: a sort key; sorting ascending puts the least valuable pod first
  (unscheduled < pending < unknown < running, not ready < ready, ready for a shorter time,
  more restarts, then newer) as client-go `ActivePodsWithRanks` without the per-node rank.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from machinery import errors
from machinery.clock import parse_time
from machinery.meta import OwnerReference, Resource
from machinery.models import Pod

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_active(pod: Pod) -> bool:
    phase = pod.status.phase if pod.status else None
    return phase not in ("Succeeded", "Failed") and not pod.metadata.deletionTimestamp


def _ready_condition(pod: Pod) -> Any:
    for cond in (pod.status.conditions or []) if pod.status else []:
        if cond.type == "Ready":
            return cond
    return None


def is_ready(pod: Pod) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.status == "True"


def ready_since(pod: Pod) -> datetime | None:
    cond = _ready_condition(pod)
    if cond is None or cond.status != "True":
        return None
    return parse_time(cond.lastTransitionTime) or _EPOCH


def is_available(pod: Pod, min_ready_s: int, now: datetime | None = None) -> bool:
    since = ready_since(pod)
    if since is None:
        return False
    if min_ready_s <= 0:
        return True
    return (since - (now or datetime.now(UTC))).total_seconds() + min_ready_s <= 0


def controller_ref(obj: Resource) -> OwnerReference | None:
    for ref in obj.metadata.ownerReferences or []:
        if ref.controller:
            return ref
    return None


def new_controller_ref(owner: Resource) -> OwnerReference:
    return OwnerReference(apiVersion=owner.api_version(), kind=owner.KIND, name=owner.name,
                          uid=owner.uid, controller=True, blockOwnerDeletion=True)


def restarts(pod: Pod) -> int:
    return sum(cs.restartCount or 0 for cs in (pod.status.containerStatuses or [])) if pod.status else 0


def deletion_rank(pod: Pod) -> tuple[Any, ...]:
    """Ascending order = delete first (see module docstring)."""
    assigned = 1 if pod.spec and pod.spec.nodeName else 0
    phase = _PHASE_RANK.get((pod.status.phase if pod.status else None) or "Pending", 0)
    since = ready_since(pod)
    ready = 0 if since is None else 1
    # Ready for a shorter time is worth less: a later ready time sorts first.
    ready_ts = -(since.timestamp()) if since else 0.0
    created = parse_time(pod.metadata.creationTimestamp) or _EPOCH
    return (assigned, phase, ready, ready_ts, -restarts(pod), -created.timestamp())


def namespace_going_away(err: Exception) -> bool:
    if isinstance(err, errors.Forbidden):
        return errors.has_cause(err, errors.NAMESPACE_TERMINATING_CAUSE)
    return isinstance(err, errors.NotFound) and err.kind == "namespaces"
