"""discovery.k8s.io/v1 EndpointSlice (no spec/status: addressType, endpoints and ports are top level).

Contract: the EndpointSlice controller (controllers/endpointslice.py) writes one or more slices
per Service with a selector (at most `MAX_ENDPOINTS_PER_SLICE` endpoints each), labelled
`SERVICE_NAME_LABEL` = the Service's name and `MANAGED_BY_LABEL` = `MANAGED_BY_CONTROLLER`; the
mirroring controller copies a selector-less Service's user-written Endpoints into slices
managed by `MANAGED_BY_MIRRORING`. Consumers (proxy, DNS) read slices by the service-name label
and merge them; `ready`/`serving`/`terminating` nil means ready/serving true, terminating false
(`conditions_of`).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import ObjectReference, StrictModel

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY_CONTROLLER = "endpointslice-controller.k8s.io"
MANAGED_BY_MIRRORING = "endpointslicemirroring-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager --max-endpoints-per-slice default
ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")


class EndpointConditions(StrictModel):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class ForZone(StrictModel):
    name: str


class ForNode(StrictModel):
    name: str


class EndpointHints(StrictModel):
    forZones: list[ForZone] | None = None
    forNodes: list[ForNode] | None = None


class Endpoint(StrictModel):
    addresses: list[str]
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    targetRef: ObjectReference | None = None
    deprecatedTopology: dict[str, str] | None = None
    nodeName: str | None = None
    zone: str | None = None
    hints: EndpointHints | None = None


class DiscoveryEndpointPort(StrictModel):
    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    appProtocol: str | None = None


class EndpointSlice(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "discovery.k8s.io"
    KIND: ClassVar[str] = "EndpointSlice"
    PLURAL: ClassVar[str] = "endpointslices"
    SINGULAR: ClassVar[str] = "endpointslice"

    addressType: str = ""
    endpoints: list[Endpoint] | None = None
    ports: list[DiscoveryEndpointPort] | None = None


def conditions_of(ep: Endpoint) -> tuple[bool, bool, bool]:
    """(ready, serving, terminating) with Kubernetes' nil meanings: ready and serving default to
    true (serving follows ready when unset), terminating to false."""
    c = ep.conditions or EndpointConditions()
    ready = c.ready is not False
    serving = c.serving if c.serving is not None else ready
    return ready, serving, bool(c.terminating)


__all__ = [
    "ADDRESS_TYPES",
    "MANAGED_BY_CONTROLLER",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_MIRRORING",
    "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME_LABEL",
    "DiscoveryEndpointPort",
    "Endpoint",
    "EndpointConditions",
    "EndpointHints",
    "EndpointSlice",
    "ForNode",
    "ForZone",
    "conditions_of",
]
