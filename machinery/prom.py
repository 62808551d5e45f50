"""Prometheus plumbing every component shares (prometheus-client, the process-global registry).

Contract:
- Metrics are module-level objects of the component that owns them (apiserver/metrics.py,
  scheduler/metrics.py, proxy/metrics.py, kubelet/metrics.py); the work queue's, which every
  controller uses, are here: `WORKQUEUE_DEPTH`, `WORKQUEUE_ADDS`, `WORKQUEUE_RETRIES`,
  `WORKQUEUE_QUEUE_DURATION`, `WORKQUEUE_WORK_DURATION` with the label `name` (client-go's
  workqueue metrics, same names and buckets). Updating one is a dict lookup plus an add: cheap
  enough for every key.
- `serve(address)`: `HOST:PORT` (or `:PORT` = 127.0.0.1) -> a `/metrics` HTTP server in a
  daemon thread (prometheus-client's own); "" or port 0 serves nothing. Returns the port.
- `exposition() -> (bytes, content_type)` of the global registry, for components that serve
  /metrics from their own HTTP server (the API server).
- `FastCounter` / `FastHistogram`: for the hottest paths of one event-loop thread (the API
  server's every request): `inc(labels)` / `observe(labels, value)` are a dict update and a
  bisect, no lock (prometheus-client's take one per call); they are turned into metric families
  only when scraped. Use them only from one thread.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

# client-go's workqueue buckets: 1 ns * 10^i, i = 0..9 (ExponentialBuckets(10e-9, 10, 10)).
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
WORKQUEUE_ADDS = Counter("workqueue_adds", "Total number of adds handled by workqueue", ["name"])
WORKQUEUE_RETRIES = Counter("workqueue_retries", "Total number of retries handled by workqueue", ["name"])
WORKQUEUE_QUEUE_DURATION = Histogram("workqueue_queue_duration_seconds",
                                     "How long in seconds an item stays in workqueue before being requested",
                                     ["name"], buckets=_QUEUE_BUCKETS)
WORKQUEUE_WORK_DURATION = Histogram("workqueue_work_duration_seconds",
                                    "How long in seconds processing an item from workqueue takes",
                                    ["name"], buckets=_QUEUE_BUCKETS)


class FastCounter(Collector):
    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.values: dict[tuple[str, ...], float] = {}
        REGISTRY.register(self)

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[key] = self.values.get(key, 0.0) + amount

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric(list(key), value)
        yield family


class FastHistogram(Collector):
    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.bounds = sorted(float(b) for b in buckets)
        self.data: dict[tuple[str, ...], list[float]] = {}  # per-bucket counts (+Inf last), then the sum
        REGISTRY.register(self)

    def observe(self, key: tuple[str, ...], value: float) -> None:
        d = self.data.get(key)
        if d is None:
            d = self.data[key] = [0.0] * (len(self.bounds) + 2)
        d[bisect.bisect_left(self.bounds, value)] += 1
        d[-1] += value

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        edges = [*(repr(b) for b in self.bounds), "+Inf"]
        for key, d in list(self.data.items()):
            running, buckets = 0.0, []
            for edge, n in zip(edges, d[:-1], strict=True):
                running += n
                buckets.append((edge, running))
            family.add_metric(list(key), buckets, d[-1])
        yield family


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host or "127.0.0.1", int(port)


def serve(address: str) -> int:
    """Serve the global registry's /metrics on `address` in a daemon thread; 0 when off."""
    if not address:
        return 0
    host, port = parse_address(address)
    if port == 0:
        return 0
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
