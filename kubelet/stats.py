"""The kubelet's one resource sampler and its Summary API document (`GET /stats/summary`).

Contract:
- `StatsSampler(runtime, cluster=, node=, log_dir=, interval_s=10.0, cgroups=None, clock=)`:
  ONE sampler per node. Every `interval_s` it lists this node's running containers (one Docker
  list) and reads each container's cgroup counters (kubelet/cgroups.py; plain file reads). Only
  when a container's cgroup cannot be found does it ask Docker for a one-shot stats sample
  (`runtime.stats`), never a stream. `usageNanoCores` is the CPU-time delta between two
  samples divided by the wall-time delta, so the first sample of a container reports no
  nanocores (Kubernetes omits it too).
- `sampler.summary() -> dict`: Kubernetes' Summary API shape (stats/v1alpha1): `node`
  {nodeName, startTime, cpu, memory, network, fs} and `pods` [{podRef {name, namespace,
  uid}, startTime, containers [{name, startTime, cpu {time, usageNanoCores,
  usageCoreNanoSeconds}, memory {time, usageBytes, workingSetBytes, rssBytes}, logs
  {usedBytes}}], cpu, memory (sums of the containers), network {time, rxBytes, txBytes} (the
  pod sandbox's network namespace), ephemeral-storage {usedBytes}}]. Sandboxes are not listed
  as containers.
- `sampler.samples` (container key (uid, name) -> latest `ContainerSample`) is what the
  kubelet's /metrics exports (container_cpu_usage_seconds_total,
  container_memory_working_set_bytes).
- `await sampler.run()` samples until cancelled; `await sampler.sample()` takes one sample.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kubelet import cgroups, logs
from kubelet.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_NODE,
    LABEL_NS,
    LABEL_POD,
    LABEL_UID,
    ContainerInfo,
)
from machinery.clock import format_time

log = logging.getLogger("kubelet.stats")
SANDBOX = "POD"


class StatsRuntime(Protocol):
    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]: ...
    async def stats(self, cid: str) -> dict[str, Any]: ...


@dataclass
class ContainerSample:
    namespace: str
    pod: str
    uid: str
    name: str
    cid: str
    started_at: str | None
    at_s: float  # wall clock of the sample
    usage: cgroups.Usage
    nano_cores: int | None  # None until two samples exist
    rx_bytes: int = 0  # sandboxes only
    tx_bytes: int = 0
    log_bytes: int = 0


def usage_from_docker(st: dict[str, Any]) -> cgroups.Usage:
    """A Docker stats sample -> Usage (the fallback when no cgroup file is readable)."""
    cpu = ((st.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage", 0)
    mem = st.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    stat = mem.get("stats") or {}
    inactive = int(stat.get("inactive_file", stat.get("total_inactive_file", 0)) or 0)
    rss = int(stat.get("anon", stat.get("total_rss", stat.get("rss", 0))) or 0)
    return cgroups.Usage(cpu_ns=int(cpu), memory_bytes=usage, working_set_bytes=max(0, usage - inactive), rss_bytes=rss)


def _dir_bytes(path: Path) -> int:
    total = 0
    try:
        for p in path.rglob("*"):
            try:
                if p.is_file():
                    total += p.stat().st_size
            except OSError:
                continue
    except OSError:
        return 0
    return total


def _ts(at_s: float) -> str:
    return format_time(datetime.fromtimestamp(at_s, UTC))


class StatsSampler:
    def __init__(self, runtime: StatsRuntime, *, cluster: str, node: str, log_dir: str = "/var/log/pods",
                 interval_s: float = 10.0, cgroup_fs: cgroups.CgroupFS | None = None, proc: str = "/proc",
                 wall: Any = time.time) -> None:
        self.runtime = runtime
        self.cluster, self.node, self.log_dir = cluster, node, log_dir
        self.interval_s = interval_s
        self.cgroups = cgroup_fs or cgroups.CgroupFS(proc=proc)
        self.proc = proc
        self.wall = wall
        self.started_s = wall()
        self.samples: dict[tuple[str, str], ContainerSample] = {}
        self.node_sample: tuple[float, cgroups.Usage, int | None, tuple[int, int]] | None = None
        self.docker_fallbacks = 0
        self._lock = asyncio.Lock()

    async def _usage(self, c: ContainerInfo) -> cgroups.Usage | None:
        found = self.cgroups.container(c.id, c.pid)
        if found is not None:
            return found
        try:
            self.docker_fallbacks += 1
            return usage_from_docker(await self.runtime.stats(c.id))
        except Exception as exc:  # noqa: BLE001 - a container that just went away: skip it this round
            log.debug("stats of %s: %s", c.id[:12], exc)
            return None

    def _node(self, now_s: float) -> None:
        usage = cgroups.node_usage(self.proc)
        net = cgroups.net_dev(0, self.proc)
        prev = self.node_sample
        cores = None
        if prev is not None and now_s > prev[0]:
            cores = max(0, int((usage.cpu_ns - prev[1].cpu_ns) / (now_s - prev[0])))
        self.node_sample = (now_s, usage, cores, net)

    async def sample(self) -> None:
        async with self._lock:
            running = [c for c in await self.runtime.list_containers({LABEL_CLUSTER: self.cluster, LABEL_NODE: self.node})
                       if c.running]
            now_s = self.wall()
            usages = await asyncio.gather(*(self._usage(c) for c in running))
            fresh: dict[tuple[str, str], ContainerSample] = {}
            for c, usage in zip(running, usages, strict=True):
                if usage is None:
                    continue
                uid, name = c.labels.get(LABEL_UID, ""), c.labels.get(LABEL_CONTAINER, "")
                prev = self.samples.get((uid, name))
                cores = None
                if prev is not None and prev.cid == c.id and now_s > prev.at_s and usage.cpu_ns >= prev.usage.cpu_ns:
                    cores = int((usage.cpu_ns - prev.usage.cpu_ns) / (now_s - prev.at_s))
                s = ContainerSample(namespace=c.labels.get(LABEL_NS, ""), pod=c.labels.get(LABEL_POD, ""), uid=uid,
                                    name=name, cid=c.id, started_at=c.started_at, at_s=now_s, usage=usage,
                                    nano_cores=cores)
                if name == SANDBOX and c.pid:
                    s.rx_bytes, s.tx_bytes = cgroups.net_dev(c.pid, self.proc)
                elif name != SANDBOX:
                    s.log_bytes = await asyncio.to_thread(
                        _dir_bytes, logs.pod_log_dir(self.log_dir, s.namespace, s.pod, uid) / name)
                fresh[(uid, name)] = s
            self.samples = fresh
            self.cgroups.forget({c.id for c in running})
            self._node(now_s)

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:
                log.exception("stats sample failed; next one in %.0fs", self.interval_s)
            await asyncio.sleep(self.interval_s)

    async def summary(self) -> dict[str, Any]:
        if self.node_sample is None:
            await self.sample()
        return build_summary(self.node, self.started_s, self.node_sample, list(self.samples.values()))


def _cpu(at: str, cores: int | None, total_ns: int) -> dict[str, Any]:
    out: dict[str, Any] = {"time": at, "usageCoreNanoSeconds": total_ns}
    if cores is not None:
        out["usageNanoCores"] = cores
    return out


def _memory(at: str, u: cgroups.Usage) -> dict[str, Any]:
    return {"time": at, "usageBytes": u.memory_bytes, "workingSetBytes": u.working_set_bytes, "rssBytes": u.rss_bytes}


def build_summary(node: str, started_s: float,
                  node_sample: tuple[float, cgroups.Usage, int | None, tuple[int, int]] | None,
                  samples: list[ContainerSample]) -> dict[str, Any]:
    """The Summary API document from the latest samples (pure: unit-tested)."""
    node_doc: dict[str, Any] = {"nodeName": node, "startTime": _ts(started_s)}
    if node_sample is not None:
        at_s, usage, cores, (rx, tx) = node_sample
        at = _ts(at_s)
        node_doc.update(cpu=_cpu(at, cores, usage.cpu_ns), memory=_memory(at, usage),
                        network={"time": at, "rxBytes": rx, "txBytes": tx})
    pods: dict[str, dict[str, Any]] = {}
    for s in sorted(samples, key=lambda s: (s.namespace, s.pod, s.name)):
        at = _ts(s.at_s)
        pod = pods.setdefault(s.uid, {"podRef": {"name": s.pod, "namespace": s.namespace, "uid": s.uid},
                                      "startTime": s.started_at, "containers": [],
                                      "_cores": 0, "_any_cores": False, "_ns": 0, "_mem": [0, 0, 0], "_logs": 0})
        if s.name == SANDBOX:
            pod["startTime"] = s.started_at
            pod["network"] = {"time": at, "rxBytes": s.rx_bytes, "txBytes": s.tx_bytes}
            continue
        pod["containers"].append({"name": s.name, "startTime": s.started_at,
                                  "cpu": _cpu(at, s.nano_cores, s.usage.cpu_ns), "memory": _memory(at, s.usage),
                                  "logs": {"time": at, "usedBytes": s.log_bytes}})
        pod["_time"] = at
        pod["_ns"] += s.usage.cpu_ns
        if s.nano_cores is not None:
            pod["_cores"] += s.nano_cores
            pod["_any_cores"] = True
        mem = pod["_mem"]
        mem[0] += s.usage.memory_bytes
        mem[1] += s.usage.working_set_bytes
        mem[2] += s.usage.rss_bytes
        pod["_logs"] += s.log_bytes
    out = []
    for pod in pods.values():
        at = pod.pop("_time", None)
        cores = pod.pop("_cores") if pod.pop("_any_cores") else None
        total_ns, mem, log_bytes = pod.pop("_ns"), pod.pop("_mem"), pod.pop("_logs")
        if not pod["containers"]:
            continue
        pod["cpu"] = _cpu(at, cores, total_ns)
        pod["memory"] = {"time": at, "usageBytes": mem[0], "workingSetBytes": mem[1], "rssBytes": mem[2]}
        pod["ephemeral-storage"] = {"time": at, "usedBytes": log_bytes}
        out.append(pod)
    return {"node": node_doc, "pods": out}
