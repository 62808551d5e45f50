"""apps/v1 ReplicaSet, Deployment, StatefulSet, DaemonSet, ControllerRevision.

Workload selectors use meta/v1 `LabelSelector`; pod templates are `PodTemplateSpec`.
`volumeClaimTemplates` and `persistentVolumeClaimRetentionPolicy` are kept as dicts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import LabelSelector, Resource
from machinery.models._base import IntOrString, StrictModel
from machinery.models.pod import PodTemplateSpec

_WORKLOAD_SUBRESOURCES = ("status", "scale")


class WorkloadCondition(StrictModel):
    """DeploymentCondition / ReplicaSetCondition / StatefulSetCondition / DaemonSetCondition."""

    type: str
    status: str
    lastUpdateTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetSpec(StrictModel):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    replicas: int | None = None
    minReadySeconds: int | None = None


class ReplicaSetStatus(StrictModel):
    replicas: int = 0
    fullyLabeledReplicas: int | None = None
    readyReplicas: int | None = None
    availableReplicas: int | None = None
    terminatingReplicas: int | None = None
    observedGeneration: int | None = None
    conditions: list[WorkloadCondition] | None = None


class ReplicaSet(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "apps"
    KIND: ClassVar[str] = "ReplicaSet"
    PLURAL: ClassVar[str] = "replicasets"
    SINGULAR: ClassVar[str] = "replicaset"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("rs",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = _WORKLOAD_SUBRESOURCES

    spec: ReplicaSetSpec | None = None
    status: ReplicaSetStatus | None = None


class RollingUpdateDeployment(StrictModel):
    maxUnavailable: IntOrString | None = None
    maxSurge: IntOrString | None = None


class DeploymentStrategy(StrictModel):
    type: str | None = None
    rollingUpdate: RollingUpdateDeployment | None = None


class DeploymentSpec(StrictModel):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    replicas: int | None = None
    strategy: DeploymentStrategy | None = None
    minReadySeconds: int | None = None
    revisionHistoryLimit: int | None = None
    paused: bool | None = None
    progressDeadlineSeconds: int | None = None


class DeploymentStatus(StrictModel):
    observedGeneration: int | None = None
    replicas: int | None = None
    updatedReplicas: int | None = None
    readyReplicas: int | None = None
    availableReplicas: int | None = None
    unavailableReplicas: int | None = None
    terminatingReplicas: int | None = None
    conditions: list[WorkloadCondition] | None = None
    collisionCount: int | None = None


class Deployment(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "apps"
    KIND: ClassVar[str] = "Deployment"
    PLURAL: ClassVar[str] = "deployments"
    SINGULAR: ClassVar[str] = "deployment"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("deploy",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = _WORKLOAD_SUBRESOURCES

    spec: DeploymentSpec | None = None
    status: DeploymentStatus | None = None


class RollingUpdateStatefulSetStrategy(StrictModel):
    partition: int | None = None
    maxUnavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(StrictModel):
    type: str | None = None
    rollingUpdate: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetOrdinals(StrictModel):
    start: int | None = None


class StatefulSetSpec(StrictModel):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    replicas: int | None = None
    serviceName: str | None = None
    podManagementPolicy: str | None = None
    updateStrategy: StatefulSetUpdateStrategy | None = None
    volumeClaimTemplates: list[dict[str, Any]] | None = None
    revisionHistoryLimit: int | None = None
    minReadySeconds: int | None = None
    persistentVolumeClaimRetentionPolicy: dict[str, Any] | None = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetStatus(StrictModel):
    observedGeneration: int | None = None
    replicas: int = 0
    readyReplicas: int | None = None
    currentReplicas: int | None = None
    updatedReplicas: int | None = None
    availableReplicas: int | None = None
    currentRevision: str | None = None
    updateRevision: str | None = None
    collisionCount: int | None = None
    conditions: list[WorkloadCondition] | None = None


class StatefulSet(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "apps"
    KIND: ClassVar[str] = "StatefulSet"
    PLURAL: ClassVar[str] = "statefulsets"
    SINGULAR: ClassVar[str] = "statefulset"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("sts",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = _WORKLOAD_SUBRESOURCES

    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


class RollingUpdateDaemonSet(StrictModel):
    maxUnavailable: IntOrString | None = None
    maxSurge: IntOrString | None = None


class DaemonSetUpdateStrategy(StrictModel):
    type: str | None = None
    rollingUpdate: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(StrictModel):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    updateStrategy: DaemonSetUpdateStrategy | None = None
    minReadySeconds: int | None = None
    revisionHistoryLimit: int | None = None


class DaemonSetStatus(StrictModel):
    currentNumberScheduled: int = 0
    numberMisscheduled: int = 0
    desiredNumberScheduled: int = 0
    numberReady: int = 0
    observedGeneration: int | None = None
    updatedNumberScheduled: int | None = None
    numberAvailable: int | None = None
    numberUnavailable: int | None = None
    collisionCount: int | None = None
    conditions: list[WorkloadCondition] | None = None


class DaemonSet(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "apps"
    KIND: ClassVar[str] = "DaemonSet"
    PLURAL: ClassVar[str] = "daemonsets"
    SINGULAR: ClassVar[str] = "daemonset"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ds",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: DaemonSetSpec | None = None
    status: DaemonSetStatus | None = None


class ControllerRevision(Resource):
    """An immutable snapshot of a workload's template (StatefulSet/DaemonSet history).

    `data` is Kubernetes' RawExtension: any JSON object (for StatefulSet and DaemonSet the
    strategic-merge patch `{"spec": {"template": {..., "$patch": "replace"}}}`); `revision`
    orders the snapshots of one owner. There is no status and no spec, as in Kubernetes.
    """

    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "apps"
    KIND: ClassVar[str] = "ControllerRevision"
    PLURAL: ClassVar[str] = "controllerrevisions"
    SINGULAR: ClassVar[str] = "controllerrevision"
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ()

    data: dict[str, Any] | None = None
    revision: int = 0


__all__ = [
    "ControllerRevision", "DaemonSet", "DaemonSetSpec", "DaemonSetStatus", "DaemonSetUpdateStrategy", "Deployment",
    "DeploymentSpec", "DeploymentStatus", "DeploymentStrategy", "ReplicaSet", "ReplicaSetSpec",
    "ReplicaSetStatus", "RollingUpdateDaemonSet", "RollingUpdateDeployment",
    "RollingUpdateStatefulSetStrategy", "StatefulSet", "StatefulSetOrdinals", "StatefulSetSpec",
    "StatefulSetStatus", "StatefulSetUpdateStrategy", "WorkloadCondition",
]
