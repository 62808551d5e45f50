"""core/v1 LimitRange and ResourceQuota: per-namespace resource policy.

Contract: Kubernetes field names and nesting. LimitRange items have a `type` of `Container`,
`Pod` or `PersistentVolumeClaim` (validation in apiserver/admission/validation_quota.py);
the LimitRanger admission (apiserver/admission/limitranger.py) defaults container resources
and enforces min/max/maxLimitRequestRatio. ResourceQuota `status.hard`/`status.used` are
written by the quota admission (charging) and the quota controller (recompute).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from machinery.meta import Resource
from machinery.models._base import ResourceList, StrictModel

LIMIT_TYPES = ("Container", "Pod", "PersistentVolumeClaim")
QUOTA_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                "CrossNamespacePodAffinity", "VolumeAttributesClass")


class LimitRangeItem(StrictModel):
    type: str = ""
    max: ResourceList | None = None
    min: ResourceList | None = None
    default: ResourceList | None = None
    defaultRequest: ResourceList | None = None
    maxLimitRequestRatio: ResourceList | None = None


class LimitRangeSpec(StrictModel):
    limits: list[LimitRangeItem] = Field(default_factory=list)


class LimitRange(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "LimitRange"
    PLURAL: ClassVar[str] = "limitranges"
    SINGULAR: ClassVar[str] = "limitrange"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("limits",)

    spec: LimitRangeSpec | None = None


class ScopedResourceSelectorRequirement(StrictModel):
    scopeName: str = ""
    operator: str = ""
    values: list[str] | None = None


class ScopeSelector(StrictModel):
    matchExpressions: list[ScopedResourceSelectorRequirement] | None = None


class ResourceQuotaSpec(StrictModel):
    hard: ResourceList | None = None
    scopes: list[str] | None = None
    scopeSelector: ScopeSelector | None = None


class ResourceQuotaStatus(StrictModel):
    hard: ResourceList | None = None
    used: ResourceList | None = None


class ResourceQuota(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "ResourceQuota"
    PLURAL: ClassVar[str] = "resourcequotas"
    SINGULAR: ClassVar[str] = "resourcequota"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("quota",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: ResourceQuotaSpec | None = None
    status: ResourceQuotaStatus | None = None


__all__ = [
    "LIMIT_TYPES", "QUOTA_SCOPES", "LimitRange", "LimitRangeItem", "LimitRangeSpec", "ResourceQuota",
    "ResourceQuotaSpec", "ResourceQuotaStatus", "ScopeSelector", "ScopedResourceSelectorRequirement",
]
