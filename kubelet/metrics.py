"""The kubelet's Prometheus metrics (`GET /metrics`), with prometheus-client.

Contract:
- `REGISTRY`: the kubelet's own CollectorRegistry (not the process-global one, so two
  kubelets in one test process do not collide on the histogram).
- `POD_START_DURATION`: `kubelet_pod_start_duration_seconds` histogram (Kubernetes' name and
  buckets): from the kubelet first seeing a pod that was not running yet to it Running;
  observed by the pod worker.
- `RUNTIME_OPERATIONS{operation_type}` (each Docker call, by the docker SDK method's name),
  `POD_WORKER_DURATION{operation_type=sync|terminate}`, `POD_STATUS_SYNC` (one /status write),
  `START_GATE_WAIT`: histograms of where a pod's start-up time goes.
- `render(containers, sampler, workers) -> bytes`: the exposition text of REGISTRY plus, from
  the current Docker listing and the stats sampler's latest samples: `kubelet_running_pods`,
  `kubelet_running_containers{container_state}`, `kubelet_pod_workers`,
  `kubelet_container_restarts_total{namespace,pod,container}`, and cAdvisor's
  `container_cpu_usage_seconds_total`, `container_memory_working_set_bytes`,
  `container_memory_usage_bytes`, `container_memory_rss` with labels
  {namespace, pod, container} (sandboxes as container="POD", as cAdvisor shows them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from kubelet.runtime import LABEL_CONTAINER, LABEL_NS, LABEL_POD, ContainerInfo

if TYPE_CHECKING:
    from kubelet.stats import StatsSampler

CONTENT_TYPE = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry(auto_describe=True)
# Kubernetes' buckets for kubelet_pod_start_duration_seconds (pkg/kubelet/metrics).
POD_START_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900,
                     1200, 1800, 2700, 3600)
POD_START_DURATION = Histogram("kubelet_pod_start_duration_seconds",
                               "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
                               buckets=POD_START_BUCKETS, registry=REGISTRY)
# Where a pod's start-up goes (issue 17; bench/pod_startup.py prints them): Kubernetes' names and
# the runtime operations' buckets (0.005 s x 2.5^n), plus the wait for a start slot (our own).
OPERATION_BUCKETS = tuple(0.005 * 2.5**n for n in range(14))
RUNTIME_OPERATIONS = Histogram("kubelet_runtime_operations_duration_seconds",
                               "Duration in seconds of runtime operations, by operation type",
                               ["operation_type"], buckets=OPERATION_BUCKETS, registry=REGISTRY)
POD_WORKER_DURATION = Histogram("kubelet_pod_worker_duration_seconds",
                                "Duration in seconds to sync a single pod, by operation type",
                                ["operation_type"], buckets=OPERATION_BUCKETS, registry=REGISTRY)
POD_STATUS_SYNC = Histogram("kubelet_pod_status_sync_duration_seconds",
                            "Duration in seconds of a pod status write to the API server",
                            buckets=OPERATION_BUCKETS, registry=REGISTRY)
START_GATE_WAIT = Histogram("kubelet_pod_start_gate_wait_seconds",
                            "Duration in seconds a pod waited for a start slot (--max-parallel-pod-starts)",
                            buckets=OPERATION_BUCKETS, registry=REGISTRY)


class _Snapshot(Collector):
    def __init__(self, containers: list[ContainerInfo], sampler: StatsSampler | None, workers: int) -> None:
        self.containers, self.sampler, self.workers = containers, sampler, workers

    def collect(self) -> Iterable[Metric]:
        running = [c for c in self.containers if c.running]
        pods = GaugeMetricFamily("kubelet_running_pods", "Number of pods that have a running pod sandbox")
        pods.add_metric([], sum(1 for c in running if c.labels.get(LABEL_CONTAINER) == "POD"))
        yield pods
        ctrs = GaugeMetricFamily("kubelet_running_containers", "Number of containers currently running",
                                 labels=["container_state"])
        ctrs.add_metric(["running"], sum(1 for c in running if c.labels.get(LABEL_CONTAINER) != "POD"))
        ctrs.add_metric(["exited"], sum(1 for c in self.containers if not c.running))
        yield ctrs
        workers = GaugeMetricFamily("kubelet_pod_workers", "Number of pod workers")
        workers.add_metric([], self.workers)
        yield workers
        restarts = CounterMetricFamily("kubelet_container_restarts", "Restart count per container",
                                       labels=["namespace", "pod", "container"])
        latest: dict[tuple[str, str, str], int] = {}
        for c in self.containers:
            k = (c.labels.get(LABEL_NS, ""), c.labels.get(LABEL_POD, ""), c.labels.get(LABEL_CONTAINER, ""))
            if k[2] != "POD":
                latest[k] = max(latest.get(k, 0), c.restarts)
        for key, n in sorted(latest.items()):
            restarts.add_metric(list(key), n)
        yield restarts
        yield from self._cadvisor()

    def _cadvisor(self) -> Iterable[Metric]:
        labels = ["namespace", "pod", "container"]
        cpu = CounterMetricFamily("container_cpu_usage_seconds", "Cumulative cpu time consumed in seconds",
                                  labels=labels)
        ws = GaugeMetricFamily("container_memory_working_set_bytes", "Current working set in bytes", labels=labels)
        usage = GaugeMetricFamily("container_memory_usage_bytes", "Current memory usage in bytes", labels=labels)
        rss = GaugeMetricFamily("container_memory_rss", "Size of RSS in bytes", labels=labels)
        samples = list(self.sampler.samples.values()) if self.sampler is not None else []
        for s in sorted(samples, key=lambda s: (s.namespace, s.pod, s.name)):
            values = [s.namespace, s.pod, s.name]
            cpu.add_metric(values, s.usage.cpu_ns / 1e9)
            ws.add_metric(values, s.usage.working_set_bytes)
            usage.add_metric(values, s.usage.memory_bytes)
            rss.add_metric(values, s.usage.rss_bytes)
        yield from (cpu, ws, usage, rss)


def render(containers: list[ContainerInfo], sampler: StatsSampler | None, *, workers: int) -> bytes:
    snap = CollectorRegistry(auto_describe=False)
    snap.register(_Snapshot(containers, sampler, workers))
    return generate_latest(REGISTRY) + generate_latest(snap)
