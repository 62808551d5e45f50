"""Deployment arithmetic and annotations (pkg/controller/deployment/util/deployment_util.go).

Contract:
- `scaled_value(v, total, round_up)`: an int, or "N%" of `total` rounded up (maxSurge) or
  down (maxUnavailable), as Kubernetes' GetScaledValueFromIntOrPercent.
- `resolve_fenceposts(d)` -> (surge, unavailable); both 0 makes unavailable 1 so a rollout can
  always progress. `max_surge(d)`, `max_unavailable(d)` (0 for Recreate; unavailable capped
  at replicas).
- Annotations on ReplicaSets: revision, desired-replicas (`spec.replicas` of the deployment
  when the RS was last scaled) and max-replicas (replicas + surge), read by proportional
  scaling. `set_new_rs_annotations` copies the deployment's own annotations (except the
  controller's) and raises the revision when the RS becomes the newest again (rollback).
- Sorting helpers and sums over ReplicaSet lists; `replicas(obj)` reads spec.replicas (0 if unset).
"""

from __future__ import annotations

import math
from typing import Any

from machinery.clock import parse_time
from machinery.models import Deployment, ReplicaSet

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_NOT_COPIED = {REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, LAST_APPLIED,
               "deprecated.deployment.rollback.to"}


def replicas(obj: Deployment | ReplicaSet | None) -> int:
    if obj is None or obj.spec is None or obj.spec.replicas is None:
        return 0
    return obj.spec.replicas


def is_rolling(d: Deployment) -> bool:
    strategy = d.spec.strategy if d.spec else None
    return strategy is None or strategy.type in (None, "RollingUpdate")


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%") or not text[:-1].isdigit():
        raise ValueError(f'invalid value "{value}": must be an integer or a percentage like "25%"')
    percent = int(text[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(d: Deployment) -> tuple[int, int]:
    assert d.spec is not None
    ru = d.spec.strategy.rollingUpdate if d.spec.strategy else None
    surge_v = ru.maxSurge if ru and ru.maxSurge is not None else "25%"
    unavail_v = ru.maxUnavailable if ru and ru.maxUnavailable is not None else "25%"
    desired = replicas(d)
    surge = scaled_value(surge_v, desired, True)
    unavailable = scaled_value(unavail_v, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # a rollout must be able to move (validation rejects 0/0 too)
    return surge, unavailable


def max_surge(d: Deployment) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Deployment) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas(d))


def annotation(obj: Deployment | ReplicaSet, name: str) -> str | None:
    return (obj.metadata.annotations or {}).get(name)


def int_annotation(obj: Deployment | ReplicaSet, name: str) -> int | None:
    value = annotation(obj, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def revision(rs: ReplicaSet | Deployment) -> int:
    return int_annotation(rs, REVISION) or 0


def max_revision(rs_list: list[ReplicaSet]) -> int:
    return max((revision(rs) for rs in rs_list), default=0)


def set_replicas_annotations(rs: ReplicaSet, desired: int, max_replicas: int) -> bool:
    """Set desired/max-replicas on `rs` (mutates); True when something changed."""
    annotations = dict(rs.metadata.annotations or {})
    before = dict(annotations)
    annotations[DESIRED_REPLICAS] = str(desired)
    annotations[MAX_REPLICAS] = str(max_replicas)
    rs.metadata.annotations = annotations
    return annotations != before


def replicas_annotations_need_update(rs: ReplicaSet, desired: int, max_replicas: int) -> bool:
    return annotation(rs, DESIRED_REPLICAS) != str(desired) or annotation(rs, MAX_REPLICAS) != str(max_replicas)


def set_new_rs_annotations(d: Deployment, rs: ReplicaSet, new_revision: int, exists: bool) -> bool:
    """Copy the deployment's annotations, raise the revision (rollback keeps a history); for
    a RS about to be created also set the replicas annotations. Mutates `rs`."""
    annotations = dict(rs.metadata.annotations or {})
    before = dict(annotations)
    for k, v in (d.metadata.annotations or {}).items():
        if k not in _NOT_COPIED:
            annotations[k] = v
    old = int_annotation(rs, REVISION) or 0
    if old < new_revision:
        annotations[REVISION] = str(new_revision)
        if old:  # the RS is the newest again (a rollback): remember its earlier revisions
            history = [h for h in (annotations.get(REVISION_HISTORY) or "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, str(old)])
    rs.metadata.annotations = annotations
    changed = annotations != before
    if not exists:
        changed = set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) or changed
    return changed


def status_replicas(rs: ReplicaSet) -> int:
    return rs.status.replicas if rs.status else 0


def available(rs: ReplicaSet) -> int:
    return (rs.status.availableReplicas or 0) if rs.status else 0


def ready(rs: ReplicaSet) -> int:
    return (rs.status.readyReplicas or 0) if rs.status else 0


def active(rs_list: list[ReplicaSet]) -> list[ReplicaSet]:
    return [rs for rs in rs_list if replicas(rs) > 0]


def _created(rs: ReplicaSet) -> float:
    t = parse_time(rs.metadata.creationTimestamp)
    return t.timestamp() if t else 0.0


def by_creation(rs_list: list[ReplicaSet]) -> list[ReplicaSet]:
    """Oldest first (ties by name), as ReplicaSetsByCreationTimestamp."""
    return sorted(rs_list, key=lambda rs: (_created(rs), rs.name))


def by_size_newer(rs_list: list[ReplicaSet]) -> list[ReplicaSet]:
    """Largest first, then newest (scaling up: the newest large RS gets the leftovers)."""
    return sorted(rs_list, key=lambda rs: (-replicas(rs), -_created(rs), rs.name))


def by_size_older(rs_list: list[ReplicaSet]) -> list[ReplicaSet]:
    """Largest first, then oldest (scaling down)."""
    return sorted(rs_list, key=lambda rs: (-replicas(rs), _created(rs), rs.name))


def by_revision(rs_list: list[ReplicaSet]) -> list[ReplicaSet]:
    return sorted(rs_list, key=lambda rs: (revision(rs), _created(rs), rs.name))


def go_round(x: float) -> int:
    """Go's math.Round: half away from zero (Python's round() is half to even)."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def deep_copy(obj: Any) -> Any:
    return obj.model_copy(deep=True)
