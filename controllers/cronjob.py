"""CronJob controller (batch/v1): creates Jobs on a cron schedule, Kubernetes' cronjob_controllerv2.

Contract of `sync(key)` (clock injectable; level-triggered from the CronJob and Job caches):
1. Reconcile `status.active` with the Jobs this CronJob controls (controller ownerReference uid;
   the CronJob controller never adopts): finished Jobs leave the list (SawCompletedJob), the
   newest completionTime of a Complete Job becomes `lastSuccessfulTime`, an active entry whose
   Job is gone (checked live) leaves it (MissingJob); an unfinished Job of ours missing from the
   list is reported (UnexpectedJob).
2. Nothing new while the CronJob is being deleted, suspended, or when its timeZone
   (UnknownTimeZone) or schedule (UnparseableSchedule) cannot be used.
3. The most recent unmet schedule time is searched from `lastScheduleTime` (else the creation
   time), or from `now - startingDeadlineSeconds` when later, on the wall clock of
   `spec.timeZone` (UTC when unset). None: re-queue at the next schedule time. Older than
   startingDeadlineSeconds: MissSchedule, no Job.
4. The Job is `<cronjob>-<scheduled time in minutes since the epoch>`; a time already handled
   (same `lastScheduleTime`, or that Job active) creates nothing. concurrencyPolicy Forbid with
   an active Job: JobAlreadyActive, nothing; Replace: the active Jobs are deleted (Background
   propagation) first. The Job carries the template's labels and annotations plus
   `batch.kubernetes.io/cronjob-scheduled-timestamp` (RFC 3339 in the CronJob's zone) and a
   controller ownerReference. An AlreadyExists for a Job we control counts as created (we
   crashed after creating it); for anybody else's it is an error. Then `active` gets the Job and
   `lastScheduleTime` the scheduled time.
5. History: finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit are
   deleted oldest first (by startTime, then name), Background propagation.
6. Status is written with a resourceVersion-guarded PUT when it changed; the key is re-queued
   for the next schedule time (+100 ms, as Kubernetes).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, tzinfo
from typing import Any

from controllers import podutil
from controllers.base import Controller, ControllerContext
from controllers.job.conditions import condition, is_finished
from controllers.job.controller import CONTROLLER_UID_INDEX, controller_uid_index
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock, format_time, parse_time
from machinery.cron import Schedule, load_zone, parse_schedule
from machinery.meta import ObjectMeta
from machinery.models import CRONJOB_SCHEDULED_TIMESTAMP, CronJob, CronJobStatus, Job, JobSpec

log = logging.getLogger(__name__)

_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=367),
            timedelta(days=5 * 366))
REQUEUE_SLACK_S = 0.1
TOO_MANY_MISSED = 100


def job_name(cj: CronJob, scheduled: datetime) -> str:
    return f"{cj.name}-{int(scheduled.timestamp()) // 60}"


def missed_count(schedule: Schedule, zone: tzinfo, earliest: datetime, now: datetime) -> int:
    """How many activations fell in (earliest, now], estimated as Kubernetes does (elapsed time
    over the interval between the first two), for the TooManyMissedTimes warning."""
    t1 = schedule.next(earliest, zone)
    if t1 > now:
        return 0
    step = (schedule.next(t1, zone) - t1).total_seconds()
    return int((now - t1).total_seconds() // step) + 1 if step > 0 else 1


def most_recent_unmet(schedule: Schedule, zone: tzinfo, earliest: datetime, now: datetime) -> datetime | None:
    """The latest activation in (earliest, now], or None. Searches growing windows back from
    `now` so a CronJob idle for months costs a few dozen steps, not one per missed minute."""
    if schedule.next(earliest, zone) > now:
        return None
    t = now
    for window in _WINDOWS:
        t = schedule.next(max(earliest, now - window), zone)
        if t <= now:
            break
    last = None
    while t <= now:
        last = t
        t = schedule.next(t, zone)
    return last


def job_from_template(cj: CronJob, scheduled: datetime, zone: tzinfo) -> Job:
    assert cj.spec is not None and cj.spec.jobTemplate is not None
    template = cj.spec.jobTemplate
    tmeta = template.metadata or ObjectMeta()
    annotations = dict(tmeta.annotations or {})
    annotations[CRONJOB_SCHEDULED_TIMESTAMP] = scheduled.astimezone(zone).isoformat().replace("+00:00", "Z")
    spec = JobSpec.model_validate(template.spec.to_dict()) if template.spec else JobSpec()
    return Job(metadata=ObjectMeta(name=job_name(cj, scheduled), namespace=cj.namespace,
                                   labels=dict(tmeta.labels or {}) or None, annotations=annotations,
                                   ownerReferences=[podutil.new_controller_ref(cj)]),
               spec=spec)


def _job_ref(job: Job) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "namespace": job.namespace, "name": job.name,
            "uid": job.uid, "resourceVersion": job.resource_version}


def _start_key(job: Job) -> tuple[int, float, str]:
    start = parse_time(job.status.startTime) if job.status and job.status.startTime else None
    # Kubernetes' byJobStartTime: jobs without a start time sort last, ties by name.
    return (1, 0.0, job.name) if start is None else (0, start.timestamp(), job.name)


class CronJobController(Controller):
    NAME = "cronjob"
    KIND = CronJob

    def __init__(self, ctx: ControllerContext, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.cj_informer = ctx.factory.informer(CronJob)
        self.job_informer = ctx.factory.informer(Job)
        self.job_informer.add_index(CONTROLLER_UID_INDEX, controller_uid_index)
        self.cj_informer.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self.enqueue)
        self.job_informer.add_handlers(on_add=self._job_event, on_update=lambda _o, n: self._job_event(n),
                                       on_delete=self._job_event)

    def _job_event(self, job: Job) -> None:
        ref = podutil.controller_ref(job)
        if ref is not None and ref.kind == "CronJob":
            self.enqueue_key(f"{job.namespace}/{ref.name}")

    async def sync(self, key: str) -> None:
        cj = self.cj_informer.get(key)
        if cj is None or cj.spec is None:
            return
        jobs = self.job_informer.by_index(CONTROLLER_UID_INDEX, cj.uid or "")
        run = _CronSync(self, cj, jobs)
        await run.run()


class _CronSync:
    def __init__(self, ctl: CronJobController, cj: CronJob, jobs: list[Job]) -> None:
        assert cj.spec is not None
        self.ctl = ctl
        self.cj = cj
        self.spec = cj.spec
        self.jobs = jobs
        self.now = ctl.clock.now()
        self.status: dict[str, Any] = cj.status.to_dict() if cj.status else {}
        self.requeue_s: float | None = None

    async def event(self, type_: str, reason: str, message: str) -> None:
        await self.ctl.recorder.event(self.cj, type_, reason, message)

    async def run(self) -> None:
        await self._reconcile_active()
        error: Exception | None = None
        try:
            await self._schedule()
        except errors.ApiError as exc:
            error = exc
        await self._cleanup_history()
        await self._write()
        if error is not None:
            raise error
        if self.requeue_s is not None:
            self.ctl.queue.add_after(self.cj.key, self.requeue_s)

    # -- 1. active list ----------------------------------------------------------------------

    def _active(self) -> list[dict[str, Any]]:
        return list(self.status.get("active") or [])

    def _set_active(self, refs: list[dict[str, Any]]) -> None:
        self.status["active"] = refs or None

    async def _reconcile_active(self) -> None:
        active_uids = {r.get("uid") for r in self._active()}
        for job in self.jobs:
            finished = is_finished(job)
            if job.uid not in active_uids and not finished:
                await self.event("Warning", "UnexpectedJob", f"Saw a job that the controller did not create or forgot: {job.name}")
            elif job.uid in active_uids and finished:
                self._set_active([r for r in self._active() if r.get("uid") != job.uid])
                ctype = "Complete" if condition(job, "Complete") else "Failed"
                await self.event("Normal", "SawCompletedJob", f"Saw completed job: {job.name}, condition: {ctype}")
            if condition(job, "Complete") is not None and job.status and job.status.completionTime:
                last = parse_time(self.status.get("lastSuccessfulTime"))
                done = parse_time(job.status.completionTime)
                if done is not None and (last is None or done > last):
                    self.status["lastSuccessfulTime"] = job.status.completionTime
        known = {j.uid for j in self.jobs}
        for ref in self._active():
            if ref.get("uid") in known:
                continue
            try:  # the cache may just lag: ask the API server
                await self.ctl.client.get(Job, ref.get("name") or "", namespace=ref.get("namespace") or self.cj.namespace)
            except errors.NotFound:
                self._set_active([r for r in self._active() if r.get("uid") != ref.get("uid")])
                await self.event("Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")

    # -- 2-4. scheduling ---------------------------------------------------------------------

    def _requeue_at(self, schedule: Schedule, zone: tzinfo, after: datetime | None) -> None:
        nxt = schedule.next(after or self.now, zone)
        if nxt <= self.now:
            nxt = schedule.next(self.now, zone)
        self.requeue_s = (nxt - self.now).total_seconds() + REQUEUE_SLACK_S

    async def _schedule(self) -> None:
        cj, spec = self.cj, self.spec
        if cj.metadata.deletionTimestamp:
            return
        try:
            zone = load_zone(spec.timeZone)
        except ValueError as exc:
            await self.event("Warning", "UnknownTimeZone", f"invalid timeZone: {spec.timeZone!r}: {exc}")
            return
        if spec.suspend:
            return
        try:
            schedule = parse_schedule(spec.schedule or "")
        except ValueError as exc:
            await self.event("Warning", "UnparseableSchedule", f"unparseable schedule: {spec.schedule!r} : {exc}")
            return
        earliest = parse_time(self.status.get("lastScheduleTime")) or parse_time(cj.metadata.creationTimestamp) \
            or self.now
        if spec.startingDeadlineSeconds is not None:
            earliest = max(earliest, self.now - timedelta(seconds=spec.startingDeadlineSeconds))
        scheduled = most_recent_unmet(schedule, zone, earliest, self.now)
        self._requeue_at(schedule, zone, scheduled)
        if scheduled is None:
            return
        if (missed := missed_count(schedule, zone, earliest, self.now)) > TOO_MANY_MISSED:
            await self.event("Warning", "TooManyMissedTimes",
                             f"too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds "
                             "or check clock skew")
        if spec.startingDeadlineSeconds is not None and \
                scheduled + timedelta(seconds=spec.startingDeadlineSeconds) < self.now:
            await self.event("Warning", "MissSchedule", f"Missed scheduled time to start a job: {format_time(scheduled)}")
            return
        name = job_name(cj, scheduled)
        if any(r.get("name") == name for r in self._active()) or \
                parse_time(self.status.get("lastScheduleTime")) == scheduled:
            return
        if spec.concurrencyPolicy == "Forbid" and self._active():
            await self.event("Normal", "JobAlreadyActive",
                             "Not starting job because prior execution is running and concurrency policy is Forbid")
            return
        if spec.concurrencyPolicy == "Replace":
            for ref in self._active():
                await self._delete_job(ref.get("name") or "")
                self._set_active([r for r in self._active() if r.get("uid") != ref.get("uid")])
        await self._create(job_from_template(cj, scheduled, zone), scheduled)

    async def _create(self, job: Job, scheduled: datetime) -> None:
        try:
            created = await self.ctl.client.create(job, namespace=self.cj.namespace)
        except errors.AlreadyExists:
            existing = await self.ctl.client.get(Job, job.name, namespace=self.cj.namespace)
            ref = podutil.controller_ref(existing)
            if ref is None or ref.uid != self.cj.uid:
                raise
            created = existing  # ours: created before a crash or a lost status write
        except errors.ApiError as exc:
            if not podutil.namespace_going_away(exc):
                await self.event("Warning", "FailedCreate", f"Error creating job: {exc.message}")
            raise
        else:
            await self.event("Normal", "SuccessfulCreate", f"Created job {created.name}")
        if not is_finished(created) and all(r.get("uid") != created.uid for r in self._active()):
            self._set_active([*self._active(), _job_ref(created)])
        self.status["lastScheduleTime"] = format_time(scheduled)

    async def _delete_job(self, name: str) -> bool:
        try:
            await self.ctl.client.delete(Job, name, namespace=self.cj.namespace, propagation_policy="Background")
        except errors.NotFound:
            return False
        except errors.ApiError as exc:
            await self.event("Warning", "FailedDelete", f"Deleted job: {exc.message}")
            raise
        await self.event("Normal", "SuccessfulDelete", f"Deleted job {name}")
        return True

    # -- 5. history --------------------------------------------------------------------------

    async def _cleanup_history(self) -> None:
        spec = self.spec
        for ctype, limit in (("Complete", spec.successfulJobsHistoryLimit), ("Failed", spec.failedJobsHistoryLimit)):
            if limit is None:
                continue
            finished = sorted((j for j in self.jobs if condition(j, ctype) is not None and not j.metadata.deletionTimestamp),
                              key=_start_key)
            for job in finished[:max(0, len(finished) - limit)]:
                await self._delete_job(job.name)
                self._set_active([r for r in self._active() if r.get("uid") != job.uid])

    # -- 6. status ---------------------------------------------------------------------------

    async def _write(self) -> None:
        before = self.cj.status.to_dict() if self.cj.status else {}
        status = {k: v for k, v in self.status.items() if v is not None}
        if status == before:
            return
        body = self.cj.model_copy(deep=True)
        body.status = CronJobStatus.model_validate(status)
        await self.ctl.client.replace_status(body)


__all__ = ["CronJobController", "job_from_template", "job_name", "missed_count", "most_recent_unmet"]
