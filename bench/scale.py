"""Benchmark: a cluster of hollow nodes at scale, beside Kubernetes' SLOs and its own idle state.

It starts a fresh etcd + API server + scheduler + controller-manager (free ports, temp dirs),
hollow nodes in `--procs` processes (kubelet/hollow.py; each renews its nodes' Leases every
10 s), then Deployments of 100 replicas until `--pods` pods run. Throughout, a probe client
times one call of each kind every `--probe-every-s` (POST/GET/PATCH/DELETE configmaps, GET
node, LIST nodes, LIST pods of one namespace, LIST all pods paginated 500 a page), as the
perf-tests' API responsiveness measurement does from its own client; the same probes on the
empty cluster first are the same-run baseline. A watch on pods records, per pod, when it
was first seen, bound and Running: pod startup = Running - first seen (hollow nodes "run" a
pod `--run-delay-s` after seeing it bound; no image pull, as the SLO excludes pulls),
scheduler throughput = pods bound / time from first to last binding.
Reported: latency p50/p99 per verb and resource (idle, loaded, ratio) beside the SLOs
(mutating p99 <= 1 s, non-list reads p99 <= 1 s, list p99 <= 30 s), pod startup p50/p99
(SLO p99 <= 5 s), scheduler throughput, API server RSS (idle and loaded: the growth is
mostly the watch caches, which hold every object), etcd database size, CPU seconds per
process.

    .venv/bin/python bench/scale.py --nodes 500 --pods 3000        # a few minutes
    .venv/bin/python bench/scale.py --nodes 2000 --pods 5000 --procs 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machinery import errors  # noqa: E402
from machinery.client import ApiClient  # noqa: E402
from machinery.models import Pod  # noqa: E402
from tests.support import (  # noqa: E402
    EtcdProcess,
    apiserver_process,
    spawn_python,
    stop_process_group,
    write_test_kubeconfig,
)

REPLICAS_PER_DEPLOYMENT = 100
SLO_MUTATING_P99_S = 1.0
SLO_READ_P99_S = 1.0
SLO_LIST_P99_S = 30.0
SLO_STARTUP_P99_S = 5.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def etcd_db_mib(url: str) -> float:
    out = subprocess.run(["etcdctl", f"--endpoints={url}", "endpoint", "status", "-w", "json"],
                         capture_output=True, text=True, timeout=30)
    try:
        return float(json.loads(out.stdout)[0]["Status"]["dbSize"]) / (1 << 20)
    except (ValueError, KeyError, IndexError):
        return float("nan")


@dataclass
class Probe:
    """Times one call of each kind per round; `samples[(verb, resource)]` in seconds."""

    client: ApiClient
    ns: str
    node: str
    samples: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    n: int = 0

    async def timed(self, verb: str, resource: str, call: Callable[[], Awaitable[Any]]) -> None:
        t0 = time.perf_counter()
        with contextlib.suppress(errors.ApiError):
            await call()
            self.samples[(verb, resource)].append(time.perf_counter() - t0)

    async def round(self) -> None:
        c, ns = self.client, self.ns
        self.n += 1
        name = f"probe-{self.n}"
        base = f"/api/v1/namespaces/{ns}/configmaps"
        await self.timed("POST", "configmaps", lambda: c.request("POST", base, json={"metadata": {"name": name}}))
        await self.timed("GET", "configmaps", lambda: c.request("GET", f"{base}/{name}"))
        await self.timed("PATCH", "configmaps", lambda: c.request(
            "PATCH", f"{base}/{name}", json={"data": {"k": "v"}},
            headers={"Content-Type": "application/merge-patch+json"}))
        await self.timed("DELETE", "configmaps", lambda: c.request("DELETE", f"{base}/{name}"))
        await self.timed("GET", "nodes", lambda: c.request("GET", f"/api/v1/nodes/{self.node}"))
        await self.timed("LIST", "nodes", lambda: c.request("GET", "/api/v1/nodes"))
        await self.timed("LIST", "pods (namespace)", lambda: c.request("GET", f"/api/v1/namespaces/{ns}/pods"))
        await self.timed("LIST", "pods (all, 500/page)", lambda: list_all_pods(c))

    async def run(self, every_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)


async def list_all_pods(c: ApiClient) -> int:
    token, count = "", 0
    while True:
        params = {"limit": "500", **({"continue": token} if token else {})}
        page = await c.request("GET", "/api/v1/pods", params=params)
        count += len(page["items"])
        token = page["metadata"].get("continue") or ""
        if not token:
            return count


@dataclass
class PodTimes:
    seen: dict[str, float] = field(default_factory=dict)
    bound: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)


async def watch_pods(c: ApiClient, ns: str, times: PodTimes, stop: asyncio.Event) -> None:
    rv = (await c.request("GET", f"/api/v1/namespaces/{ns}/pods", params={"limit": "1"}))["metadata"]["resourceVersion"]
    while not stop.is_set():
        try:
            async for ev in _watch(c, ns, rv):
                now = time.monotonic()
                obj = ev["object"]
                rv = obj["metadata"].get("resourceVersion", rv)
                if ev["type"] == "BOOKMARK":
                    continue
                key = obj["metadata"]["name"]
                times.seen.setdefault(key, now)
                if obj["spec"].get("nodeName"):
                    times.bound.setdefault(key, now)
                if (obj.get("status") or {}).get("phase") == "Running":
                    times.running.setdefault(key, now)
        except errors.ApiError:
            await asyncio.sleep(0.5)


async def _watch(c: ApiClient, ns: str, rv: str) -> AsyncIterator[dict[str, Any]]:
    async for ev in c.watch(Pod, namespace=ns, resource_version=rv, timeout_s=300):
        yield ev.raw


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "c", "image": "kubelite/busybox:latest",
                          "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}


def report_latency(idle: Probe, loaded: Probe) -> None:
    print(f"\nAPI call latency from a probe client (idle: {idle.n} rounds on the empty cluster; loaded: "
          f"{loaded.n} rounds during the scale-up)")
    print(f"{'verb':7} {'resource':22} {'idle p50':>9} {'idle p99':>9} {'load p50':>9} {'load p99':>9} "
          f"{'ratio p99':>9} {'SLO p99':>8}")
    for key in sorted(loaded.samples):
        verb, res = key
        i, ld = idle.samples.get(key, []), loaded.samples[key]
        slo = SLO_LIST_P99_S if verb == "LIST" else SLO_READ_P99_S if verb == "GET" else SLO_MUTATING_P99_S
        ratio = pct(ld, 99) / pct(i, 99) if i else float("nan")
        print(f"{verb:7} {res:22} {pct(i, 50) * 1e3:8.1f}m {pct(i, 99) * 1e3:8.1f}m {pct(ld, 50) * 1e3:8.1f}m "
              f"{pct(ld, 99) * 1e3:8.1f}m {ratio:8.1f}x {slo:7.0f}s {'ok' if pct(ld, 99) <= slo else 'MISSED'}")
    print("(m = milliseconds)")


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kubelite-bench-scale-"))
    print(f"scale: {args.nodes} hollow nodes in {args.procs} processes, {args.pods} pods in Deployments of "
          f"{REPLICAS_PER_DEPLOYMENT}; logs in {workdir}", flush=True)
    procs: list[subprocess.Popen[bytes]] = []
    with EtcdProcess(name="kubelite-bench-scale") as etcd:
        async with apiserver_process(etcd.url, workdir / "apiserver.log") as (url, api):
            kubeconfig = workdir / "kubeconfig"
            # The API server started here serves TLS with the test PKI and requires credentials.
            write_test_kubeconfig(kubeconfig, url)
            pids = {"apiserver": api.pid, "etcd": etcd.proc.pid if etcd.proc else 0}
            try:
                ns = "scale"
                async with ApiClient.from_kubeconfig(str(kubeconfig)) as c:
                    await c.request("POST", "/api/v1/namespaces", json={"metadata": {"name": ns}})
                    prefix = f"hn{uuid.uuid4().hex[:4]}-"
                    per = -(-args.nodes // args.procs)
                    t0 = time.monotonic()
                    for p in range(args.procs):
                        count = min(per, args.nodes - p * per)
                        procs.append(spawn_python(
                            ["-m", "kubelet", "--hollow", "--count", str(count), "--prefix", f"{prefix}{p}-",
                             "--run-delay-s", str(args.run_delay_s), "--cpu", "32", "--memory", "256Gi",
                             "--pods", "110", "--kubeconfig", str(kubeconfig)], workdir / f"hollow-{p}.log"))
                        pids[f"hollow-{p}"] = procs[-1].pid
                    while len((await c.request("GET", "/api/v1/nodes"))["items"]) < args.nodes:
                        if time.monotonic() - t0 > args.timeout_s:
                            raise RuntimeError("hollow nodes did not all register")
                        await asyncio.sleep(1.0)
                    print(f"  {args.nodes} hollow nodes registered in {time.monotonic() - t0:.1f}s", flush=True)
                    rss_idle = rss_mib(api.pid)
                    idle = Probe(c, ns, f"{prefix}0-0")
                    for _ in range(args.idle_rounds):
                        await idle.round()
                    # Node IPAM: the default 10.244.0.0/16 holds 256 /24s (as Kubernetes' default);
                    # large clusters get a bigger cluster CIDR, clear of the 10.96.0.0/16 services.
                    extra = {"scheduler": [], "controllers": ["--cluster-cidr", "10.128.0.0/9"]}
                    for role in ("scheduler", "controllers"):
                        procs.append(spawn_python(["-m", role, "--kubeconfig", str(kubeconfig), *extra[role]],
                                                  workdir / f"{role}.log"))
                        pids[role] = procs[-1].pid
                    cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
                    times = PodTimes()
                    stop = asyncio.Event()
                    watcher = asyncio.create_task(watch_pods(c, ns, times, stop))
                    loaded = Probe(c, ns, f"{prefix}0-0")
                    prober = asyncio.create_task(loaded.run(args.probe_every_s, stop))
                    t_start = time.monotonic()
                    deployments = -(-args.pods // REPLICAS_PER_DEPLOYMENT)
                    for d in range(deployments):
                        replicas = min(REPLICAS_PER_DEPLOYMENT, args.pods - d * REPLICAS_PER_DEPLOYMENT)
                        await c.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments",
                                        json=deployment(f"d{d}", replicas))
                    last = -1
                    while len(times.running) < args.pods:
                        if time.monotonic() - t_start > args.timeout_s:
                            print(f"  timeout: {len(times.running)}/{args.pods} pods running", flush=True)
                            break
                        if len(times.running) // 500 != last:
                            last = len(times.running) // 500
                            print(f"  {len(times.running)}/{args.pods} running, {len(times.bound)} bound "
                                  f"({time.monotonic() - t_start:.0f}s)", flush=True)
                        await asyncio.sleep(1.0)
                    elapsed = time.monotonic() - t_start
                    rss_loaded = rss_mib(api.pid)
                    cpu = {k: cpu_seconds(v) - cpu0.get(k, 0.0) for k, v in pids.items()}
                    stop.set()
                    await prober
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
                    db = etcd_db_mib(etcd.url)
            finally:
                for proc in reversed(procs):
                    stop_process_group(proc)
    startup = [times.running[k] - times.seen[k] for k in times.running if k in times.seen]
    bound_at = sorted(times.bound.values())
    sched_rate = (len(bound_at) - 1) / (bound_at[-1] - bound_at[0]) if len(bound_at) > 1 else float("nan")
    report_latency(idle, loaded)
    print(f"\npods running: {len(times.running)}/{args.pods} in {elapsed:.1f}s "
          f"({len(times.running) / elapsed:.1f} pods/s end to end)")
    print(f"pod startup (first seen -> Running, hollow run delay {args.run_delay_s}s): p50 {pct(startup, 50):.2f}s "
          f"p99 {pct(startup, 99):.2f}s (SLO p99 <= {SLO_STARTUP_P99_S:.0f}s: "
          f"{'ok' if pct(startup, 99) <= SLO_STARTUP_P99_S else 'MISSED'})")
    print(f"scheduler throughput: {sched_rate:.1f} pods/s over {len(bound_at)} bindings "
          f"(Kubernetes perf-tests SLO 100 pods/s at 5,000 nodes for the scheduling SLI; scheduler_perf ~270)")
    print(f"API server RSS: {rss_idle:.0f} MiB idle with the nodes -> {rss_loaded:.0f} MiB loaded "
          f"(+{rss_loaded - rss_idle:.0f} MiB, mostly watch caches of {args.pods} pods)")
    print(f"etcd database: {db:.1f} MiB")
    print("CPU seconds during the scale-up: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(cpu.items())))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=500)
    p.add_argument("--pods", type=int, default=3000)
    p.add_argument("--procs", type=int, default=2, help="hollow node processes")
    p.add_argument("--run-delay-s", type=float, default=0.5)
    p.add_argument("--probe-every-s", type=float, default=1.0)
    p.add_argument("--idle-rounds", type=int, default=20)
    p.add_argument("--timeout-s", type=float, default=900.0)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
