"""DeploymentController: handlers route keys; `sync(key)` runs one step of the rollout.

Contract (pkg/controller/deployment/deployment_controller.go `syncDeployment`):
- Deployment add/update/delete enqueue it; a ReplicaSet event enqueues its controlling
  deployment (or, for an orphan, every deployment in the namespace whose selector matches);
  a pod deletion enqueues the deployment that owns the pod's RS (Recreate waits on it).
- `sync(key)`: gone -> nothing. An empty selector (selects everything) is refused with a
  Warning event, so is an unparsable maxSurge/maxUnavailable (InvalidStrategy). ReplicaSets are claimed (adopt/release). Being deleted -> status only.
  Paused -> pause condition, scaling, cleanup and status, but no rollout. A replicas change
  (desired-replicas annotation differs) -> proportional scaling, no rollout step. Otherwise one
  Recreate or RollingUpdate step (`rolling.py`, `recreate.py`) and the status with conditions;
  if a progress deadline may pass, the key is re-checked when it would.
"""

from __future__ import annotations

import logging

from controllers import podutil
from controllers.base import Controller, ControllerContext
from controllers.deployment import progress, recreate, rolling, util
from controllers.deployment.sync import DeploymentSyncer
from controllers.refmanager import CONTROLLER_UID_INDEX, add_claim_indexes, claim_candidates
from machinery import errors
from machinery.events import WARNING
from machinery.models import Deployment, DeploymentStatus, Pod, ReplicaSet
from machinery.selectors import selector_from_model

log = logging.getLogger(__name__)

