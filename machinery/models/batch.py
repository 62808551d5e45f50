"""batch/v1 Job and CronJob, and the well-known batch labels, annotations and finalizer
(the names of Kubernetes' `k8s.io/api/batch/v1/types.go`)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import LabelSelector, ObjectMeta, Resource
from machinery.models._base import ObjectReference, StrictModel
from machinery.models.pod import PodTemplateSpec

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME_LABEL = "job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
JOB_COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
"""Annotation and label of an Indexed Job's pods; `JOB_COMPLETION_INDEX_ENV` carries it too."""
JOB_COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
CRONJOB_SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
CRONJOB_INSTANTIATE = "cronjob.kubernetes.io/instantiate"


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


class JobTemplateSpec(StrictModel):
    metadata: ObjectMeta | None = None
    spec: JobSpec | None = None


class CronJobSpec(StrictModel):
    schedule: str | None = None
    timeZone: str | None = None
    startingDeadlineSeconds: int | None = None
    concurrencyPolicy: str | None = None
    suspend: bool | None = None
    jobTemplate: JobTemplateSpec | None = None
    successfulJobsHistoryLimit: int | None = None
    failedJobsHistoryLimit: int | None = None


class CronJobStatus(StrictModel):
    active: list[ObjectReference] | None = None
    lastScheduleTime: str | None = None
    lastSuccessfulTime: str | None = None


class CronJob(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "batch"
    KIND: ClassVar[str] = "CronJob"
    PLURAL: ClassVar[str] = "cronjobs"
    SINGULAR: ClassVar[str] = "cronjob"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cj",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: CronJobSpec | None = None
    status: CronJobStatus | None = None


__all__ = ["CONTROLLER_UID_LABEL", "CRONJOB_INSTANTIATE", "CRONJOB_SCHEDULED_TIMESTAMP", "JOB_COMPLETION_INDEX",
           "JOB_COMPLETION_INDEX_ENV", "JOB_NAME_LABEL", "JOB_TRACKING_FINALIZER", "LEGACY_CONTROLLER_UID_LABEL",
           "LEGACY_JOB_NAME_LABEL", "CronJob", "CronJobSpec", "CronJobStatus", "Job", "JobCondition", "JobSpec", "JobStatus",
           "JobTemplateSpec"]
