"""core/v1 Node and Namespace (both cluster-scoped)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import ResourceList, StrictModel


class Taint(StrictModel):
    key: str
    effect: str
    value: str | None = None
    timeAdded: str | None = None


class NodeSpec(StrictModel):
    podCIDR: str | None = None
    podCIDRs: list[str] | None = None
    providerID: str | None = None
    unschedulable: bool | None = None
    taints: list[Taint] | None = None
    configSource: dict[str, Any] | None = None
    externalID: str | None = None


class NodeCondition(StrictModel):
    type: str
    status: str
    lastHeartbeatTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(StrictModel):
    type: str
    address: str


class DaemonEndpoint(StrictModel):
    Port: int


class NodeDaemonEndpoints(StrictModel):
    kubeletEndpoint: DaemonEndpoint | None = None


class NodeSystemInfo(StrictModel):
    machineID: str = ""
    systemUUID: str = ""
    bootID: str = ""
    kernelVersion: str = ""
    osImage: str = ""
    containerRuntimeVersion: str = ""
    kubeletVersion: str = ""
    kubeProxyVersion: str = ""
    operatingSystem: str = ""
    architecture: str = ""


class ContainerImage(StrictModel):
    names: list[str] | None = None
    sizeBytes: int | None = None


class NodeStatus(StrictModel):
    capacity: ResourceList | None = None
    allocatable: ResourceList | None = None
    phase: str | None = None
    conditions: list[NodeCondition] | None = None
    addresses: list[NodeAddress] | None = None
    daemonEndpoints: NodeDaemonEndpoints | None = None
    nodeInfo: NodeSystemInfo | None = None
    images: list[ContainerImage] | None = None
    volumesInUse: list[str] | None = None
    volumesAttached: list[dict[str, Any]] | None = None
    config: dict[str, Any] | None = None


class Node(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Node"
    PLURAL: ClassVar[str] = "nodes"
    SINGULAR: ClassVar[str] = "node"
    NAMESPACED: ClassVar[bool] = False
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("no",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status", "proxy")

    spec: NodeSpec | None = None
    status: NodeStatus | None = None


class NamespaceSpec(StrictModel):
    finalizers: list[str] | None = None


class NamespaceCondition(StrictModel):
    type: str
    status: str
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(StrictModel):
    phase: str | None = None
    conditions: list[NamespaceCondition] | None = None


class Namespace(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Namespace"
    PLURAL: ClassVar[str] = "namespaces"
    SINGULAR: ClassVar[str] = "namespace"
    NAMESPACED: ClassVar[bool] = False
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ns",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status", "finalize")

    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


__all__ = [
    "ContainerImage", "DaemonEndpoint", "Namespace", "NamespaceCondition", "NamespaceSpec",
    "NamespaceStatus", "Node", "NodeAddress", "NodeCondition", "NodeDaemonEndpoints", "NodeSpec",
    "NodeStatus", "NodeSystemInfo", "Taint",
]
