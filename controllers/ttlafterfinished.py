"""TTL-after-finished controller: deletes finished Jobs `ttlSecondsAfterFinished` after they finish.

Contract (Kubernetes pkg/controller/ttlafterfinished):
- Only Jobs with `spec.ttlSecondsAfterFinished` set and a Complete or Failed condition are
  considered. The finish time is `status.completionTime`, else the terminal condition's
  lastTransitionTime.
- Before the TTL expires the key is re-queued for the remaining time (clock injectable).
- When it has expired, the Job is re-read live (the cache may be stale: a TTL changed or the Job
  re-created), checked again, then deleted with propagationPolicy Foreground and a uid
  precondition, so its pods go first and a re-created Job of the same name is never deleted.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from controllers.base import Controller, ControllerContext
from controllers.job.conditions import condition
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock, parse_time
from machinery.models import Job

log = logging.getLogger(__name__)


def finish_time(job: Job) -> datetime | None:
    if job.status is not None and job.status.completionTime:
        return parse_time(job.status.completionTime)
    for ctype in ("Complete", "Failed"):
        cond = condition(job, ctype)
        if cond is not None:
            return parse_time(cond.lastTransitionTime)
    return None


def remaining_s(job: Job, now: datetime) -> float | None:
    """Seconds until the Job may be deleted (<= 0: now); None when it never expires (yet)."""
    ttl = job.spec.ttlSecondsAfterFinished if job.spec else None
    finished = finish_time(job)
    if ttl is None or finished is None:
        return None
    return ttl - (now - finished).total_seconds()


class TTLAfterFinishedController(Controller):
    NAME = "ttl-after-finished"
    KIND = Job

    def __init__(self, ctx: ControllerContext, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.job_informer = ctx.factory.informer(Job)
        self.job_informer.add_handlers(on_add=self._maybe, on_update=lambda _old, new: self._maybe(new))

    def _maybe(self, job: Job) -> None:
        if job.spec is not None and job.spec.ttlSecondsAfterFinished is not None and not job.metadata.deletionTimestamp:
            self.enqueue(job)

    async def sync(self, key: str) -> None:
        job = self.job_informer.get(key)
        if job is None or job.metadata.deletionTimestamp:
            return
        left = remaining_s(job, self.clock.now())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        try:
            fresh = await self.client.get(Job, job.name, namespace=job.namespace)
        except errors.NotFound:
            return
        left = remaining_s(fresh, self.clock.now())
        if left is None or fresh.metadata.deletionTimestamp:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        log.info("job %s: ttlSecondsAfterFinished expired; deleting it", key)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(Job, fresh.name, namespace=fresh.namespace, propagation_policy="Foreground",
                                     preconditions={"uid": fresh.uid})


__all__ = ["TTLAfterFinishedController", "finish_time", "remaining_s"]
