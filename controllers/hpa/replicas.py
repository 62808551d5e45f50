"""The HPA replica calculation for resource metrics (Kubernetes' replica_calculator.go), pure.

Contract:
- `PodInfo(name, phase, ready, ready_transition_s, start_s, deleted, requests)`: what the
  calculation needs of a pod; `requests` maps container name -> request of the resource (None:
  the container has none).
- `resource_replicas(current, target_utilization, pods, usage, *, container=None, now_s,
  tolerance=0.1, cpu=True, metric_window_s=0.0, metric_at_s=None,
  cpu_initialization_period_s=300, initial_readiness_delay_s=30) -> Recommendation`:
  utilization of the summed usage against the summed requests of the pods with metrics; pods
  that are being deleted or Failed are ignored, Pending (and, for CPU, not-yet-ready) pods are
  "unready", pods without a metric are "missing". Within `tolerance` of the target the current
  count stays. With missing pods, a scale down assumes they use 100% of their request and a
  scale up assumes 0; unready pods count as 0 when scaling up; if that flips the direction or
  lands within tolerance, the current count stays. `usage` is per pod: {container: value}.
- `raw_replicas(current, target_average, pods, usage, ...)` (AverageValue targets): the same with
  the average usage per pod against a plain value.
- Errors that make the HPA's ScalingActive False raise `MetricsError(reason, message)`.
Units are the caller's (millicores for CPU, bytes for memory) as long as usage and requests
agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class MetricsError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class PodInfo:
    name: str
    phase: str = "Running"
    ready: bool = True
    ready_transition_s: float | None = None
    start_s: float | None = None
    deleted: bool = False
    requests: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Recommendation:
    replicas: int
    utilization: int | None  # percent of request (Utilization targets)
    average: float  # average usage per pod with metrics


def _group(pods: list[PodInfo], usage: dict[str, dict[str, float]], *, cpu: bool, now_s: float,
           metric_at_s: float | None, metric_window_s: float, cpu_init_s: float,
           readiness_delay_s: float) -> tuple[int, set[str], set[str], set[str]]:
    ready_count, unready, missing, ignored = 0, set(), set(), set()
    for p in pods:
        if p.deleted or p.phase == "Failed":
            ignored.add(p.name)
            continue
        if p.phase == "Pending":
            unready.add(p.name)
            continue
        if p.name not in usage:
            missing.add(p.name)
            continue
        is_unready = False
        if cpu:
            if p.ready_transition_s is None or p.start_s is None:
                is_unready = not p.ready
            elif p.start_s + cpu_init_s > now_s:
                sampled = metric_at_s if metric_at_s is not None else now_s
                is_unready = not p.ready or sampled < p.ready_transition_s + metric_window_s
            else:
                is_unready = not p.ready and p.start_s + readiness_delay_s > p.ready_transition_s
        if is_unready:
            unready.add(p.name)
        else:
            ready_count += 1
    return ready_count, unready, missing, ignored


def _requests(pods: list[PodInfo], container: str | None, resource: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in pods:
        total = 0.0
        for cname, req in p.requests.items():
            if container is not None and cname != container:
                continue
            if req is None:
                raise MetricsError("FailedGetResourceMetric",
                                   f"missing request for {resource} in container {cname} of Pod {p.name}")
            total += req
        out[p.name] = total
    return out


def _utilization(metrics: dict[str, float], requests: dict[str, float], target: int) -> tuple[float, int, float]:
    used = sum(v for k, v in metrics.items() if k in requests)
    req = sum(requests[k] for k in metrics if k in requests)
    if req == 0:
        raise MetricsError("FailedGetResourceMetric", "no metrics returned matched known pods")
    utilization = int(used * 100 / req)
    return utilization / target, utilization, used / max(1, len(metrics))


def _summed(usage: dict[str, dict[str, float]], container: str | None) -> dict[str, float]:
    return {pod: sum(v for c, v in ctrs.items() if container is None or c == container)
            for pod, ctrs in usage.items()}


def resource_replicas(current: int, target_utilization: int, pods: list[PodInfo], usage: dict[str, dict[str, float]],
                      *, resource: str = "cpu", container: str | None = None, now_s: float, tolerance: float = 0.1,
                      metric_at_s: float | None = None, metric_window_s: float = 0.0,
                      cpu_initialization_period_s: float = 300.0,
                      initial_readiness_delay_s: float = 30.0) -> Recommendation:
    if not pods:
        raise MetricsError("FailedGetResourceMetric", "no pods returned by selector while calculating replica count")
    metrics = _summed({k: v for k, v in usage.items() if any(p.name == k for p in pods)}, container)
    ready_count, unready, missing, ignored = _group(
        pods, usage, cpu=resource == "cpu", now_s=now_s, metric_at_s=metric_at_s, metric_window_s=metric_window_s,
        cpu_init_s=cpu_initialization_period_s, readiness_delay_s=initial_readiness_delay_s)
    for name in ignored | unready:
        metrics.pop(name, None)
    if not metrics:
        raise MetricsError("FailedGetResourceMetric",
                           "did not receive metrics for targeted pods (pods might be unready)")
    requests = _requests(pods, container, resource)
    ratio, utilization, average = _utilization(metrics, requests, target_utilization)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Recommendation(current, utilization, average)
        return Recommendation(math.ceil(ratio * ready_count), utilization, average)
    if missing:
        for name in missing:
            metrics[name] = requests.get(name, 0.0) if ratio < 1.0 else 0.0
    if scale_up_with_unready:
        for name in unready:
            metrics[name] = 0.0
    new_ratio, _, _ = _utilization(metrics, requests, target_utilization)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Recommendation(current, utilization, average)
    new_replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return Recommendation(current, utilization, average)
    return Recommendation(new_replicas, utilization, average)


def raw_replicas(current: int, target_average: float, pods: list[PodInfo], usage: dict[str, dict[str, float]], *,
                 resource: str = "memory", container: str | None = None, now_s: float,
                 tolerance: float = 0.1) -> Recommendation:
    """AverageValue targets: total usage / target per pod (Kubernetes' GetRawResourceReplicas)."""
    if not pods:
        raise MetricsError("FailedGetResourceMetric", "no pods returned by selector while calculating replica count")
    if target_average <= 0:
        raise MetricsError("FailedGetResourceMetric", "the target average value must be positive")
    metrics = _summed({k: v for k, v in usage.items() if any(p.name == k for p in pods)}, container)
    ready_count, unready, missing, ignored = _group(pods, usage, cpu=False, now_s=now_s, metric_at_s=None,
                                                    metric_window_s=0.0, cpu_init_s=0.0, readiness_delay_s=0.0)
    for name in ignored | unready:
        metrics.pop(name, None)
    if not metrics:
        raise MetricsError("FailedGetResourceMetric", "did not receive metrics for targeted pods (pods might be unready)")
    average = sum(metrics.values()) / len(metrics)
    ratio = sum(metrics.values()) / (target_average * ready_count) if ready_count else 0.0
    if not missing and not unready:
        if abs(1.0 - ratio) <= tolerance:
            return Recommendation(current, None, average)
        return Recommendation(math.ceil(ratio * ready_count), None, average)
    for name in missing:
        metrics[name] = target_average if ratio < 1.0 else 0.0
    if ratio > 1.0:
        for name in unready:
            metrics[name] = 0.0
    new_ratio = sum(metrics.values()) / (target_average * len(metrics))
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Recommendation(current, None, average)
    new_replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return Recommendation(current, None, average)
    return Recommendation(new_replicas, None, average)
