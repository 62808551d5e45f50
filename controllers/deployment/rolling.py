"""RollingUpdate (pkg/controller/deployment/rolling.go).

Contract: one step per sync, level-triggered from the ReplicaSets' spec and status:
1. scale the new RS up, never beyond replicas + maxSurge pods in total (surge rounds up);
   if it scaled, stop here (wait for the pods);
2. otherwise scale old RSes down, never below replicas - maxUnavailable available pods
   (unavailable rounds down): first the unhealthy replicas of old RSes (oldest RS first),
   then available ones, oldest RS first; a RS from an interrupted rollout is just another
   old RS, so a new rollout during a rollout stops the previous one at once;
3. once complete, clean up old revisions beyond revisionHistoryLimit;
4. always write status and conditions.
"""

from __future__ import annotations

from controllers.deployment import util
from controllers.deployment.sync import DeploymentSyncer, new_rs_new_replicas
from machinery.models import Deployment, ReplicaSet


async def reconcile_new_rs(s: DeploymentSyncer, all_rs: list[ReplicaSet], new_rs: ReplicaSet,
                           d: Deployment) -> tuple[bool, ReplicaSet]:
    want = util.replicas(d)
    if util.replicas(new_rs) == want:
        return False, new_rs
    if util.replicas(new_rs) > want:
        return await s.scale_rs(new_rs, want, d)
    return await s.scale_rs(new_rs, new_rs_new_replicas(d, all_rs, new_rs), d)


async def reconcile_old_rs(s: DeploymentSyncer, all_rs: list[ReplicaSet], old_rs: list[ReplicaSet],
                           new_rs: ReplicaSet, d: Deployment) -> bool:
    old_count = sum(util.replicas(rs) for rs in old_rs)
    if old_count == 0:
        return False
    all_count = sum(util.replicas(rs) for rs in all_rs)
    min_available = util.replicas(d) - util.max_unavailable(d)
    new_unavailable = util.replicas(new_rs) - util.available(new_rs)
    max_scaled_down = all_count - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old_rs, cleaned = await _cleanup_unhealthy(s, old_rs, d, max_scaled_down)
    scaled = await _scale_down_old(s, [*old_rs, new_rs], old_rs, d)
    return cleaned + scaled > 0


async def _cleanup_unhealthy(s: DeploymentSyncer, old_rs: list[ReplicaSet], d: Deployment,
                             max_cleanup: int) -> tuple[list[ReplicaSet], int]:
    """Scale down pods that are not available in old RSes first: they serve nobody."""
    result: list[ReplicaSet] = []
    total = 0
    for rs in util.by_creation(old_rs):
        unhealthy = util.replicas(rs) - util.available(rs)
        if total >= max_cleanup or util.replicas(rs) == 0 or unhealthy <= 0:
            result.append(rs)
            continue
        count = min(max_cleanup - total, unhealthy)
        _, rs = await s.scale_rs(rs, util.replicas(rs) - count, d)
        total += count
        result.append(rs)
    return result, total


async def _scale_down_old(s: DeploymentSyncer, all_rs: list[ReplicaSet], old_rs: list[ReplicaSet],
                          d: Deployment) -> int:
    min_available = util.replicas(d) - util.max_unavailable(d)
    available = sum(util.available(rs) for rs in all_rs)
    if available <= min_available:
        return 0
    to_scale_down = available - min_available
    total = 0
    for rs in util.by_creation(old_rs):
        if total >= to_scale_down:
            break
        if util.replicas(rs) == 0:
            continue
        count = min(util.replicas(rs), to_scale_down - total)
        await s.scale_rs(rs, util.replicas(rs) - count, d)
        total += count
    return total
