"""A Job's terminal state: `condition(job, type)` is the condition of that type with status
True (or None); `is_finished(job)` is True once Complete or Failed is."""

from __future__ import annotations

from machinery.models import Job, JobCondition


def condition(job: Job, ctype: str) -> JobCondition | None:
    for c in (job.status.conditions or []) if job.status else []:
        if c.type == ctype and c.status == "True":
            return c
    return None


def is_finished(job: Job) -> bool:
    return condition(job, "Complete") is not None or condition(job, "Failed") is not None
