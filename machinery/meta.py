"""Object metadata shared by every kind (meta/v1), and the base classes of all models.

Field names are the wire names (camelCase) on purpose: a model dumps to exactly the JSON
Kubernetes clients send and expect, with no alias table to keep in sync. Optional
collections default to `None` and dumps use `exclude_none=True`, so an object round-trips
without growing empty fields. Timestamps are RFC 3339 strings ("2026-01-02T03:04:05Z");
quantities are strings ("100m", "64Mi") parsed by `machinery.quantity`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

# Re-exported: older callers import the time helpers from here; machinery.clock owns them.
from machinery.clock import now_rfc3339 as now_rfc3339
from machinery.clock import parse_time as parse_time


class KubeModel(BaseModel):
    """Base of every API structure.

    Unknown fields are dropped when parsing (Kubernetes' default: the API server drops them
    with a warning). Structures we do not interpret in detail are typed `dict[str, Any]` in
    the models, so they are still kept verbatim.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, validate_assignment=False)

    def to_dict(self) -> dict[str, Any]:
        """The wire form: JSON-compatible, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class OwnerReference(KubeModel):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    blockOwnerDeletion: bool | None = None


class ManagedFieldsEntry(KubeModel):
    manager: str | None = None
    operation: str | None = None
    apiVersion: str | None = None
    time: str | None = None
    fieldsType: str | None = None
    fieldsV1: dict[str, Any] | None = None
    subresource: str | None = None


class ObjectMeta(KubeModel):
    name: str | None = None
    generateName: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    generation: int | None = None
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    deletionGracePeriodSeconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managedFields: list[ManagedFieldsEntry] | None = None


class ListMeta(KubeModel):
    resourceVersion: str | None = None
    continue_: str | None = Field(default=None, alias="continue")
    remainingItemCount: int | None = None
    selfLink: str | None = None


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(KubeModel):
    matchLabels: dict[str, str] | None = None
    matchExpressions: list[LabelSelectorRequirement] | None = None


class Condition(KubeModel):
    """meta/v1 Condition (also close enough to the per-kind condition types)."""

    type: str
    status: str
    observedGeneration: int | None = None
    lastTransitionTime: str | None = None
    lastUpdateTime: str | None = None
    lastProbeTime: str | None = None
    lastHeartbeatTime: str | None = None
    reason: str | None = None
    message: str | None = None


class Resource(KubeModel):
    """A top-level API object. Subclasses set the class attributes below.

    `GROUP` is "" for the core group. `PLURAL` names the REST collection, `NAMESPACED` says
    whether objects live in a namespace, `SHORT_NAMES` are kubectl's abbreviations,
    `SUBRESOURCES` the subresources the API server serves for the kind.
    """

    GROUP: ClassVar[str] = ""
    VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    SINGULAR: ClassVar[str] = ""
    NAMESPACED: ClassVar[bool] = True
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()
    CATEGORIES: ClassVar[tuple[str, ...]] = ()
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ()

    apiVersion: str = ""
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def model_post_init(self, __context: Any) -> None:
        if not self.apiVersion:
            self.apiVersion = self.api_version()
        if not self.kind:
            self.kind = self.KIND

    @classmethod
    def api_version(cls) -> str:
        return f"{cls.GROUP}/{cls.VERSION}" if cls.GROUP else cls.VERSION

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls.model_validate(data)

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """The cache / work-queue key: `namespace/name`, or `name` for cluster-scoped kinds."""
        return object_key(self.metadata.namespace, self.metadata.name or "")

    @property
    def uid(self) -> str:
        return self.metadata.uid or ""

    @property
    def resource_version(self) -> str:
        return self.metadata.resourceVersion or ""


def object_key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of `object_key`."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)
