"""autoscaling/v2 and autoscaling/v1 HorizontalPodAutoscaler.

Contract: Kubernetes field names. v2 is the stored version (as in Kubernetes); the API server
serves v1 too, converting with `machinery.hpaconvert` (v2-only fields ride in v1 annotations,
as Kubernetes' conversion does). The HPA controller (controllers/hpa.py) writes the status.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import Quantity, StrictModel

# Kubernetes' GenerateHPAScaleUpRules/GenerateHPAScaleDownRules defaults (a given behavior is
# completed with these; scaleDown's stabilization window stays unset: the controller's flag).
HPA_SCALE_UP: dict[str, Any] = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                             {"type": "Percent", "value": 100, "periodSeconds": 15}]}
HPA_SCALE_DOWN: dict[str, Any] = {"selectPolicy": "Max",
                                  "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


class CrossVersionObjectReference(StrictModel):
    kind: str = ""
    name: str = ""
    apiVersion: str | None = None


class MetricTarget(StrictModel):
    type: str = ""  # Utilization | Value | AverageValue
    value: Quantity | None = None
    averageValue: Quantity | None = None
    averageUtilization: int | None = None


class MetricValueStatus(StrictModel):
    value: Quantity | None = None
    averageValue: Quantity | None = None
    averageUtilization: int | None = None


class ResourceMetricSource(StrictModel):
    name: str = ""
    target: MetricTarget | None = None


class ContainerResourceMetricSource(StrictModel):
    name: str = ""
    container: str = ""
    target: MetricTarget | None = None


class ResourceMetricStatus(StrictModel):
    name: str = ""
    current: MetricValueStatus | None = None


class ContainerResourceMetricStatus(StrictModel):
    name: str = ""
    container: str = ""
    current: MetricValueStatus | None = None


class MetricSpec(StrictModel):
    type: str = ""  # Resource | ContainerResource (Pods/Object/External need a custom metrics API)
    resource: ResourceMetricSource | None = None
    containerResource: ContainerResourceMetricSource | None = None


class MetricStatus(StrictModel):
    type: str = ""
    resource: ResourceMetricStatus | None = None
    containerResource: ContainerResourceMetricStatus | None = None


class HPAScalingPolicy(StrictModel):
    type: str = ""  # Pods | Percent
    value: int = 0
    periodSeconds: int = 0


class HPAScalingRules(StrictModel):
    stabilizationWindowSeconds: int | None = None
    selectPolicy: str | None = None  # Max | Min | Disabled
    policies: list[HPAScalingPolicy] | None = None
    tolerance: Quantity | None = None


class HorizontalPodAutoscalerBehavior(StrictModel):
    scaleUp: HPAScalingRules | None = None
    scaleDown: HPAScalingRules | None = None


class HorizontalPodAutoscalerSpec(StrictModel):
    scaleTargetRef: CrossVersionObjectReference | None = None
    minReplicas: int | None = None
    maxReplicas: int = 0
    metrics: list[MetricSpec] | None = None
    behavior: HorizontalPodAutoscalerBehavior | None = None


class HorizontalPodAutoscalerCondition(StrictModel):
    type: str = ""
    status: str = ""
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class HorizontalPodAutoscalerStatus(StrictModel):
    observedGeneration: int | None = None
    lastScaleTime: str | None = None
    currentReplicas: int = 0
    desiredReplicas: int = 0
    currentMetrics: list[MetricStatus] | None = None
    conditions: list[HorizontalPodAutoscalerCondition] | None = None


class HorizontalPodAutoscaler(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "autoscaling"
    VERSION: ClassVar[str] = "v2"
    KIND: ClassVar[str] = "HorizontalPodAutoscaler"
    PLURAL: ClassVar[str] = "horizontalpodautoscalers"
    SINGULAR: ClassVar[str] = "horizontalpodautoscaler"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("hpa",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: HorizontalPodAutoscalerSpec | None = None
    status: HorizontalPodAutoscalerStatus | None = None


class HorizontalPodAutoscalerSpecV1(StrictModel):
    scaleTargetRef: CrossVersionObjectReference | None = None
    minReplicas: int | None = None
    maxReplicas: int = 0
    targetCPUUtilizationPercentage: int | None = None


class HorizontalPodAutoscalerStatusV1(StrictModel):
    observedGeneration: int | None = None
    lastScaleTime: str | None = None
    currentReplicas: int = 0
    desiredReplicas: int = 0
    currentCPUUtilizationPercentage: int | None = None


class HorizontalPodAutoscalerV1(Resource):
    """autoscaling/v1: served by converting to and from the stored v2 object."""

    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "autoscaling"
    VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "HorizontalPodAutoscaler"
    PLURAL: ClassVar[str] = "horizontalpodautoscalers"
    SINGULAR: ClassVar[str] = "horizontalpodautoscaler"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("hpa",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)
    VERBS: ClassVar[tuple[str, ...]] = ("create", "delete", "get", "list", "update")  # no watch/patch (apiserver/hpa_v1.py)

    spec: HorizontalPodAutoscalerSpecV1 | None = None
    status: HorizontalPodAutoscalerStatusV1 | None = None


__all__ = [
    "HPA_SCALE_DOWN", "HPA_SCALE_UP", "ContainerResourceMetricSource", "ContainerResourceMetricStatus", "CrossVersionObjectReference",
    "HPAScalingPolicy", "HPAScalingRules", "HorizontalPodAutoscaler", "HorizontalPodAutoscalerBehavior",
    "HorizontalPodAutoscalerCondition", "HorizontalPodAutoscalerSpec", "HorizontalPodAutoscalerSpecV1",
    "HorizontalPodAutoscalerStatus", "HorizontalPodAutoscalerStatusV1", "HorizontalPodAutoscalerV1", "MetricSpec",
    "MetricStatus", "MetricTarget", "MetricValueStatus", "ResourceMetricSource", "ResourceMetricStatus",
]
