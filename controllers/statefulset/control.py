"""One StatefulSet sync step: revisions, pod creation/deletion in ordinal order, rolling update.

Contract (Kubernetes pkg/controller/statefulset/stateful_set_control.go, `updateStatefulSet`):
- The current and update revisions come from `history.current_and_update`; a missing pod of
  ordinal i is created from the current revision's template when a RollingUpdate partition
  keeps it there (i < partition), else from the update revision.
- OrderedReady (monotonic): each step stops at the first pod that is missing (after creating
  it), terminating, not Running and Ready, or not available for minReadySeconds; so web-1 is
  created only once web-0 is Ready. Parallel: creates/deletes everything at once and never
  waits for readiness.
- Failed or Succeeded replicas are deleted; the next sync re-creates them.
- Scale-down deletes pods beyond the replica count from the highest ordinal, one at a time in
  OrderedReady (only when every lower replica is healthy, or the target is the first
  unhealthy pod), all at once in Parallel.
- RollingUpdate: the highest-ordinal pod at or above `partition` whose revision is not the
  update revision is deleted (the next syncs re-create it at the update revision), one at a
  time, waiting for the pods above it to be healthy. OnDelete: pods are only replaced when a
  user deletes them.
- The set being deleted: no pod is created, deleted or updated; status only.
- Returns the status dict for a merge patch (replicas, readyReplicas, currentReplicas,
  updatedReplicas, availableReplicas, currentRevision, updateRevision, observedGeneration,
  collisionCount), computed from the pods as they are after this step's writes, with the
  rolling update marked complete (current = update) when all replicas are updated and ready.
- Afterwards the non-live revisions beyond revisionHistoryLimit are deleted, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from controllers import history, podutil
from controllers.statefulset import identity
from controllers.statefulset.podcontrol import PodControl
from machinery.clock import REAL_CLOCK, Clock
from machinery.meta import now_rfc3339
from machinery.models import ControllerRevision, Pod, StatefulSet


def is_created(pod: Pod) -> bool:
    return bool(pod.metadata.uid)


def is_terminating(pod: Pod) -> bool:
    return bool(pod.metadata.deletionTimestamp)


def _phase(pod: Pod) -> str:
    return (pod.status.phase if pod.status else None) or ""


def running_and_ready(pod: Pod) -> bool:
    return _phase(pod) == "Running" and podutil.is_ready(pod)


def running_and_available(pod: Pod, min_ready_s: int, now: datetime | None = None) -> bool:
    return _phase(pod) == "Running" and podutil.is_available(pod, min_ready_s, now)


def is_healthy(pod: Pod) -> bool:
    return running_and_ready(pod) and not is_terminating(pod)


def _min_ready(sts: StatefulSet) -> int:
    return (sts.spec.minReadySeconds or 0) if sts.spec else 0


def _partition(sts: StatefulSet) -> int:
    strategy = sts.spec.updateStrategy if sts.spec else None
    if strategy is None or strategy.type == "OnDelete" or strategy.rollingUpdate is None:
        return 0
    return strategy.rollingUpdate.partition or 0


def _is_on_delete(sts: StatefulSet) -> bool:
    strategy = sts.spec.updateStrategy if sts.spec else None
    return strategy is not None and strategy.type == "OnDelete"


def _monotonic(sts: StatefulSet) -> bool:
    return not (sts.spec and sts.spec.podManagementPolicy == "Parallel")


def _mark_terminating(pod: Pod) -> Pod:
    clone = pod.model_copy(deep=True)
    clone.metadata.deletionTimestamp = now_rfc3339()
    return clone


def compute_status(sts: StatefulSet, pods: Sequence[Pod], current: str, update: str,
                   collision_count: int, now: datetime | None = None) -> dict[str, Any]:
    counts = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0,
              "updatedReplicas": 0}
    for pod in pods:
        if not is_created(pod):
            continue
        counts["replicas"] += 1
        if running_and_ready(pod):
            counts["readyReplicas"] += 1
            if running_and_available(pod, _min_ready(sts), now):
                counts["availableReplicas"] += 1
        if not is_terminating(pod):
            counts["currentReplicas"] += identity.revision_of(pod) == current
            counts["updatedReplicas"] += identity.revision_of(pod) == update
    status: dict[str, Any] = {**counts, "currentRevision": current, "updateRevision": update,
                              "observedGeneration": sts.metadata.generation, "collisionCount": collision_count}
    strategy = sts.spec.updateStrategy if sts.spec else None
    rolling = strategy is None or strategy.type in (None, "RollingUpdate")
    if rolling and counts["updatedReplicas"] == counts["replicas"] == counts["readyReplicas"]:
        status["currentReplicas"] = counts["updatedReplicas"]
        status["currentRevision"] = update
    return status


class StatefulSetControl:
    """The sync step for one set (see module docstring)."""

    def __init__(self, pod_control: PodControl, history_ops: history.History, clock: Clock = REAL_CLOCK) -> None:
        self.pods = pod_control
        self.history = history_ops
        self.clock = clock

    async def update(self, sts: StatefulSet, pods: list[Pod], revisions: list[ControllerRevision]) -> dict[str, Any]:
        status = sts.status
        current, update, collisions = await history.current_and_update(
            self.history, sts, revisions, status.currentRevision if status else None,
            (status.collisionCount or 0) if status else 0)
        current_set = identity.apply_revision(sts, current)
        update_set = identity.apply_revision(sts, update)
        view = await self._update_pods(sts, current_set, update_set, current.name, update.name, pods)
        result = compute_status(sts, view, current.name, update.name, collisions, self.clock.now())
        await self._truncate(sts, view, history.sort_revisions(revisions), {current.name, update.name})
        return result

    async def _truncate(self, sts: StatefulSet, pods: list[Pod], revisions: list[ControllerRevision],
                        live: set[str]) -> None:
        live |= {identity.revision_of(p) for p in pods}
        limit = sts.spec.revisionHistoryLimit if sts.spec and sts.spec.revisionHistoryLimit is not None else 10
        for cr in history.revisions_to_truncate(revisions, live, limit):
            await self.history.delete(cr)

    def _versioned_pod(self, current_set: StatefulSet, update_set: StatefulSet, current: str, update: str,
                       ordinal: int) -> Pod:
        if not _is_on_delete(current_set) and ordinal < identity.start_ordinal(current_set) + _partition(current_set):
            return identity.new_pod(current_set, ordinal, current)
        return identity.new_pod(update_set, ordinal, update)

    async def _update_pods(self, sts: StatefulSet, current_set: StatefulSet, update_set: StatefulSet,
                           current: str, update: str, pods: list[Pod]) -> list[Pod]:
        start, count = identity.start_ordinal(sts), identity.replicas_of(sts)
        replicas: list[Pod | None] = [None] * count
        condemned: list[Pod] = []
        for pod in pods:
            ordinal = identity.ordinal_of(pod)
            if start <= ordinal < start + count:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        filled = [p if p is not None else self._versioned_pod(current_set, update_set, current, update, start + i)
                  for i, p in enumerate(replicas)]
        condemned.sort(key=identity.ordinal_of)
        view: dict[str, Pod] = {p.name: p for p in [*filled, *condemned]}
        if sts.metadata.deletionTimestamp:
            return list(view.values())
        stepper = _Step(self, sts, update_set, update, view)
        await stepper.run(filled, condemned)
        return list(view.values())


class _Step:
    """The ordered walk over replicas, condemned pods and the rolling update of one sync."""

    def __init__(self, control: StatefulSetControl, sts: StatefulSet, update_set: StatefulSet, update: str,
                 view: dict[str, Pod]) -> None:
        self.pods = control.pods
        self.sts = sts
        self.update_set = update_set
        self.update = update
        self.view = view
        self.monotonic = _monotonic(sts)
        self.min_ready = _min_ready(sts)
        self.now = control.clock.now()

    async def run(self, replicas: list[Pod], condemned: list[Pod]) -> None:
        first_unhealthy = next((p for p in [*replicas, *reversed(condemned)]
                                if is_created(p) and not is_healthy(p)), None)
        for i, pod in enumerate(replicas):
            if await self._replica(pod):
                return
            replicas[i] = self.view[pod.name]
        if await self._condemned(condemned, first_unhealthy):
            return
        if not _is_on_delete(self.sts):
            await self._rolling(replicas)

    async def _replica(self, pod: Pod) -> bool:
        """One replica; True stops this sync step."""
        if is_created(pod) and _phase(pod) in ("Failed", "Succeeded"):
            if not is_terminating(pod):
                await self.pods.delete_pod(self.sts, pod)
                self.view[pod.name] = _mark_terminating(pod)
            return True  # the next sync re-creates it once it is gone
        if not is_created(pod):
            if await self.pods.claim_is_stale(self.sts, pod):
                return True
            created = await self.pods.create_pod(self.sts, pod)
            if created is None:
                return True  # exists already; our cache lags and its event re-queues us
            self.view[pod.name] = created
            return self.monotonic
        if _phase(pod) == "Pending":
            await self.pods.create_missing_claims(self.sts, pod)
        if self.monotonic and (is_terminating(pod) or not running_and_ready(pod)
                               or not running_and_available(pod, self.min_ready, self.now)):
            return True
        if (identity.identity_matches(self.sts, pod) and identity.storage_matches(self.sts, pod)
                and await self.pods.claims_match_policy(self.update_set, pod)):
            return False
        await self.pods.update_pod(self.update_set, pod.model_copy(deep=True))
        return False

    async def _condemned(self, condemned: list[Pod], first_unhealthy: Pod | None) -> bool:
        for pod in condemned:  # their claims follow whenScaled before the pods go
            if not await self.pods.claims_match_policy(self.update_set, pod):
                await self.pods.update_claims_for_policy(self.update_set, pod)
        for pod in reversed(condemned):
            if is_terminating(pod):
                if self.monotonic:
                    return True
                continue
            unhealthy = not running_and_ready(pod) or not running_and_available(pod, self.min_ready, self.now)
            if self.monotonic and unhealthy and pod is not first_unhealthy:
                return True
            await self.pods.delete_pod(self.sts, pod)
            self.view[pod.name] = _mark_terminating(pod)
            if self.monotonic:
                return True
        return False

    async def _rolling(self, replicas: list[Pod]) -> None:
        update_min = _partition(self.sts)
        for pod in reversed(replicas[update_min:]):
            if identity.revision_of(pod) != self.update and not is_terminating(pod):
                await self.pods.delete_pod(self.sts, pod)
                self.view[pod.name] = _mark_terminating(pod)
                return
            if not is_healthy(pod):
                return


__all__ = ["StatefulSetControl", "compute_status", "is_healthy", "running_and_available", "running_and_ready"]
