"""core/v1 Pod, its spec/status, volumes, scheduling constraints, PodTemplateSpec, Binding.

Volume sources we do not interpret (persistentVolumeClaim, projected, downwardAPI, ...) are
kept verbatim: `Volume` allows extra fields, so they survive a round trip. Affinity: node
affinity is typed (the scheduler evaluates it); pod (anti-)affinity is kept as dicts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import ObjectMeta, Resource
from machinery.models._base import LocalObjectReference, ObjectReference, ResourceList, StrictModel
from machinery.models.container import (
    Container,
    ContainerStatus,
    ObjectFieldSelector,
    ResourceFieldSelector,
)


class KeyToPath(StrictModel):
    key: str
    path: str
    mode: int | None = None


class EmptyDirVolumeSource(StrictModel):
    medium: str | None = None
    sizeLimit: str | None = None


class HostPathVolumeSource(StrictModel):
    path: str
    type: str | None = None


class ConfigMapVolumeSource(StrictModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    defaultMode: int | None = None
    optional: bool | None = None


class SecretVolumeSource(StrictModel):
    secretName: str | None = None
    items: list[KeyToPath] | None = None
    defaultMode: int | None = None
    optional: bool | None = None


class PersistentVolumeClaimVolumeSource(StrictModel):
    claimName: str
    readOnly: bool | None = None


class ServiceAccountTokenProjection(StrictModel):
    path: str
    audience: str | None = None
    expirationSeconds: int | None = None


class ConfigMapProjection(StrictModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class SecretProjection(StrictModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class DownwardAPIVolumeFile(StrictModel):
    path: str
    fieldRef: ObjectFieldSelector | None = None
    resourceFieldRef: ResourceFieldSelector | None = None
    mode: int | None = None


class DownwardAPIProjection(StrictModel):
    items: list[DownwardAPIVolumeFile] | None = None


class VolumeProjection(StrictModel):
    """One source of a projected volume. Unknown sources (clusterTrustBundle, ...) are kept as
    extra fields (dicts)."""

    model_config = ConfigDict(extra="allow")

    serviceAccountToken: ServiceAccountTokenProjection | None = None
    configMap: ConfigMapProjection | None = None
    secret: SecretProjection | None = None
    downwardAPI: DownwardAPIProjection | None = None


class ProjectedVolumeSource(StrictModel):
    """`Volume.projected` stays a dict in the API (kept verbatim); the kubelet reads it through
    this model (`ProjectedVolumeSource.model_validate(volume.projected)`)."""

    sources: list[VolumeProjection] | None = None
    defaultMode: int | None = None


class Volume(StrictModel):
    """A pod volume. Unknown sources are kept as extra fields (dicts)."""

    model_config = ConfigDict(extra="allow")

    name: str
    emptyDir: EmptyDirVolumeSource | None = None
    hostPath: HostPathVolumeSource | None = None
    configMap: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    persistentVolumeClaim: dict[str, Any] | None = None
    projected: dict[str, Any] | None = None
    downwardAPI: dict[str, Any] | None = None

    def sources(self) -> list[str]:
        """Names of the volume sources that are set (a valid volume has exactly one)."""
        known = [n for n in ("emptyDir", "hostPath", "configMap", "secret", "persistentVolumeClaim",
                             "projected", "downwardAPI") if getattr(self, n) is not None]
        return known + [k for k, v in (self.model_extra or {}).items() if v is not None]


class Toleration(StrictModel):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    tolerationSeconds: int | None = None


class NodeSelectorRequirement(StrictModel):
    key: str
    operator: str
    values: list[str] | None = None


class NodeSelectorTerm(StrictModel):
    matchExpressions: list[NodeSelectorRequirement] | None = None
    matchFields: list[NodeSelectorRequirement] | None = None


class NodeSelector(StrictModel):
    nodeSelectorTerms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(StrictModel):
    weight: int
    preference: NodeSelectorTerm


class NodeAffinity(StrictModel):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[PreferredSchedulingTerm] | None = None


class Affinity(StrictModel):
    nodeAffinity: NodeAffinity | None = None
    podAffinity: dict[str, Any] | None = None
    podAntiAffinity: dict[str, Any] | None = None


class PodDNSConfigOption(StrictModel):
    name: str | None = None
    value: str | None = None


class PodDNSConfig(StrictModel):
    nameservers: list[str] | None = None
    searches: list[str] | None = None
    options: list[PodDNSConfigOption] | None = None


class HostAlias(StrictModel):
    ip: str
    hostnames: list[str] | None = None


class PodReadinessGate(StrictModel):
    conditionType: str


class PodSpec(StrictModel):
    containers: list[Container]
    initContainers: list[Container] | None = None
    ephemeralContainers: list[dict[str, Any]] | None = None
    volumes: list[Volume] | None = None
    restartPolicy: str | None = None
    terminationGracePeriodSeconds: int | None = None
    activeDeadlineSeconds: int | None = None
    dnsPolicy: str | None = None
    dnsConfig: PodDNSConfig | None = None
    nodeSelector: dict[str, str] | None = None
    serviceAccountName: str | None = None
    serviceAccount: str | None = None
    automountServiceAccountToken: bool | None = None
    nodeName: str | None = None
    hostNetwork: bool | None = None
    hostPID: bool | None = None
    hostIPC: bool | None = None
    shareProcessNamespace: bool | None = None
    securityContext: dict[str, Any] | None = None
    imagePullSecrets: list[LocalObjectReference] | None = None
    hostname: str | None = None
    subdomain: str | None = None
    setHostnameAsFQDN: bool | None = None
    affinity: Affinity | None = None
    schedulerName: str | None = None
    tolerations: list[Toleration] | None = None
    hostAliases: list[HostAlias] | None = None
    priorityClassName: str | None = None
    priority: int | None = None
    preemptionPolicy: str | None = None
    readinessGates: list[PodReadinessGate] | None = None
    runtimeClassName: str | None = None
    enableServiceLinks: bool | None = None
    overhead: ResourceList | None = None
    topologySpreadConstraints: list[dict[str, Any]] | None = None
    os: dict[str, Any] | None = None


class PodCondition(StrictModel):
    type: str
    status: str
    observedGeneration: int | None = None
    lastProbeTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class PodIP(StrictModel):
    ip: str


class PodStatus(StrictModel):
    phase: str | None = None
    conditions: list[PodCondition] | None = None
    message: str | None = None
    reason: str | None = None
    nominatedNodeName: str | None = None
    hostIP: str | None = None
    hostIPs: list[PodIP] | None = None
    podIP: str | None = None
    podIPs: list[PodIP] | None = None
    startTime: str | None = None
    initContainerStatuses: list[ContainerStatus] | None = None
    containerStatuses: list[ContainerStatus] | None = None
    ephemeralContainerStatuses: list[dict[str, Any]] | None = None
    qosClass: str | None = None
    observedGeneration: int | None = None


class Pod(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Pod"
    PLURAL: ClassVar[str] = "pods"
    SINGULAR: ClassVar[str] = "pod"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("po",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status", "binding", "log", "exec", "eviction")

    spec: PodSpec | None = None
    status: PodStatus | None = None


class PodTemplateSpec(StrictModel):
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


class Binding(Resource):
    """POST pods/NAME/binding (and /bindings): assigns a pod to `target` (a Node)."""

    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "Binding"
    PLURAL: ClassVar[str] = "bindings"
    SINGULAR: ClassVar[str] = "binding"

    target: ObjectReference


__all__ = [
    "Affinity", "Binding", "ConfigMapProjection", "ConfigMapVolumeSource", "DownwardAPIProjection",
    "DownwardAPIVolumeFile", "EmptyDirVolumeSource", "HostAlias", "HostPathVolumeSource",
    "KeyToPath", "NodeAffinity", "NodeSelector", "NodeSelectorRequirement", "NodeSelectorTerm",
    "PersistentVolumeClaimVolumeSource", "Pod", "PodCondition", "PodDNSConfig",
    "PodDNSConfigOption", "PodIP", "PodReadinessGate", "PodSpec", "PodStatus", "PodTemplateSpec",
    "PreferredSchedulingTerm", "ProjectedVolumeSource", "SecretProjection", "SecretVolumeSource",
    "ServiceAccountTokenProjection", "Toleration", "Volume", "VolumeProjection",
]
