"""Deployment status and conditions (pkg/controller/deployment/progress.go + sync.go status).

Contract:
- `calculate_status(all_rs, new_rs, d)`: replicas / readyReplicas / availableReplicas summed
  over the ReplicaSets' status, updatedReplicas = the new RS's status.replicas,
  unavailableReplicas = sum of the RSes' spec.replicas - available (>= 0), observedGeneration, collisionCount, and
  the Available condition (MinimumReplicasAvailable when available >= replicas -
  maxUnavailable, else MinimumReplicasUnavailable).
- `rollout_status(...)` adds the Progressing condition when a progress deadline is set:
  NewReplicaSetAvailable once complete, ReplicaSetUpdated while progressing (keeping its
  transition time), ProgressDeadlineExceeded (status False) when the last progress is older
  than progressDeadlineSeconds. A complete deployment's condition is not touched again.
- `paused_condition(d)`: Progressing=Unknown DeploymentPaused / DeploymentResumed.
- `requeue_after_s(d, status)`: when to look again for a timeout (None: no need).
- Setting a condition with the same status and reason changes nothing; the same status with
  another reason keeps lastTransitionTime (SetDeploymentCondition).
"""

from __future__ import annotations

from datetime import UTC, datetime

from controllers.deployment import util
from machinery.clock import now_rfc3339, parse_time
from machinery.models import Deployment, DeploymentStatus, ReplicaSet, WorkloadCondition

PROGRESSING = "Progressing"
AVAILABLE = "Available"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
_NO_DEADLINE = 2**31 - 1


def condition(status: DeploymentStatus | None, type_: str) -> WorkloadCondition | None:
    for c in (status.conditions or []) if status else []:
        if c.type == type_:
            return c
    return None


def new_condition(type_: str, status: str, reason: str, message: str) -> WorkloadCondition:
    stamp = now_rfc3339()
    return WorkloadCondition(type=type_, status=status, reason=reason, message=message,
                             lastUpdateTime=stamp, lastTransitionTime=stamp)


def set_condition(status: DeploymentStatus, cond: WorkloadCondition) -> None:
    current = condition(status, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return
    if current is not None and current.status == cond.status:
        cond.lastTransitionTime = current.lastTransitionTime
    status.conditions = [c for c in status.conditions or [] if c.type != cond.type] + [cond]


def remove_condition(status: DeploymentStatus, type_: str) -> None:
    status.conditions = [c for c in status.conditions or [] if c.type != type_] or None


def has_progress_deadline(d: Deployment) -> bool:
    deadline = d.spec.progressDeadlineSeconds if d.spec else None
    return deadline is not None and deadline != _NO_DEADLINE


def calculate_status(all_rs: list[ReplicaSet], new_rs: ReplicaSet | None, d: Deployment) -> DeploymentStatus:
    available = sum(util.available(rs) for rs in all_rs)
    total = sum(util.status_replicas(rs) for rs in all_rs)
    old = d.status or DeploymentStatus()
    status = DeploymentStatus(
        observedGeneration=d.metadata.generation, replicas=total,
        updatedReplicas=util.status_replicas(new_rs) if new_rs else 0,
        readyReplicas=sum(util.ready(rs) for rs in all_rs), availableReplicas=available,
        unavailableReplicas=max(sum(util.replicas(rs) for rs in all_rs) - available, 0),
        collisionCount=old.collisionCount,
        conditions=[c.model_copy() for c in old.conditions or []] or None,
    )
    if available >= util.replicas(d) - util.max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability."))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability."))
    return status


def is_complete(d: Deployment, status: DeploymentStatus) -> bool:
    want = util.replicas(d)
    return (status.updatedReplicas == want and status.replicas == want and status.availableReplicas == want
            and (status.observedGeneration or 0) >= (d.metadata.generation or 0))


def is_progressing(d: Deployment, status: DeploymentStatus) -> bool:
    old = d.status or DeploymentStatus()
    old_old = (old.replicas or 0) - (old.updatedReplicas or 0)
    new_old = (status.replicas or 0) - (status.updatedReplicas or 0)
    return ((status.updatedReplicas or 0) > (old.updatedReplicas or 0) or new_old < old_old
            or (status.readyReplicas or 0) > (old.readyReplicas or 0)
            or (status.availableReplicas or 0) > (old.availableReplicas or 0))


def is_timed_out(d: Deployment, status: DeploymentStatus, now: datetime | None = None) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = condition(status, PROGRESSING)
    if cond is None or cond.reason == NEW_RS_AVAILABLE:
        return False
    if cond.reason == TIMED_OUT:
        return True
    since = parse_time(cond.lastUpdateTime)
    if since is None:
        return False
    assert d.spec is not None and d.spec.progressDeadlineSeconds is not None
    return (now or datetime.now(UTC)).timestamp() - since.timestamp() > d.spec.progressDeadlineSeconds


def rollout_status(all_rs: list[ReplicaSet], new_rs: ReplicaSet | None, d: Deployment) -> DeploymentStatus:
    status = calculate_status(all_rs, new_rs, d)
    if not has_progress_deadline(d):
        remove_condition(status, PROGRESSING)
        return status
    current = condition(d.status, PROGRESSING)
    complete = (status.replicas == status.updatedReplicas and current is not None
                and current.reason == NEW_RS_AVAILABLE)
    if complete:
        return status
    rs_name = new_rs.name if new_rs else ""
    if is_complete(d, status):
        set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                            f'ReplicaSet "{rs_name}" has successfully progressed.'))
    elif is_progressing(d, status):
        cond = new_condition(PROGRESSING, "True", RS_UPDATED, f'ReplicaSet "{rs_name}" is progressing.')
        if current is not None and current.status == "True":
            cond.lastTransitionTime = current.lastTransitionTime
        # Progress refreshes lastUpdateTime, which the deadline is measured from.
        status.conditions = [c for c in status.conditions or [] if c.type != PROGRESSING] + [cond]
    elif is_timed_out(d, status):
        set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                            f'ReplicaSet "{rs_name}" has timed out progressing.'))
    return status


def paused_condition(d: Deployment) -> WorkloadCondition | None:
    """The Progressing condition to write for a pause/resume, or None when nothing changes."""
    if not has_progress_deadline(d):
        return None
    cond = condition(d.status, PROGRESSING)
    if cond is not None and cond.reason == TIMED_OUT:
        return None  # a timeout stays visible
    paused_exists = cond is not None and cond.reason == PAUSED
    paused = bool(d.spec and d.spec.paused)
    if paused and not paused_exists:
        return new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused")
    if not paused and paused_exists:
        return new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed")
    return None


def requeue_after_s(d: Deployment, status: DeploymentStatus, now: datetime | None = None) -> float | None:
    cond = condition(status, PROGRESSING)
    if not has_progress_deadline(d) or cond is None or cond.reason in (TIMED_OUT, NEW_RS_AVAILABLE):
        return None
    if is_complete(d, status):
        return None
    since = parse_time(cond.lastUpdateTime)
    if since is None:
        return None
    assert d.spec is not None and d.spec.progressDeadlineSeconds is not None
    after = since.timestamp() + d.spec.progressDeadlineSeconds - (now or datetime.now(UTC)).timestamp()
    return max(after, 0.0) + 1.0


def status_dict(status: DeploymentStatus) -> dict[str, object]:
    """A merge patch body that replaces the whole status (None removes a field)."""
    data = status.to_dict()
    return {k: data.get(k) for k in DeploymentStatus.model_fields}
