"""Storage kinds: core/v1 PersistentVolume and PersistentVolumeClaim, storage.k8s.io/v1
StorageClass.

Contract: Kubernetes field names and nesting. Volume sources that kubelite does not
interpret (nfs, csi, ...) are kept verbatim (`PersistentVolumeSpec` allows extra fields), so
a PV of another kind survives a round trip; kubelite mounts `hostPath` and `local` PVs.
StorageClass has no spec/status: its fields are top level, as in Kubernetes. Constants:
the annotations and finalizers that the provisioner, binder and scheduler share.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import LabelSelector, Resource
from machinery.models._base import ObjectReference, ResourceList, StrictModel
from machinery.models.pod import HostPathVolumeSource, NodeSelector

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"
PROVISIONER_ANNOTATION = "volume.kubernetes.io/storage-provisioner"
BETA_PROVISIONER_ANNOTATION = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONED_BY_ANNOTATION = "pv.kubernetes.io/provisioned-by"
BOUND_BY_CONTROLLER_ANNOTATION = "pv.kubernetes.io/bound-by-controller"
BIND_COMPLETED_ANNOTATION = "pv.kubernetes.io/bind-completed"
PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"


class LocalVolumeSource(StrictModel):
    path: str
    fsType: str | None = None


class VolumeNodeAffinity(StrictModel):
    required: NodeSelector | None = None


class PersistentVolumeSpec(StrictModel):
    """Unknown volume sources are kept as extra fields (dicts)."""

    model_config = ConfigDict(strict=True, extra="allow")

    capacity: ResourceList | None = None
    accessModes: list[str] | None = None
    claimRef: ObjectReference | None = None
    persistentVolumeReclaimPolicy: str | None = None
    storageClassName: str | None = None
    mountOptions: list[str] | None = None
    volumeMode: str | None = None
    nodeAffinity: VolumeNodeAffinity | None = None
    hostPath: HostPathVolumeSource | None = None
    local: LocalVolumeSource | None = None
    volumeAttributesClassName: str | None = None


class PersistentVolumeStatus(StrictModel):
    phase: str | None = None
    message: str | None = None
    reason: str | None = None
    lastPhaseTransitionTime: str | None = None


class PersistentVolume(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "PersistentVolume"
    PLURAL: ClassVar[str] = "persistentvolumes"
    SINGULAR: ClassVar[str] = "persistentvolume"
    NAMESPACED: ClassVar[bool] = False
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("pv",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: PersistentVolumeSpec | None = None
    status: PersistentVolumeStatus | None = None


class VolumeResourceRequirements(StrictModel):
    requests: ResourceList | None = None
    limits: ResourceList | None = None


class PersistentVolumeClaimSpec(StrictModel):
    accessModes: list[str] | None = None
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements | None = None
    volumeName: str | None = None
    storageClassName: str | None = None
    volumeMode: str | None = None
    dataSource: dict[str, Any] | None = None
    dataSourceRef: dict[str, Any] | None = None
    volumeAttributesClassName: str | None = None


class PersistentVolumeClaimCondition(StrictModel):
    type: str
    status: str
    lastProbeTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class PersistentVolumeClaimStatus(StrictModel):
    phase: str | None = None
    accessModes: list[str] | None = None
    capacity: ResourceList | None = None
    conditions: list[PersistentVolumeClaimCondition] | None = None


class PersistentVolumeClaim(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "PersistentVolumeClaim"
    PLURAL: ClassVar[str] = "persistentvolumeclaims"
    SINGULAR: ClassVar[str] = "persistentvolumeclaim"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("pvc",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None


class TopologySelectorLabelRequirement(StrictModel):
    key: str
    values: list[str]


class TopologySelectorTerm(StrictModel):
    matchLabelExpressions: list[TopologySelectorLabelRequirement] | None = None


class StorageClass(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "storage.k8s.io"
    KIND: ClassVar[str] = "StorageClass"
    PLURAL: ClassVar[str] = "storageclasses"
    SINGULAR: ClassVar[str] = "storageclass"
    NAMESPACED: ClassVar[bool] = False
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("sc",)

    provisioner: str = ""
    parameters: dict[str, str] | None = None
    reclaimPolicy: str | None = None
    mountOptions: list[str] | None = None
    allowVolumeExpansion: bool | None = None
    volumeBindingMode: str | None = None
    allowedTopologies: list[TopologySelectorTerm] | None = None


__all__ = [
    "BETA_PROVISIONER_ANNOTATION",
    "BIND_COMPLETED_ANNOTATION",
    "BOUND_BY_CONTROLLER_ANNOTATION",
    "DEFAULT_CLASS_ANNOTATION",
    "PROVISIONED_BY_ANNOTATION",
    "PROVISIONER_ANNOTATION",
    "PVC_PROTECTION_FINALIZER",
    "PV_PROTECTION_FINALIZER",
    "SELECTED_NODE_ANNOTATION",
    "LocalVolumeSource",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "PersistentVolumeClaimCondition",
    "PersistentVolumeClaimSpec",
    "PersistentVolumeClaimStatus",
    "PersistentVolumeSpec",
    "PersistentVolumeStatus",
    "StorageClass",
    "TopologySelectorLabelRequirement",
    "TopologySelectorTerm",
    "VolumeNodeAffinity",
    "VolumeResourceRequirements",
]
