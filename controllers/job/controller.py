"""Job controller (batch/v1): runs pods to completion, Kubernetes' pkg/controller/job semantics.

Contract of `sync(key)` (level-triggered; every decision from the informer caches):
- Pods: the Job's pods are claimed through the one ControllerRefManager (selector + controller
  ownerReference). New pods come from `pods.pod_for_job` (job-tracking finalizer, Indexed
  index annotation/label/env/hostname), in slow-start batches, under expectations so a lagging
  watch never double-creates. At most `BURST` creations or deletions per sync.
- Counting without losing a pod (finalizer tracking, as Kubernetes): a finished pod that still
  carries `batch.kubernetes.io/job-tracking` is first recorded by uid in
  `status.uncountedTerminatedPods` (a PUT of status with resourceVersion), then its finalizer is
  removed, then the uids whose pods no longer carry the finalizer move into `succeeded`/
  `failed`. Indexed Jobs count succeeded indexes in `completedIndexes` directly. A pod counts as
  failed when its phase is Failed or it is being deleted without having succeeded
  (podReplacementPolicy TerminatingOrFailed). Finalizer removals not yet seen by the informer
  are remembered, so a stale cache never counts a pod twice.
- Active/ready/terminating: `active` = pods neither finished nor being deleted, `ready` = those
  with Ready=True, `terminating` = pods being deleted that have not finished.
- Wanted pods: completions set -> min(parallelism, completions - succeeded); unset (work queue)
  -> parallelism until the first success, then no new pods. Indexed: the lowest pending
  indexes; duplicates and out-of-range indexes are deleted.
- podFailurePolicy (failurepolicy.py) on pods in phase Failed: FailJob -> FailureTarget/
  PodFailurePolicy at once, Ignore -> not counted (finalizer still removed), Count/no match ->
  counted. With a podFailurePolicy or podReplacementPolicy Failed, a terminating pod is neither a
  failure nor replaced until it reaches phase Failed.
- Failures: exponential backoff before replacement pods (backoff.py: 10 s doubling, 6 min cap).
  `failed > backoffLimit` (or, with restartPolicy OnFailure, container restarts of active pods
  reaching it) -> FailureTarget/BackoffLimitExceeded; running longer than
  activeDeadlineSeconds since startTime -> FailureTarget/DeadlineExceeded (and a requeue at the
  deadline). Enough successes -> SuccessCriteriaMet/CompletionsReached. With an interim
  condition every active pod is deleted; once nothing is uncounted and no pod is terminating,
  the terminal condition Failed/Complete follows with the same reason (Complete also sets
  completionTime), as Kubernetes 1.31+ does.
- Suspend: active pods deleted, condition Suspended=True (JobSuspended); resuming sets it False
  (JobResumed) and restarts startTime. startTime is set when a non-suspended Job first syncs.
- Finished Jobs (Complete/Failed) and Jobs being deleted only remove the finalizers of their
  remaining pods; a deleted Job's pods lose theirs too (the garbage collector deletes them), and
  so does any pod holding the finalizer with no controller or a Job controller that is gone
  (queue key `orphan-pod:<ns>/<name>`, Kubernetes' syncOrphanPod), e.g. after an Orphan delete.
- Events as Kubernetes: SuccessfulCreate, FailedCreate, SuccessfulDelete, Suspended, Resumed,
  BackoffLimitExceeded/DeadlineExceeded (Warning), Completed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from controllers import podutil
from controllers.base import Controller, ControllerContext
from controllers.expectations import Expectations
from controllers.job import pods as jobpods
from controllers.job.backoff import BackoffRecord
from controllers.job.conditions import is_finished
from controllers.job.jobsync import JobSync
from controllers.refmanager import ControllerRefManager
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock
from machinery.models import JOB_TRACKING_FINALIZER, Job, Pod
from machinery.selectors import selector_from_model

log = logging.getLogger(__name__)

ORPHAN_PREFIX = "orphan-pod:"
"""Queue keys of orphaned pods that still carry the tracking finalizer."""
CONTROLLER_UID_INDEX = "controller-uid"


def controller_uid_index(obj: Any) -> list[str]:
    ref = podutil.controller_ref(obj)
    return [ref.uid] if ref is not None and ref.uid else []


class JobController(Controller):
    NAME = "job"
    KIND = Job

    def __init__(self, ctx: ControllerContext, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.expectations = Expectations(clock=clock.monotonic)
        self.backoff: dict[str, BackoffRecord] = {}
        self.finalizer_removals: dict[str, set[str]] = {}
        """Job key -> uids of pods whose finalizer we removed and the informer still shows."""
        self.job_informer = ctx.factory.informer(Job)
        self.pod_informer = ctx.factory.informer(Pod)
        self.pod_informer.add_index(CONTROLLER_UID_INDEX, controller_uid_index)
        self.job_informer.add_handlers(on_add=self.enqueue, on_update=self._job_updated, on_delete=self._job_deleted)
        self.pod_informer.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                                       on_delete=self._pod_deleted)

    # -- handlers: route keys, account expectations ------------------------------------------

    def _job_updated(self, old: Job, new: Job) -> None:
        self.enqueue(new)

    def _job_deleted(self, job: Job) -> None:
        self.expectations.delete(job.key)
        self.enqueue(job)

    def _owner(self, pod: Pod) -> Job | None:
        ref = podutil.controller_ref(pod)
        if ref is None or ref.kind != "Job":
            return None
        job = self.job_informer.get(f"{pod.namespace}/{ref.name}")
        return job if job is not None and job.uid == ref.uid else None

    def _owner_key(self, pod: Pod) -> str | None:
        ref = podutil.controller_ref(pod)
        return f"{pod.namespace}/{ref.name}" if ref is not None and ref.kind == "Job" else None

    def _maybe_orphan(self, pod: Pod) -> None:
        """A pod holding our finalizer without a live Job controlling it: its own key."""
        if not jobpods.has_tracking_finalizer(pod) or self._owner(pod) is not None:
            return
        ref = podutil.controller_ref(pod)
        if ref is None or (ref.kind == "Job" and ref.apiVersion == "batch/v1"):
            self.enqueue_key(ORPHAN_PREFIX + pod.key)

    def _pod_added(self, pod: Pod) -> None:
        job = self._owner(pod)
        if job is not None:
            self.expectations.creation_observed(job.key)
            self.enqueue(job)
        else:
            self._maybe_orphan(pod)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.resource_version == new.resource_version:
            return
        key = self._owner_key(new)
        if key is not None and not jobpods.has_tracking_finalizer(new):
            self.finalizer_removals.get(key, set()).discard(new.uid or "")
        if new.metadata.deletionTimestamp and not old.metadata.deletionTimestamp and (job := self._owner(new)):
            self.expectations.deletion_observed(job.key, new.key)
        if key is not None:
            self.enqueue_key(key)
        self._maybe_orphan(new)
        old_key = self._owner_key(old)
        if old_key is not None and old_key != key:
            self.enqueue_key(old_key)

    def _pod_deleted(self, pod: Pod) -> None:
        key = self._owner_key(pod)
        if key is None:
            return
        self.finalizer_removals.get(key, set()).discard(pod.uid or "")
        self.expectations.deletion_observed(key, pod.key)
        self.enqueue_key(key)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN_PREFIX):
            await self._sync_orphan(key[len(ORPHAN_PREFIX):])
            return
        job = self.job_informer.get(key)
        if job is None or job.spec is None:
            self.expectations.delete(key)
            self.backoff.pop(key, None)
            await self._release_orphans(key)
            return
        pods = await self._claim(job)
        if is_finished(job) or job.metadata.deletionTimestamp:
            # A finished Job, or one being deleted (the garbage collector removes its pods):
            # nothing new is created, its pods only lose the tracking finalizer.
            pending = self.finalizer_removals.get(key, set())
            await self.remove_finalizers(job, [p for p in pods if jobpods.has_tracking_finalizer(p)
                                                and (p.uid or "") not in pending])
            return
        await JobSync(self, job, pods).run()

    async def _claim(self, job: Job) -> list[Pod]:
        namespace = job.namespace or ""
        owned = {p.key: p for p in self.pod_informer.by_index(CONTROLLER_UID_INDEX, job.uid or "")}
        orphans = [p for p in self.pod_informer.by_index("namespace", namespace)
                   if p.key not in owned and podutil.controller_ref(p) is None]
        assert job.spec is not None
        manager = ControllerRefManager(self.client, job, selector_from_model(job.spec.selector))
        return await manager.claim_pods([*owned.values(), *orphans])

    async def _sync_orphan(self, pod_key: str) -> None:
        """Kubernetes' syncOrphanPod: an orphaned pod (no controller, e.g. after an Orphan
        deletion of its Job, or a Job that is gone) must not keep the tracking finalizer."""
        pod = self.pod_informer.get(pod_key)
        if pod is None or not jobpods.has_tracking_finalizer(pod):
            return
        ref = podutil.controller_ref(pod)
        if ref is not None:
            if ref.kind != "Job" or ref.apiVersion != "batch/v1":
                return
            job = self._owner(pod)
            if job is not None and not is_finished(job):
                return  # the Job's own sync handles it
        await self.remove_finalizers(None, [pod])

    async def _release_orphans(self, key: str) -> None:
        """A deleted Job's pods must not keep its finalizer (or they would never go away)."""
        namespace, _, _name = key.partition("/")
        stuck = [p for p in self.pod_informer.by_index("namespace", namespace)
                 if jobpods.has_tracking_finalizer(p) and self._owner_key(p) == key]
        await self.remove_finalizers(None, stuck)
        self.finalizer_removals.pop(key, None)

    async def remove_finalizers(self, job: Job | None, pods: list[Pod]) -> list[str]:
        """Remove the tracking finalizer; returns the uids done (vanished pods count as done)."""
        done: list[str] = []
        first_error: Exception | None = None
        for pod in pods:
            rest = [f for f in pod.metadata.finalizers or [] if f != JOB_TRACKING_FINALIZER]
            try:
                await self.client.patch(Pod, pod.name, {"metadata": {"finalizers": rest or None}},
                                        namespace=pod.namespace)
            except errors.NotFound:
                pass
            except errors.ApiError as exc:
                first_error = first_error or exc
                continue
            done.append(pod.uid or "")
            if job is not None:
                self.finalizer_removals.setdefault(job.key, set()).add(pod.uid or "")
        if first_error is not None and job is None:
            raise first_error
        return done

    def now(self) -> datetime:
        return self.clock.now()


__all__ = ["CONTROLLER_UID_INDEX", "JobController", "controller_uid_index"]
