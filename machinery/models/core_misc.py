"""core/v1 ConfigMap, Secret, Event, and the non-stored DeleteOptions and Status bodies.

`DeleteOptions` and `Status` are plain bodies (no metadata of an object), so they are
`StrictModel`s with optional `apiVersion`/`kind`, not `Resource`s.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import ListMeta, Resource
from machinery.models._base import ObjectReference, StrictModel


class ConfigMap(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "ConfigMap"
    PLURAL: ClassVar[str] = "configmaps"
    SINGULAR: ClassVar[str] = "configmap"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cm",)

    data: dict[str, str] | None = None
    binaryData: dict[str, str] | None = None
    immutable: bool | None = None


class Secret(Resource):
    """`data` values are base64; `stringData` is write-only plain text merged into `data`."""

    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Secret"
    PLURAL: ClassVar[str] = "secrets"
    SINGULAR: ClassVar[str] = "secret"

    data: dict[str, str] | None = None
    stringData: dict[str, str] | None = None
    type: str | None = None
    immutable: bool | None = None


class EventSource(StrictModel):
    component: str | None = None
    host: str | None = None


class EventSeries(StrictModel):
    count: int | None = None
    lastObservedTime: str | None = None


class Event(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Event"
    PLURAL: ClassVar[str] = "events"
    SINGULAR: ClassVar[str] = "event"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ev",)

    involvedObject: ObjectReference = ObjectReference()
    reason: str | None = None
    message: str | None = None
    type: str | None = None
    count: int | None = None
    firstTimestamp: str | None = None
    lastTimestamp: str | None = None
    eventTime: str | None = None
    source: EventSource | None = None
    reportingComponent: str | None = None
    reportingInstance: str | None = None
    action: str | None = None
    series: EventSeries | None = None
    related: ObjectReference | None = None


class Preconditions(StrictModel):
    uid: str | None = None
    resourceVersion: str | None = None


class DeleteOptions(StrictModel):
    apiVersion: str | None = None
    kind: str | None = None
    gracePeriodSeconds: int | None = None
    propagationPolicy: str | None = None
    preconditions: Preconditions | None = None
    dryRun: list[str] | None = None
    orphanDependents: bool | None = None


class StatusCause(StrictModel):
    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(StrictModel):
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retryAfterSeconds: int | None = None


class Status(StrictModel):
    apiVersion: str | None = "v1"
    kind: str | None = "Status"
    metadata: ListMeta | None = None
    status: str | None = None
    message: str | None = None
    reason: str | None = None
    details: StatusDetails | None = None
    code: int | None = None


__all__ = [
    "ConfigMap", "DeleteOptions", "Event", "EventSeries", "EventSource", "Preconditions", "Secret",
    "Status", "StatusCause", "StatusDetails",
]
