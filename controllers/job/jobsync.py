"""One sync of one Job: the steps of controllers/job/controller.py's contract, in order.

`JobSync(ctl, job, pods).run()` counts finished pods through the tracking finalizer, judges
the Job (backoff limit, deadline, completions, podFailurePolicy), creates or deletes pods
towards the wanted count (at most `BURST` per sync, slow start), and writes status and Events
once at the end; see the controller module's docstring for the semantics.
`ctl` is a `JobSyncHost`: what the sync needs of the Job controller (its client, recorder,
queue, expectations, per-Job backoff and finalizer bookkeeping); JobController is one, and
this module does not import it (the controller imports this module).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from controllers import podutil
from controllers.expectations import Expectations
from controllers.job import failurepolicy
from controllers.job import pods as jobpods
from controllers.job.backoff import BackoffRecord
from controllers.job.conditions import is_finished
from controllers.job.indexes import first_pending, format_indexes, parse_indexes
from controllers.replicaset import slow_start_batch
from machinery import errors
from machinery.client import KubeClient
from machinery.clock import format_time, parse_time
from machinery.events import EventRecorder
from machinery.models import Job, JobStatus, Pod
from machinery.workqueue import WorkQueue

log = logging.getLogger(__name__)

BURST = 500
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
_INTERIM = {"FailureTarget": "Failed", "SuccessCriteriaMet": "Complete"}


def _phase(pod: Pod) -> str:
    return (pod.status.phase if pod.status else None) or "Pending"


class JobSyncHost(Protocol):
    """What one sync uses of the Job controller (controllers/job/controller.py)."""

    @property
    def client(self) -> KubeClient: ...
    @property
    def recorder(self) -> EventRecorder: ...
    @property
    def queue(self) -> WorkQueue: ...
    @property
    def expectations(self) -> Expectations: ...
    @property
    def backoff(self) -> dict[str, BackoffRecord]:
        """Job key -> its failure backoff."""
    @property
    def finalizer_removals(self) -> dict[str, set[str]]:
        """Job key -> uids of pods whose finalizer was removed and the informer still shows."""

    def now(self) -> datetime: ...

    async def remove_finalizers(self, job: Job | None, pods: list[Pod]) -> list[str]:
        """Remove the tracking finalizer; the uids done (vanished pods count as done)."""


class JobSync:
    """One sync of one Job: the steps of the module docstring, in order."""

    def __init__(self, ctl: JobSyncHost, job: Job, pods: list[Pod]) -> None:
        assert job.spec is not None
        self.ctl = ctl
        self.job = job
        self.spec = job.spec
        self.pods = pods
        self.key = job.key
        self.status: dict[str, Any] = (job.status.to_dict() if job.status else {})
        self.indexed = job.spec.completionMode == "Indexed"
        self.completions = job.spec.completions
        self.now = ctl.now()
        self.now_s = self.now.timestamp()
        self.events: list[tuple[str, str, str]] = []
        self.policy_failure: tuple[str, str] | None = None
        self.terminating_count = 0
        self.only_replace_failed = (job.spec.podReplacementPolicy == "Failed"
                                    or job.spec.podFailurePolicy is not None)

    # -- conditions --------------------------------------------------------------------------

    def _cond(self, ctype: str) -> dict[str, Any] | None:
        return next((c for c in self.status.get("conditions") or [] if c.get("type") == ctype), None)

    def _set_cond(self, ctype: str, status: str, reason: str, message: str) -> bool:
        """Add or update a condition; True when something changed (transition time kept otherwise)."""
        conds = self.status.setdefault("conditions", [])
        stamp = format_time(self.now)
        current = self._cond(ctype)
        if current is None:
            conds.append({"type": ctype, "status": status, "lastProbeTime": stamp, "lastTransitionTime": stamp,
                          "reason": reason, "message": message})
            return True
        if (current.get("status"), current.get("reason"), current.get("message")) == (status, reason, message):
            return False
        if current.get("status") != status:
            current["lastTransitionTime"] = stamp
        current.update(status=status, reason=reason, message=message, lastProbeTime=stamp)
        return True

    def _interim(self) -> tuple[str, str, str] | None:
        for ctype in _INTERIM:
            c = self._cond(ctype)
            if c is not None and c.get("status") == "True":
                return ctype, c.get("reason") or "", c.get("message") or ""
        return None

    # -- the steps ---------------------------------------------------------------------------

    async def run(self) -> None:  # noqa: C901 - one flat sequence of cases, read best in one place
        spec, ctl = self.spec, self.ctl
        pending_rm = ctl.finalizer_removals.get(self.key, set())
        uncounted = self.status.get("uncountedTerminatedPods") or {}
        unc_succ: list[str] = list(uncounted.get("succeeded") or [])
        unc_fail: list[str] = list(uncounted.get("failed") or [])
        completed = parse_indexes(self.status.get("completedIndexes")) if self.indexed else set()
        interim = self._interim()
        failing = interim is not None and interim[0] == "FailureTarget"

        # 1. newly finished pods that still carry the finalizer
        policy = self.spec.podFailurePolicy
        only_failed = self.only_replace_failed
        finished: list[Pod] = []
        new_succ_t: list[float] = []
        new_fail_t: list[float] = []
        for pod in self.pods:
            if not jobpods.has_tracking_finalizer(pod) or (pod.uid or "") in pending_rm:
                continue
            uid = pod.uid or ""
            pod_ok = jobpods.is_succeeded(pod) and uid not in unc_fail
            really_failed = jobpods.is_failed(pod) if not only_failed else _phase(pod) == "Failed"
            pod_failed = not pod_ok and (really_failed or failing)
            if not (pod_ok or pod_failed):
                continue
            finished.append(pod)
            if pod_failed and policy and _phase(pod) == "Failed" and uid not in unc_fail:
                action, message = failurepolicy.match(policy, pod)
                if action == "Ignore":
                    continue  # finalizer removed, never counted toward backoffLimit
                if action == "FailJob" and self.policy_failure is None:
                    self.policy_failure = ("PodFailurePolicy", message)
            if pod_ok:
                ix = jobpods.completion_index(pod)
                if self.indexed:
                    if ix is not None and ix < (self.completions or 0) and ix not in completed:
                        completed.add(ix)
                        new_succ_t.append(jobpods.finish_time_s(pod, self.now_s))
                elif uid not in unc_succ:
                    unc_succ.append(uid)
                    new_succ_t.append(jobpods.finish_time_s(pod, self.now_s))
            elif uid not in unc_fail:
                unc_fail.append(uid)
                new_fail_t.append(jobpods.finish_time_s(pod, self.now_s))
        record = ctl.backoff.setdefault(self.key, BackoffRecord())
        record.update(new_succ_t, new_fail_t)

        active = [p for p in self.pods if podutil.is_active(p)]
        terminating = [p for p in self.pods if jobpods.is_terminating(p)]
        self.terminating_count = len(terminating)
        base_succeeded = int(self.status.get("succeeded") or 0)
        base_failed = int(self.status.get("failed") or 0)
        succeeded = len(completed) if self.indexed else base_succeeded + len(unc_succ)
        failed = base_failed + len(unc_fail)

        # 2. start time, suspension, deadline, backoff limit, completion
        if spec.suspend:
            await self._suspend(active)
            active = []
        else:
            if (self._cond("Suspended") or {}).get("status") == "True":
                self._set_cond("Suspended", "False", "JobResumed", "Job resumed")
                self.status["startTime"] = format_time(self.now)
                self.events.append(("Normal", "Resumed", "Job resumed"))
            elif not self.status.get("startTime"):
                self.status["startTime"] = format_time(self.now)
        if interim is None and not spec.suspend:
            interim = self._judge(succeeded, failed, active)
            if interim is not None:
                self._set_cond(interim[0], "True", interim[1], interim[2])
        delete_error: Exception | None = None
        if interim is not None and active:
            # Kubernetes: deleted pods count as terminating, so the terminal condition waits.
            delete_error = await self._delete(active)
            terminating = terminating + active
            active = []
        elif not spec.suspend:
            await self._manage(active, succeeded, completed, record)

        # 3. status: uncounted first, then finalizers, then counters
        self.status["uncountedTerminatedPods"] = {"succeeded": unc_succ, "failed": unc_fail} \
            if (unc_succ or unc_fail) else {}
        if self.indexed:
            self.status["completedIndexes"] = format_indexes(completed)
        self.status["succeeded"] = (succeeded if self.indexed else base_succeeded) or None
        self.status["failed"] = base_failed or None
        self._set_counts(active, terminating)
        await self._write()
        done = set(await ctl.remove_finalizers(self.job, finished))
        moved_s = [u for u in unc_succ if u in done or not self._has_finalizer(u)]
        moved_f = [u for u in unc_fail if u in done or not self._has_finalizer(u)]
        if not self.indexed:
            self.status["succeeded"] = (base_succeeded + len(moved_s)) or None
        self.status["failed"] = (base_failed + len(moved_f)) or None
        left_s = [u for u in unc_succ if u not in moved_s]
        left_f = [u for u in unc_fail if u not in moved_f]
        self.status["uncountedTerminatedPods"] = {"succeeded": left_s, "failed": left_f} \
            if (left_s or left_f) else {}
        if interim is not None and not left_s and not left_f and not terminating and not active:
            self._finish(interim)
        await self._write()
        for type_, reason, message in self.events:
            await ctl.recorder.event(self.job, type_, reason, message)
        if delete_error is not None:
            raise delete_error
        self._requeue(record)

    def _has_finalizer(self, uid: str) -> bool:
        return any(p.uid == uid and jobpods.has_tracking_finalizer(p) for p in self.pods)

    def _judge(self, succeeded: int, failed: int, active: list[Pod]) -> tuple[str, str, str] | None:
        spec = self.spec
        limit = spec.backoffLimit if spec.backoffLimit is not None else 6
        if self.policy_failure is not None:
            self.events.append(("Warning", *self.policy_failure))
            return ("FailureTarget", *self.policy_failure)
        if failed > limit or self._past_limit_on_failure(active, limit):
            self.events.append(("Warning", *BACKOFF_LIMIT_EXCEEDED))
            return ("FailureTarget", *BACKOFF_LIMIT_EXCEEDED)
        if self._deadline_left_s() == 0.0:
            self.events.append(("Warning", *DEADLINE_EXCEEDED))
            return ("FailureTarget", *DEADLINE_EXCEEDED)
        done = succeeded > 0 and not active if self.completions is None else succeeded >= self.completions
        return ("SuccessCriteriaMet", *COMPLETIONS_REACHED) if done else None

    def _past_limit_on_failure(self, active: list[Pod], limit: int) -> bool:
        template = self.spec.template
        if template is None or template.spec is None or template.spec.restartPolicy != "OnFailure":
            return False
        restarts = sum(podutil.restarts(p) for p in active)
        for p in active:
            restarts += sum(cs.restartCount or 0 for cs in (p.status.initContainerStatuses or [])) if p.status else 0
        return restarts > 0 if limit == 0 else restarts >= limit

    def _deadline_left_s(self) -> float | None:
        deadline = self.spec.activeDeadlineSeconds
        start = parse_time(self.status.get("startTime"))
        if deadline is None or start is None or self.spec.suspend:
            return None
        return max(0.0, deadline - (self.now - start).total_seconds())

    def _finish(self, interim: tuple[str, str, str]) -> None:
        final = _INTERIM[interim[0]]
        self._set_cond(final, "True", interim[1], interim[2])
        if final == "Complete":
            self.status["completionTime"] = format_time(self.now)
            self.events.append(("Normal", "Completed", "Job completed"))

    async def _suspend(self, active: list[Pod]) -> None:
        await self._delete(active)
        if self._set_cond("Suspended", "True", "JobSuspended", "Job suspended"):
            self.events.append(("Normal", "Suspended", "Job suspended"))

    def _set_counts(self, active: list[Pod], terminating: list[Pod]) -> None:
        self.status["active"] = len(active) or None  # omitempty, as Kubernetes
        self.status["ready"] = sum(1 for p in active if podutil.is_ready(p))
        self.status["terminating"] = len(terminating)

    async def _manage(self, active: list[Pod], succeeded: int, completed: set[int], record: BackoffRecord) -> None:
        spec = self.spec
        parallelism = spec.parallelism if spec.parallelism is not None else 1
        if not self.ctl.expectations.satisfied(self.key):
            return
        if self.completions is None:
            want = len(active) if succeeded > 0 else parallelism
        else:
            want = max(0, min(parallelism, self.completions - succeeded))
        surplus = self._surplus(active, want, completed)
        if surplus:
            deleted = await self._delete(surplus)
            active = [p for p in active if p not in surplus]
            if deleted is not None:
                raise deleted
        # podReplacementPolicy Failed: a terminating pod still holds its place.
        held_places = len(active) + (self.terminating_count if self.only_replace_failed else 0)
        if held_places >= want:
            return
        if record.remaining_s(self.now_s) > 0:
            return  # _requeue brings the key back when the backoff is over
        count = min(want - held_places, BURST)
        indexes: list[int | None] = [None] * count
        if self.indexed:
            held = {ix for p in active if (ix := jobpods.completion_index(p)) is not None}
            indexes = list(first_pending(count, self.completions or 0, completed, held))
        await self._create(indexes)

    def _surplus(self, active: list[Pod], want: int, completed: set[int]) -> list[Pod]:
        """Pods to delete: Indexed duplicates/out-of-range/already-completed first, then the
        least valuable ones beyond `want`."""
        bad: list[Pod] = []
        keep: list[Pod] = []
        if self.indexed:
            seen: set[int] = set()
            for p in sorted(active, key=podutil.deletion_rank, reverse=True):
                ix = jobpods.completion_index(p)
                if ix is None or ix >= (self.completions or 0) or ix in completed or ix in seen:
                    bad.append(p)
                else:
                    seen.add(ix)
                    keep.append(p)
        else:
            keep = list(active)
        extra = max(0, len(keep) - want)
        return bad + sorted(keep, key=podutil.deletion_rank)[:extra]

    async def _create(self, indexes: list[int | None]) -> None:
        ctl, job = self.ctl, self.job
        ctl.expectations.expect_creations(self.key, len(indexes))
        queue = list(indexes)

        async def create_one() -> None:
            pod = jobpods.pod_for_job(job, queue.pop(0))
            try:
                created = await ctl.client.create(pod, namespace=job.namespace)
            except errors.ApiError as exc:
                if not podutil.namespace_going_away(exc):
                    self.events.append(("Warning", "FailedCreate", f"Error creating: {exc.message}"))
                raise
            self.events.append(("Normal", "SuccessfulCreate", f"Created pod: {created.name}"))

        successes, err = await slow_start_batch(len(indexes), 1, create_one)
        for _ in range(len(indexes) - successes):
            ctl.expectations.creation_observed(self.key)
        if err is not None and not podutil.namespace_going_away(err):
            for type_, reason, message in self.events:
                await ctl.recorder.event(job, type_, reason, message)
            self.events.clear()
            raise err

    async def _delete(self, pods: list[Pod]) -> Exception | None:
        """Delete pods (expectations first); returns the first error instead of raising, so
        the status with the counts still gets written."""
        if not pods:
            return None
        ctl = self.ctl
        ctl.expectations.expect_deletions(self.key, [p.key for p in pods])
        first: Exception | None = None
        for pod in pods:
            try:
                await ctl.client.delete(Pod, pod.name, namespace=pod.namespace)
                self.events.append(("Normal", "SuccessfulDelete", f"Deleted pod: {pod.name}"))
            except errors.NotFound:
                ctl.expectations.deletion_observed(self.key, pod.key)
            except errors.ApiError as exc:
                ctl.expectations.deletion_observed(self.key, pod.key)
                first = first or exc
        return first

    async def _write(self) -> None:
        """PUT the status (with the Job's resourceVersion) when it changed."""
        before = self.job.status.to_dict() if self.job.status else {}
        status = {k: v for k, v in self.status.items() if v not in (None, [], "") or k == "uncountedTerminatedPods"}
        if not self.indexed:
            status.pop("completedIndexes", None)
        if status == before:
            return
        body = self.job.model_copy(deep=True)
        body.status = JobStatus.model_validate(status)
        self.job = await self.ctl.client.replace_status(body)

    def _requeue(self, record: BackoffRecord) -> None:
        delays = [record.remaining_s(self.now_s)]
        if (left := self._deadline_left_s()) is not None and not is_finished(self.job):
            delays.append(left + 0.1)
        wait = [d for d in delays if d > 0]
        if wait:
            self.ctl.queue.add_after(self.key, min(wait))
