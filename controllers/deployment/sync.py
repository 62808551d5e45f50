"""Deployment operations shared by every strategy (pkg/controller/deployment/sync.go).

Contract (`DeploymentSyncer`, one per controller; every method reads the ReplicaSet list it
is given, never the API, and writes through the API):
- `claim_replica_sets(d, rs_list)`: `ControllerRefManager.claim` of the ReplicaSets (adopt orphans
  matching the selector, release owned ones that stopped matching); returns ours.
- `get_all_rs_and_sync_revision(d, rs_list, create)` -> (new RS or None, old RSes). The new RS
  is the one whose template equals the deployment's ignoring `pod-template-hash`; it gets
  revision max(old revisions)+1 (so copying an old template back — a rollback — makes that
  RS new again with a new revision), the deployment's annotations, and the deployment gets
  the same revision annotation. With `create`, a missing new RS is created named
  `<deployment>-<hash>` with the hash label on its selector, template and labels; a name taken
  by a RS with another template bumps status.collisionCount and raises (retry with a new hash).
- `scale_rs(rs, n, d)`: PUT with resourceVersion (stale -> Conflict -> retry), also refreshing
  the desired/max-replicas annotations; a size change records ScalingReplicaSet
  "Scaled up|down replica set NAME to N" on the deployment.
- `scale(d, new_rs, old_rs)`: a replicas change: the single active RS takes it, or a saturated
  new RS takes all, or (RollingUpdate) the change is spread proportionally by each RS's share of
  its max-replicas annotation, leftovers to the largest.
- `cleanup(old_rs, d)`: deletes the oldest revisions beyond revisionHistoryLimit that are
  fully scaled down and settled.
- `write_status(d, status)`: merge-patch /status when it differs; updates `d` in place.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from controllers import podutil
from controllers.deployment import progress, util
from controllers.deployment.hashing import HASH_LABEL, compute_hash, equal_ignore_hash
from controllers.refmanager import ControllerRefManager
from machinery import errors
from machinery.events import NORMAL, EventRecorder
from machinery.meta import ObjectMeta
from machinery.models import Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec
from machinery.selectors import selector_from_model

if TYPE_CHECKING:
    from machinery.client import KubeClient

log = logging.getLogger(__name__)


def new_rs_new_replicas(d: Deployment, all_rs: list[ReplicaSet], new_rs: ReplicaSet) -> int:
    """How many replicas the new RS may have now (NewRSNewReplicas)."""
    if not util.is_rolling(d):
        return util.replicas(d)
    current = sum(util.replicas(rs) for rs in all_rs)
    max_total = util.replicas(d) + util.max_surge(d)
    if current >= max_total:
        return util.replicas(new_rs)
    scale_up = min(max_total - current, util.replicas(d) - util.replicas(new_rs))
    return util.replicas(new_rs) + scale_up


def find_new_rs(d: Deployment, rs_list: list[ReplicaSet]) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
    """(the RS whose template is the deployment's, ignoring the hash label; the others)."""
    assert d.spec is not None
    template = d.spec.template
    new = next((rs for rs in util.by_creation(rs_list) if rs.spec and equal_ignore_hash(rs.spec.template, template)),
               None)
    return new, [rs for rs in rs_list if new is None or rs.uid != new.uid]


def is_saturated(d: Deployment, rs: ReplicaSet | None) -> bool:
    if rs is None:
        return False
    want = util.replicas(d)
    return (util.int_annotation(rs, util.DESIRED_REPLICAS) == want and util.replicas(rs) == want
            and util.available(rs) == want)


class DeploymentSyncer:
    def __init__(self, client: KubeClient, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    # -- ownership ---------------------------------------------------------------------------

    async def claim_replica_sets(self, d: Deployment, rs_list: list[ReplicaSet]) -> list[ReplicaSet]:
        assert d.spec is not None
        return await ControllerRefManager(self.client, d, selector_from_model(d.spec.selector)).claim(rs_list)

    # -- the new ReplicaSet and revisions ------------------------------------------------------

    async def get_all_rs_and_sync_revision(self, d: Deployment, rs_list: list[ReplicaSet],
                                           create: bool) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
        existing, old_rs = find_new_rs(d, rs_list)
        new_revision = util.max_revision(old_rs) + 1
        if existing is not None:
            return await self._sync_existing(d, existing, new_revision), old_rs
        if not create:
            return None, old_rs
        return await self._create_new_rs(d, old_rs, new_revision), old_rs

    async def _sync_existing(self, d: Deployment, rs: ReplicaSet, new_revision: int) -> ReplicaSet:
        assert d.spec is not None and rs.spec is not None
        copy = util.deep_copy(rs)
        changed = util.set_new_rs_annotations(d, copy, new_revision, exists=True)
        if (copy.spec.minReadySeconds or 0) != (d.spec.minReadySeconds or 0):
            copy.spec.minReadySeconds = d.spec.minReadySeconds
            changed = True
        if changed:
            rs = await self.client.replace(copy)
        await self._set_deployment_revision(d, util.annotation(rs, util.REVISION) or str(new_revision))
        if progress.condition(d.status, progress.PROGRESSING) is None and progress.has_progress_deadline(d):
            status = util.deep_copy(d.status or DeploymentStatus())
            progress.set_condition(status, progress.new_condition(
                progress.PROGRESSING, "True", progress.FOUND_NEW_RS, f'Found new replica set "{rs.name}"'))
            await self.write_status(d, status)
        return rs

    async def _create_new_rs(self, d: Deployment, old_rs: list[ReplicaSet], new_revision: int) -> ReplicaSet:
        assert d.spec is not None and d.spec.template is not None
        collision = d.status.collisionCount if d.status else None
        hash_ = compute_hash(d.spec.template, collision)
        template = util.deep_copy(d.spec.template)
        template.metadata = template.metadata or ObjectMeta()
        template.metadata.labels = {**(template.metadata.labels or {}), HASH_LABEL: hash_}
        selector = util.deep_copy(d.spec.selector) if d.spec.selector else None
        if selector is not None:
            selector.matchLabels = {**(selector.matchLabels or {}), HASH_LABEL: hash_}
        rs = ReplicaSet(
            metadata=ObjectMeta(name=f"{d.name}-{hash_}", namespace=d.namespace,
                                labels=dict(template.metadata.labels),
                                ownerReferences=[podutil.new_controller_ref(d)]),
            spec=ReplicaSetSpec(replicas=0, minReadySeconds=d.spec.minReadySeconds, selector=selector,
                                template=template),
        )
        assert rs.spec is not None
        rs.spec.replicas = new_rs_new_replicas(d, [*old_rs, rs], rs)
        util.set_new_rs_annotations(d, rs, new_revision, exists=False)
        try:
            created = await self.client.create(rs, namespace=d.namespace)
        except errors.AlreadyExists:
            found = await self.client.get(ReplicaSet, rs.name, namespace=d.namespace)
            ref = podutil.controller_ref(found)
            if ref is not None and ref.uid == d.uid and found.spec and \
                    equal_ignore_hash(found.spec.template, d.spec.template):
                return found  # ours, created by an earlier sync whose answer we missed
            # A foreign RS holds the name: a new collisionCount gives a new hash next time.
            status = util.deep_copy(d.status or DeploymentStatus())
            status.collisionCount = (collision or 0) + 1
            await self.write_status(d, status)
            raise
        if util.replicas(created) > 0:
            await self.recorder.event(d, NORMAL, "ScalingReplicaSet",
                                      f"Scaled up replica set {created.name} to {util.replicas(created)}")
        await self._set_deployment_revision(d, str(new_revision))
        if progress.has_progress_deadline(d):
            status = util.deep_copy(d.status or DeploymentStatus())
            progress.set_condition(status, progress.new_condition(
                progress.PROGRESSING, "True", progress.NEW_RS_CREATED, f'Created new replica set "{created.name}"'))
            await self.write_status(d, status)
        return created

    async def _set_deployment_revision(self, d: Deployment, revision: str) -> None:
        if util.annotation(d, util.REVISION) == revision:
            return
        updated = await self.client.patch(Deployment, d.name, {"metadata": {"annotations": {util.REVISION: revision}}},
                                          namespace=d.namespace)
        d.metadata.annotations = updated.metadata.annotations
        d.metadata.resourceVersion = updated.metadata.resourceVersion

    # -- scaling -----------------------------------------------------------------------------

    async def scale_rs(self, rs: ReplicaSet, new_scale: int, d: Deployment) -> tuple[bool, ReplicaSet]:
        desired, max_replicas = util.replicas(d), util.replicas(d) + util.max_surge(d)
        size_changes = util.replicas(rs) != new_scale
        if not size_changes and not util.replicas_annotations_need_update(rs, desired, max_replicas):
            return False, rs
        copy = util.deep_copy(rs)
        assert copy.spec is not None
        copy.spec.replicas = new_scale
        util.set_replicas_annotations(copy, desired, max_replicas)
        updated = await self.client.replace(copy)
        if size_changes:
            direction = "up" if util.replicas(rs) < new_scale else "down"
            await self.recorder.event(d, NORMAL, "ScalingReplicaSet",
                                      f"Scaled {direction} replica set {rs.name} to {new_scale}")
        return size_changes, updated

    async def scale(self, d: Deployment, new_rs: ReplicaSet | None, old_rs: list[ReplicaSet]) -> None:
        newest_first = list(reversed(util.by_creation(old_rs)))
        all_rs = [*newest_first, *([new_rs] if new_rs else [])]
        active = util.active(all_rs)
        single = None
        if len(active) == 1:
            single = active[0]
        elif not active and all_rs:
            single = new_rs or newest_first[0]
        if single is not None:
            if util.replicas(single) != util.replicas(d):
                await self.scale_rs(single, util.replicas(d), d)
            return
        if is_saturated(d, new_rs):
            for rs in util.active(old_rs):
                await self.scale_rs(rs, 0, d)
            return
        if not util.is_rolling(d):
            return
        total = sum(util.replicas(rs) for rs in active)
        allowed = util.replicas(d) + util.max_surge(d) if util.replicas(d) > 0 else 0
        to_add = allowed - total
        ordered = util.by_size_newer(active) if to_add > 0 else util.by_size_older(active)
        sizes: dict[str, int] = {}
        added = 0
        for rs in ordered:
            share = self._proportion(rs, d, to_add, added) if to_add else 0
            sizes[rs.name] = util.replicas(rs) + share
            added += share
        for i, rs in enumerate(ordered):
            if i == 0 and to_add:
                sizes[rs.name] = max(sizes[rs.name] + to_add - added, 0)  # leftovers to the largest
            await self.scale_rs(rs, sizes[rs.name], d)

    @staticmethod
    def _proportion(rs: ReplicaSet, d: Deployment, to_add: int, added: int) -> int:
        if util.replicas(rs) == 0 or to_add == added:
            return 0
        if util.replicas(d) == 0:
            fraction = -util.replicas(rs)
        else:
            target = util.replicas(d) + util.max_surge(d)
            annotated = util.int_annotation(rs, util.MAX_REPLICAS)
            if annotated is None:
                annotated = (d.status.replicas or 0) if d.status else 0
            fraction = util.go_round(util.replicas(rs) * target / annotated) - util.replicas(rs) if annotated else 0
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    @staticmethod
    def is_scaling_event(d: Deployment, rs_list: list[ReplicaSet]) -> bool:
        # Read-only on purpose: syncing the revision here would write RSes the caller's
        # list still holds at their old resourceVersion.
        new_rs, old_rs = find_new_rs(d, rs_list)
        for rs in util.active([*old_rs, *([new_rs] if new_rs else [])]):
            desired = util.int_annotation(rs, util.DESIRED_REPLICAS)
            if desired is not None and desired != util.replicas(d):
                return True
        return False

    # -- history and status ------------------------------------------------------------------

    async def cleanup(self, old_rs: list[ReplicaSet], d: Deployment) -> None:
        limit = d.spec.revisionHistoryLimit if d.spec else None
        if limit is None:
            return
        alive = [rs for rs in old_rs if not rs.metadata.deletionTimestamp]
        excess = len(alive) - limit
        for rs in util.by_revision(alive)[:max(excess, 0)]:
            observed = (rs.status.observedGeneration or 0) if rs.status else 0
            if util.status_replicas(rs) or util.replicas(rs) or (rs.metadata.generation or 0) > observed:
                continue  # never delete a RS that still has (or may still get) pods
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(ReplicaSet, rs.name, namespace=rs.namespace)

    async def write_status(self, d: Deployment, status: DeploymentStatus) -> None:
        if d.status is not None and progress.status_dict(d.status) == progress.status_dict(status):
            return
        updated = await self.client.patch(Deployment, d.name, {"status": progress.status_dict(status)},
                                          namespace=d.namespace, subresource="status")
        d.status = updated.status
        d.metadata.resourceVersion = updated.metadata.resourceVersion

    async def sync_status(self, all_rs: list[ReplicaSet], new_rs: ReplicaSet | None, d: Deployment) -> None:
        await self.write_status(d, progress.calculate_status(all_rs, new_rs, d))
