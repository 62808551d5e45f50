"""What the metrics add-on knows: the latest NodeMetrics/PodMetrics and a short history.

Contract:
- `MetricsStore(history_s=900.0)`; `store.update_node(name, labels, summary_node, at_s)` and
  `store.update_pod(ns, name, labels, summary_pod, at_s)` take the kubelet's Summary API
  entries (kubelet/stats.py). CPU is the rate of `usageCoreNanoSeconds` between this scrape
  and the previous one of the same object (metrics-server's way; `window` = that interval),
  else the kubelet's own `usageNanoCores` (window: the kubelet's sampling interval, unknown
  here: reported as 0s) for the first scrape. Memory is `workingSetBytes`. An object without a
  CPU figure yet is not reported (metrics-server skips it too).
- `store.node_metrics(name) -> dict | None`, `store.pod_metrics(ns, name) -> dict | None`,
  `store.nodes() / store.pods(ns=None)` -> (labels, metrics dict) pairs; the dicts are
  metrics.k8s.io/v1beta1 objects (cpu "Nn" nanocores, memory "NKi").
- `store.history_of(kind, ns, name)` -> points `{timestamp, cpuNanoCores, memoryBytes}` of the
  last `history_s` seconds, oldest first (what the dashboard charts).
- `store.retain(nodes, pods)` forgets objects that no longer exist.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from machinery.clock import format_time
from machinery.models.metrics import METRICS_GROUP, METRICS_VERSION

API_VERSION = f"{METRICS_GROUP}/{METRICS_VERSION}"


def cpu_quantity(nano_cores: int) -> str:
    return f"{max(0, int(nano_cores))}n"


def memory_quantity(bytes_: int) -> str:
    return f"{max(0, int(bytes_)) // 1024}Ki"


def _ts(at_s: float) -> str:
    return format_time(datetime.fromtimestamp(at_s, UTC))


@dataclass
class _Usage:
    cpu_ns_total: int | None = None  # cumulative, for the rate
    at_s: float = 0.0


@dataclass
class _Entry:
    labels: dict[str, str]
    metrics: dict[str, Any] | None = None
    last: dict[str, _Usage] = field(default_factory=dict)  # per container ("" = the node)
    history: deque[dict[str, Any]] = field(default_factory=deque)


def _rate(prev: _Usage | None, cpu: dict[str, Any], at_s: float) -> tuple[int | None, float]:
    """(nanocores, window_s) for one container or node, from its Summary `cpu` entry."""
    total = cpu.get("usageCoreNanoSeconds")
    if prev is not None and prev.cpu_ns_total is not None and total is not None and at_s > prev.at_s \
            and total >= prev.cpu_ns_total:
        return int((total - prev.cpu_ns_total) / (at_s - prev.at_s)), at_s - prev.at_s
    cores = cpu.get("usageNanoCores")
    return (int(cores), 0.0) if cores is not None else (None, 0.0)


class MetricsStore:
    def __init__(self, history_s: float = 900.0) -> None:
        self.history_s = history_s
        self._nodes: dict[str, _Entry] = {}
        self._pods: dict[tuple[str, str], _Entry] = {}

    def _remember(self, entry: _Entry, at_s: float, cpu: int, memory: int) -> None:
        entry.history.append({"timestamp": _ts(at_s), "cpuNanoCores": cpu, "memoryBytes": memory, "_at": at_s})
        while entry.history and entry.history[0]["_at"] < at_s - self.history_s:
            entry.history.popleft()

    def update_node(self, name: str, labels: dict[str, str], node: dict[str, Any], at_s: float) -> None:
        entry = self._nodes.setdefault(name, _Entry(labels))
        entry.labels = labels
        cpu_doc, mem_doc = node.get("cpu") or {}, node.get("memory") or {}
        cores, window_s = _rate(entry.last.get(""), cpu_doc, at_s)
        entry.last[""] = _Usage(cpu_doc.get("usageCoreNanoSeconds"), at_s)
        if cores is None or "workingSetBytes" not in mem_doc:
            return
        memory = int(mem_doc["workingSetBytes"])
        entry.metrics = {"kind": "NodeMetrics", "apiVersion": API_VERSION,
                         "metadata": {"name": name, "creationTimestamp": _ts(at_s), "labels": labels},
                         "timestamp": cpu_doc.get("time") or _ts(at_s), "window": f"{window_s:.0f}s",
                         "usage": {"cpu": cpu_quantity(cores), "memory": memory_quantity(memory)}}
        self._remember(entry, at_s, cores, memory)

    def update_pod(self, ns: str, name: str, labels: dict[str, str], pod: dict[str, Any], at_s: float) -> None:
        entry = self._pods.setdefault((ns, name), _Entry(labels))
        entry.labels = labels
        containers, total_cpu, total_mem, windows = [], 0, 0, []
        complete = True
        for c in pod.get("containers") or []:
            cname = str(c.get("name") or "")
            cpu_doc, mem_doc = c.get("cpu") or {}, c.get("memory") or {}
            cores, window_s = _rate(entry.last.get(cname), cpu_doc, at_s)
            entry.last[cname] = _Usage(cpu_doc.get("usageCoreNanoSeconds"), at_s)
            if cores is None or "workingSetBytes" not in mem_doc:
                complete = False
                continue
            memory = int(mem_doc["workingSetBytes"])
            total_cpu, total_mem = total_cpu + cores, total_mem + memory
            windows.append(window_s)
            containers.append({"name": cname, "usage": {"cpu": cpu_quantity(cores), "memory": memory_quantity(memory)}})
        if not complete or not containers:
            return
        entry.metrics = {"kind": "PodMetrics", "apiVersion": API_VERSION,
                         "metadata": {"name": name, "namespace": ns, "creationTimestamp": _ts(at_s), "labels": labels},
                         "timestamp": _ts(at_s), "window": f"{max(windows):.0f}s",
                         "containers": sorted(containers, key=lambda c: c["name"])}
        self._remember(entry, at_s, total_cpu, total_mem)

    def node_metrics(self, name: str) -> dict[str, Any] | None:
        entry = self._nodes.get(name)
        return entry.metrics if entry is not None else None

    def pod_metrics(self, ns: str, name: str) -> dict[str, Any] | None:
        entry = self._pods.get((ns, name))
        return entry.metrics if entry is not None else None

    def nodes(self) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(e.labels, e.metrics) for _, e in sorted(self._nodes.items()) if e.metrics is not None]

    def pods(self, ns: str | None = None) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(e.labels, e.metrics) for (pns, _), e in sorted(self._pods.items())
                if e.metrics is not None and (ns is None or pns == ns)]

    def history_of(self, kind: str, ns: str | None, name: str) -> list[dict[str, Any]] | None:
        entry = self._nodes.get(name) if kind == "node" else self._pods.get((ns or "", name))
        if entry is None:
            return None
        return [{k: v for k, v in p.items() if k != "_at"} for p in entry.history]

    def retain(self, nodes: set[str], pods: set[tuple[str, str]]) -> None:
        for n in [n for n in self._nodes if n not in nodes]:
            del self._nodes[n]
        for p in [p for p in self._pods if p not in pods]:
            del self._pods[p]
