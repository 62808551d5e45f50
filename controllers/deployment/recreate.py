"""Recreate (pkg/controller/deployment/recreate.go).

Contract: scale every old RS to 0; wait until no old pod is left running (status.replicas of
the old RSes and their non-terminal pods in the cache); only then create/scale the new RS to
spec.replicas. Once complete, clean up old revisions; always write status.
"""

from __future__ import annotations

from collections.abc import Callable

from controllers.deployment import util
from controllers.deployment.sync import DeploymentSyncer
from machinery.models import Deployment, Pod, ReplicaSet

PodsOf = Callable[[ReplicaSet], list[Pod]]


def old_pods_running(old_rs: list[ReplicaSet], pods_of: PodsOf) -> bool:
    if sum(util.status_replicas(rs) for rs in old_rs) > 0:
        return True
    for rs in old_rs:
        for pod in pods_of(rs):
            phase = pod.status.phase if pod.status else None
            if phase not in ("Failed", "Succeeded"):
                return True
    return False


async def scale_down_old(s: DeploymentSyncer, old_rs: list[ReplicaSet], d: Deployment) -> bool:
    scaled = False
    for rs in util.active(old_rs):
        changed, _ = await s.scale_rs(rs, 0, d)
        scaled = scaled or changed
    return scaled
