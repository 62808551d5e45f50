"""core/v1 Service and Endpoints."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from machinery.meta import Resource
from machinery.models._base import IntOrString, ObjectReference, StrictModel


class ServicePort(StrictModel):
    port: int
    name: str | None = None
    protocol: str | None = None
    appProtocol: str | None = None
    targetPort: IntOrString | None = None
    nodePort: int | None = None


class ClientIPConfig(StrictModel):
    timeoutSeconds: int | None = None


class SessionAffinityConfig(StrictModel):
    clientIP: ClientIPConfig | None = None


class ServiceSpec(StrictModel):
    type: str | None = None
    selector: dict[str, str] | None = None
    ports: list[ServicePort] | None = None
    clusterIP: str | None = None
    clusterIPs: list[str] | None = None
    externalIPs: list[str] | None = None
    externalName: str | None = None
    sessionAffinity: str | None = None
    sessionAffinityConfig: SessionAffinityConfig | None = None
    externalTrafficPolicy: str | None = None
    internalTrafficPolicy: str | None = None
    healthCheckNodePort: int | None = None
    ipFamilies: list[str] | None = None
    ipFamilyPolicy: str | None = None
    loadBalancerIP: str | None = None
    loadBalancerSourceRanges: list[str] | None = None
    loadBalancerClass: str | None = None
    allocateLoadBalancerNodePorts: bool | None = None
    publishNotReadyAddresses: bool | None = None
    trafficDistribution: str | None = None


class LoadBalancerIngress(StrictModel):
    ip: str | None = None
    hostname: str | None = None
    ipMode: str | None = None
    ports: list[dict[str, Any]] | None = None


class LoadBalancerStatus(StrictModel):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(StrictModel):
    # Never None, as Kubernetes' non-pointer struct: a Service answers `"loadBalancer": {}`.
    # (an explicit null is accepted, as Go's JSON reads it as the zero struct; defaulting
    # puts the `{}` back)
    loadBalancer: LoadBalancerStatus | None = Field(default_factory=LoadBalancerStatus)
    conditions: list[dict[str, Any]] | None = None


class Service(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Service"
    PLURAL: ClassVar[str] = "services"
    SINGULAR: ClassVar[str] = "service"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("svc",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: ServiceSpec | None = None
    status: ServiceStatus | None = None


class EndpointAddress(StrictModel):
    ip: str
    hostname: str | None = None
    nodeName: str | None = None
    targetRef: ObjectReference | None = None


class EndpointPort(StrictModel):
    port: int
    name: str | None = None
    protocol: str | None = None
    appProtocol: str | None = None


class EndpointSubset(StrictModel):
    addresses: list[EndpointAddress] | None = None
    notReadyAddresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Endpoints"
    PLURAL: ClassVar[str] = "endpoints"
    SINGULAR: ClassVar[str] = "endpoints"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ep",)

    subsets: list[EndpointSubset] | None = None


__all__ = [
    "ClientIPConfig", "EndpointAddress", "EndpointPort", "EndpointSubset", "Endpoints",
    "LoadBalancerIngress", "LoadBalancerStatus", "Service", "ServicePort", "ServiceSpec",
    "ServiceStatus", "SessionAffinityConfig",
]