class DeploymentController(Controller):
    NAME = "deployment"
    KIND = Deployment

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.syncer = DeploymentSyncer(ctx.client, ctx.recorder)
        self.d_informer = ctx.factory.informer(Deployment)
        self.rs_informer = ctx.factory.informer(ReplicaSet)
        self.pod_informer = ctx.factory.informer(Pod)
        add_claim_indexes(self.pod_informer)  # idempotent
        add_claim_indexes(self.rs_informer)
        self.d_informer.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                     on_delete=self.enqueue)
        self.rs_informer.add_handlers(on_add=self._rs_added, on_update=self._rs_updated,
                                      on_delete=self._rs_deleted)
        self.pod_informer.add_handlers(on_delete=self._pod_deleted)

    # -- handlers ------------------------------------------------------------------------------

    def _owner(self, obj: ReplicaSet) -> Deployment | None:
        ref = podutil.controller_ref(obj)
        if ref is None or ref.kind != "Deployment":
            return None
        d = self.d_informer.get(f"{obj.namespace}/{ref.name}")
        return d if d is not None and d.uid == ref.uid else None

    def _enqueue_matching(self, rs: ReplicaSet) -> None:
        for d in self.d_informer.by_index("namespace", rs.namespace or ""):
            if d.spec and selector_from_model(d.spec.selector).matches(rs.metadata.labels):
                self.enqueue(d)

    def _rs_added(self, rs: ReplicaSet) -> None:
        if podutil.controller_ref(rs) is not None:
            if (d := self._owner(rs)) is not None:
                self.enqueue(d)
            return
        self._enqueue_matching(rs)

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        if old.resource_version == new.resource_version:
            return
        old_ref, new_ref = podutil.controller_ref(old), podutil.controller_ref(new)
        if (old_ref is not None and (new_ref is None or new_ref.uid != old_ref.uid)
                and (d := self._owner(old)) is not None):
            self.enqueue(d)
        if new_ref is not None:
            if (d := self._owner(new)) is not None:
                self.enqueue(d)
        elif old.metadata.labels != new.metadata.labels or old_ref is not None:
            self._enqueue_matching(new)

    def _rs_deleted(self, rs: ReplicaSet) -> None:
        if (d := self._owner(rs)) is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: Pod) -> None:
        ref = podutil.controller_ref(pod)
        if ref is None or ref.kind != "ReplicaSet":
            return
        rs = self.rs_informer.get(f"{pod.namespace}/{ref.name}")
        d = self._owner(rs) if rs is not None and rs.uid == ref.uid else None
        if d is not None and not util.is_rolling(d):
            self.enqueue(d)

    # -- sync ------------------------------------------------------------------------------------

    def _pods_of(self, rs: ReplicaSet) -> list[Pod]:
        return self.pod_informer.by_index(CONTROLLER_UID_INDEX, rs.uid)

    async def sync(self, key: str) -> None:
        cached = self.d_informer.get(key)
        if cached is None or cached.spec is None:
            return
        d = util.deep_copy(cached)  # never mutate the shared cache
        assert d.spec is not None
        if selector_from_model(d.spec.selector).empty():
            await self.recorder.event(d, WARNING, "SelectingAll",
                                      "This deployment is selecting all pods. A non-empty selector is required.")
            return
        if util.is_rolling(d):
            try:
                util.resolve_fenceposts(d)
            except ValueError as exc:  # validation should have refused it; a retry cannot help
                await self.recorder.event(d, WARNING, "InvalidStrategy", f"spec.strategy.rollingUpdate: {exc}")
                return
        # Our ReplicaSets and the namespace's orphans: the only ones a claim may return or change.
        rs_list = await self.syncer.claim_replica_sets(d, claim_candidates(self.rs_informer, d))
        if d.metadata.deletionTimestamp:
            new_rs, old_rs = await self.syncer.get_all_rs_and_sync_revision(d, rs_list, False)
            await self.syncer.sync_status([*old_rs, *([new_rs] if new_rs else [])], new_rs, d)
            return
        if (cond := progress.paused_condition(d)) is not None:
            status = util.deep_copy(d.status) if d.status else DeploymentStatus()
            progress.set_condition(status, cond)
            await self.syncer.write_status(d, status)
        if d.spec.paused or self.syncer.is_scaling_event(d, rs_list):
            await self._sync_scale_only(d, rs_list)
            return
        try:
            if util.is_rolling(d):
                await self._rollout_rolling(d, rs_list)
            else:
                await self._rollout_recreate(d, rs_list)
        except errors.ApiError as exc:
            if not podutil.namespace_going_away(exc):
                raise
            log.info("deployment %s: namespace is going away; no rollout", key)

    async def _sync_scale_only(self, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        new_rs, old_rs = await self.syncer.get_all_rs_and_sync_revision(d, rs_list, False)
        await self.syncer.scale(d, new_rs, old_rs)
        if d.spec and d.spec.paused:
            await self.syncer.cleanup(old_rs, d)
        # Status from the cache: the next RS events bring the scaled numbers.
        await self.syncer.sync_status([*old_rs, *([new_rs] if new_rs else [])], new_rs, d)

    async def _finish(self, all_rs: list[ReplicaSet], new_rs: ReplicaSet | None, d: Deployment) -> None:
        status = progress.rollout_status(all_rs, new_rs, d)
        await self.syncer.write_status(d, status)
        after = progress.requeue_after_s(d, status)
        if after is not None:
            self.queue.add_after(d.key, after)

    async def _rollout_rolling(self, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        new_rs, old_rs = await self.syncer.get_all_rs_and_sync_revision(d, rs_list, True)
        assert new_rs is not None
        all_rs = [*old_rs, new_rs]
        scaled_up, new_rs = await rolling.reconcile_new_rs(self.syncer, all_rs, new_rs, d)
        all_rs = [*old_rs, new_rs]
        if scaled_up:
            await self._finish(all_rs, new_rs, d)
            return
        if await rolling.reconcile_old_rs(self.syncer, all_rs, util.active(old_rs), new_rs, d):
            await self._finish(all_rs, new_rs, d)
            return
        if progress.is_complete(d, progress.calculate_status(all_rs, new_rs, d)):
            await self.syncer.cleanup(old_rs, d)
        await self._finish(all_rs, new_rs, d)

    async def _rollout_recreate(self, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        new_rs, old_rs = await self.syncer.get_all_rs_and_sync_revision(d, rs_list, False)
        all_rs = [*old_rs, *([new_rs] if new_rs else [])]
        if await recreate.scale_down_old(self.syncer, old_rs, d) or \
                recreate.old_pods_running(old_rs, self._pods_of):
            await self._finish(all_rs, new_rs, d)
            return
        if new_rs is None:
            new_rs, old_rs = await self.syncer.get_all_rs_and_sync_revision(d, rs_list, True)
            assert new_rs is not None
        _, new_rs = await self.syncer.scale_rs(new_rs, util.replicas(d), d)
        all_rs = [*old_rs, new_rs]
        if progress.is_complete(d, progress.calculate_status(all_rs, new_rs, d)):
            await self.syncer.cleanup(old_rs, d)
        await self._finish(all_rs, new_rs, d)
