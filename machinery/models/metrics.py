"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics.

Contract: Kubernetes field names. They are never stored: the metrics add-on (addons/metrics)
computes them from the kubelets' /stats/summary, and the API server, which advertises the group
like a built-in one, proxies `/apis/metrics.k8s.io/v1beta1/...` to the ready endpoints of the
Service `kube-system/metrics-server` (apiserver/aggregator.py) that the add-on registers. `usage` holds quantities: cpu in nanocores ("12345n"), memory in
Ki ("1024Ki"), as metrics-server writes them.
"""

from __future__ import annotations

from typing import ClassVar

from machinery.meta import Resource
from machinery.models._base import ResourceList, StrictModel

METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"


class ContainerMetrics(StrictModel):
    name: str = ""
    usage: ResourceList | None = None


class NodeMetrics(Resource):
    GROUP: ClassVar[str] = METRICS_GROUP
    VERSION: ClassVar[str] = METRICS_VERSION
    KIND: ClassVar[str] = "NodeMetrics"
    PLURAL: ClassVar[str] = "nodes"
    SINGULAR: ClassVar[str] = ""
    NAMESPACED: ClassVar[bool] = False
    VERBS: ClassVar[tuple[str, ...]] = ("get", "list")

    timestamp: str | None = None
    window: str | None = None
    usage: ResourceList | None = None


class PodMetrics(Resource):
    GROUP: ClassVar[str] = METRICS_GROUP
    VERSION: ClassVar[str] = METRICS_VERSION
    KIND: ClassVar[str] = "PodMetrics"
    PLURAL: ClassVar[str] = "pods"
    SINGULAR: ClassVar[str] = ""
    VERBS: ClassVar[tuple[str, ...]] = ("get", "list")

    timestamp: str | None = None
    window: str | None = None
    containers: list[ContainerMetrics] | None = None


# The metrics kinds the API server advertises in discovery and proxies (never stored).
AGGREGATED_KINDS: list[type[Resource]] = [NodeMetrics, PodMetrics]

METRICS_SERVICE = ("kube-system", "metrics-server")

__all__ = ["AGGREGATED_KINDS", "METRICS_GROUP", "METRICS_SERVICE", "METRICS_VERSION", "ContainerMetrics", "NodeMetrics",
           "PodMetrics"]
