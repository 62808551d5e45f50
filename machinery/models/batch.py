"""batch/v1 Job."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import LabelSelector, Resource
from machinery.models._base import StrictModel
from machinery.models.pod import PodTemplateSpec


class JobSpec(StrictModel):
    template: PodTemplateSpec | None = None
    parallelism: int | None = None
    completions: int | None = None
    activeDeadlineSeconds: int | None = None
    backoffLimit: int | None = None
    backoffLimitPerIndex: int | None = None
    maxFailedIndexes: int | None = None
    selector: LabelSelector | None = None
    manualSelector: bool | None = None
    ttlSecondsAfterFinished: int | None = None
    completionMode: str | None = None
    suspend: bool | None = None
    podFailurePolicy: dict[str, Any] | None = None
    podReplacementPolicy: str | None = None


class JobCondition(StrictModel):
    type: str
    status: str
    lastProbeTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class JobStatus(StrictModel):
    conditions: list[JobCondition] | None = None
    startTime: str | None = None
    completionTime: str | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    ready: int | None = None
    terminating: int | None = None
    completedIndexes: str | None = None
    failedIndexes: str | None = None
    uncountedTerminatedPods: dict[str, Any] | None = None


class Job(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "batch"
    KIND: ClassVar[str] = "Job"
    PLURAL: ClassVar[str] = "jobs"
    SINGULAR: ClassVar[str] = "job"
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: JobSpec | None = None
    status: JobStatus | None = None


__all__ = ["Job", "JobCondition", "JobSpec", "JobStatus"]
