"""Benchmark: scheduling throughput on hollow nodes, beside the API server's own binding rate.

For each cluster size (default 1,000 and 100 hollow nodes) it starts a fresh etcd + API server
(free ports, temp dirs; or uses --server), the hollow nodes, then:
1. baseline: creates the pods with a schedulerName nobody serves and binds them itself
   (64 in flight, the scheduler's own limit), i.e. the rate the API server sustains for
   create + bind with no scheduler in the way;
2. scheduler: starts `python -m scheduler`, creates the same number of pods with requests
   (100m cpu, 128Mi) 64 at a time and watches them get bound: throughput = pods bound per
   second from the first create to the last bind, and p50/p99 of create -> bound.
Kubernetes' published figures are printed alongside: scheduler_perf ~270 pods/s at 5,000
nodes, and the 400 pods/s scheduler-throughput SLO of the perf-tests.

    .venv/bin/python bench/scheduler.py                       # 10,000 pods on 1,000 and 100 nodes
    .venv/bin/python bench/scheduler.py --nodes 100 --pods 1000   # quick
    .venv/bin/python bench/scheduler.py --server https://127.0.0.1:6443 --kubeconfig ~/.kubelite/kubeconfig \
        --nodes 50 --pods 500
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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from machinery import errors  # noqa: E402
from machinery.client import ApiClient  # noqa: E402
from tests.support import (  # noqa: E402
    EtcdProcess,
    apiserver_process,
    spawn_python,
    stop_process_group,
    write_test_kubeconfig,
)

CONCURRENCY = 64
K8S_SCHEDULER_PERF = 270.0
K8S_THROUGHPUT_SLO = 400.0


@dataclass
class Run:
    nodes: int
    pods: int
    api_bind_rate: float = 0.0
    sched_rate: float = 0.0
    p50_s: float = 0.0
    p99_s: float = 0.0
    bound: int = 0
    elapsed_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def pod(name: str, scheduler: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {"name": "c", "image": "kubelite/busybox:latest", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}
        ]
    }
    if scheduler:
        spec["schedulerName"] = scheduler
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}






@contextlib.asynccontextmanager
async def api_server(server: str | None, workdir: Path) -> AsyncIterator[tuple[str, dict[str, int]]]:
    """(URL, pids of the processes started here by role)."""
    if server:
        yield server, {}
        return
    with EtcdProcess(name="kubelite-bench-sched") as etcd:
        async with apiserver_process(etcd.url, workdir / "apiserver.log") as (url, proc):
            pids = {"apiserver": proc.pid}
            if etcd.proc is not None:
                pids["etcd"] = etcd.proc.pid
            yield url, pids


async def run_many(n: int, fn: Any) -> None:
    """fn(i) for i in range(n), CONCURRENCY at a time."""
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            await fn(i)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def create_pod(client: ApiClient, ns: str, body: dict[str, Any]) -> None:
    # A create retried after a dropped connection may find its first attempt succeeded.
    with contextlib.suppress(errors.AlreadyExists):
        await client.request("POST", f"/api/v1/namespaces/{ns}/pods", json=body)


async def bind(client: ApiClient, ns: str, name: str, node: str) -> None:
    with contextlib.suppress(errors.Conflict):  # same: a retried binding that had succeeded
        await client.bind(ns, name, node)


async def create_namespace(client: ApiClient, ns: str) -> None:
    with contextlib.suppress(Exception):
        await client.request("POST", "/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                                  "metadata": {"name": ns}})


async def baseline(client: ApiClient, pods: int, nodes: int) -> float:
    """Create + bind with no scheduler: binds/s of the API server alone."""
    ns = f"bench-bind-{uuid.uuid4().hex[:5]}"
    await create_namespace(client, ns)
    await run_many(pods, lambda i: create_pod(client, ns, pod(f"b{i}", scheduler="bench-nobody")))
    t0 = time.monotonic()
    # Bind to node names no hollow node owns, so nothing runs them and the scheduler run is clean.
    await run_many(pods, lambda i: bind(client, ns, f"b{i}", f"void-{i % nodes}"))
    return pods / (time.monotonic() - t0)


async def wait_nodes(client: ApiClient, prefix: str, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = await client.request("GET", "/api/v1/nodes")
        if sum(1 for n in data["items"] if n["metadata"]["name"].startswith(prefix)) >= count:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"only some of {count} hollow nodes registered in {timeout_s}s")


async def measure_scheduler(client: ApiClient, pods: int) -> tuple[float, list[float], int, float]:
    ns = f"bench-sched-{uuid.uuid4().hex[:5]}"
    await create_namespace(client, ns)
    created: dict[str, float] = {}
    bound: dict[str, float] = {}
    done = asyncio.Event()
    list_rv = (await client.request("GET", f"/api/v1/namespaces/{ns}/pods"))["metadata"]["resourceVersion"]
    ready = asyncio.Event()

    async def watch() -> None:
        rv = list_rv
        while not done.is_set():
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "600"}
            ready.set()
            async for line in client.stream_lines(f"/api/v1/namespaces/{ns}/pods", params=params, timeout_s=600):
                if not line:
                    continue
                ev = json.loads(line)
                obj = ev["object"]
                rv = obj["metadata"].get("resourceVersion", rv)
                name = obj["metadata"].get("name")
                if name and (obj.get("spec") or {}).get("nodeName") and name not in bound:
                    bound[name] = time.monotonic()
                    if len(bound) >= pods:
                        done.set()
                        return

    watcher = asyncio.create_task(watch())
    await ready.wait()

    async def create(i: int) -> None:
        name = f"s{i}"
        created[name] = time.monotonic()
        await create_pod(client, ns, pod(name))

    await run_many(pods, create)
    try:
        await asyncio.wait_for(done.wait(), timeout=max(120.0, pods / 20))
    except TimeoutError:
        print(f"  ! only {len(bound)}/{pods} pods bound before the deadline", file=sys.stderr)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await watcher
    if not bound:
        return 0.0, [], 0, 0.0
    elapsed = max(bound.values()) - min(created.values())
    latencies = [bound[n] - created[n] for n in bound if n in created]
    return len(bound) / elapsed, latencies, len(bound), elapsed


async def one_size(args: argparse.Namespace, nodes: int, workdir: Path) -> Run:
    run = Run(nodes=nodes, pods=args.pods)
    async with api_server(args.server, workdir) as (url, pids):
        kubeconfig = Path(args.kubeconfig) if args.kubeconfig else workdir / f"kubeconfig-{nodes}"
        if not args.kubeconfig:  # the API server started here uses the test PKI
            write_test_kubeconfig(kubeconfig, url)
        client = ApiClient.from_kubeconfig(str(kubeconfig), timeout_s=60)
        prefix = f"hollow-{uuid.uuid4().hex[:4]}-"
        hollow = spawn_python(["-m", "kubelet", "--hollow", "--count", str(nodes), "--prefix", prefix,
                        "--cpu", "64", "--memory", "256Gi", "--pods", "110", "--run-delay-s", "1",
                        "--kubeconfig", str(kubeconfig), "--delete-on-exit", "--log-level", "warning"],
                       workdir / f"hollow-{nodes}.log")
        sched: subprocess.Popen[bytes] | None = None
        try:
            t0 = time.monotonic()
            await wait_nodes(client, prefix, nodes, timeout_s=120 + nodes / 10)
            print(f"  {nodes} hollow nodes registered in {time.monotonic() - t0:.1f}s", flush=True)
            run.api_bind_rate = await baseline(client, args.pods, nodes)
            print(f"  API server alone: {run.api_bind_rate:.0f} binds/s", flush=True)
            sched = spawn_python(["-m", "scheduler", "--kubeconfig", str(kubeconfig), "--log-level", "warning"],
                          workdir / f"scheduler-{nodes}.log")
            await asyncio.sleep(3.0)  # let it list nodes and pods before the clock starts
            pids |= {"scheduler": sched.pid, "hollow": hollow.pid, "bench client": os.getpid()}
            cpu0 = {role: cpu_seconds(pid) for role, pid in pids.items()}
            rate, lat, n_bound, elapsed = await measure_scheduler(client, args.pods)
            run.cpu = {role: (cpu_seconds(pid) - cpu0[role]) / elapsed for role, pid in pids.items()}
            run.sched_rate, run.bound, run.elapsed_s = rate, n_bound, elapsed
            run.p50_s, run.p99_s = pct(lat, 50), pct(lat, 99)
            print(f"  scheduler: {n_bound} pods bound in {elapsed:.1f}s = {rate:.0f} pods/s, "
                  f"create->bound p50 {run.p50_s * 1000:.0f} ms p99 {run.p99_s * 1000:.0f} ms", flush=True)
            print("  CPU during that phase (1.0 = one core): "
                  + ", ".join(f"{role} {share:.2f}" for role, share in run.cpu.items()), flush=True)
        finally:
            if sched is not None:
                stop_process_group(sched)
            stop_process_group(hollow)
            await client.aclose()
    return run


def report(runs: list[Run]) -> None:
    print()
    print("| nodes | pods | bound | scheduler pods/s | p50 create->bound | p99 create->bound | "
          "API server alone binds/s | sched/API | vs k8s 270/s | vs k8s 400/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        ratio = r.sched_rate / r.api_bind_rate if r.api_bind_rate else float("nan")
        print(f"| {r.nodes} | {r.pods} | {r.bound} | {r.sched_rate:.0f} | {r.p50_s * 1000:.0f} ms | "
              f"{r.p99_s * 1000:.0f} ms | {r.api_bind_rate:.0f} | {ratio:.2f} | "
              f"{r.sched_rate / K8S_SCHEDULER_PERF:.2f}x | {r.sched_rate / K8S_THROUGHPUT_SLO:.2f}x |")
    print(f"\nKubernetes: scheduler_perf ~{K8S_SCHEDULER_PERF:.0f} pods/s at 5,000 nodes; "
          f"scheduler-throughput SLO {K8S_THROUGHPUT_SLO:.0f} pods/s (Go, dedicated machines).")


async def main(args: argparse.Namespace) -> None:
    runs = []
    with tempfile.TemporaryDirectory(prefix="kubelite-bench-sched-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at startup
        for nodes in args.nodes:
            print(f"== {nodes} hollow nodes, {args.pods} pods", flush=True)
            runs.append(await one_size(args, nodes, workdir))
    report(runs)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 100],
                   help="comma-separated hollow node counts (default 1000,100)")
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--server", default=None, help="use this API server instead of starting etcd + one")
    p.add_argument("--kubeconfig", default=None, help="the --server's kubeconfig (credentials)")
    p.add_argument("--workdir", default=None, help="keep logs here (default: a temp dir)")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
