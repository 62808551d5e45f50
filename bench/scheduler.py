"""Benchmark: scheduling throughput on hollow nodes, beside the API server's own create+bind rate.

For each cluster size (default 1,000 and 100 hollow nodes) it starts a fresh etcd + API server
(free ports, temp dirs; or uses --server), the hollow nodes, then:
1. baseline: 64 workers each create a pod with a schedulerName nobody serves, then bind it
   themselves: the API server's own create + bind rate (pods/s) with no scheduler in the way
   (the scheduler phase's API calls minus the decision; it also pays Scheduled events and the
   hollow nodes' status writes, which the baseline does not); then, as earlier versions of
   this bench did, binds alone (pods created beforehand): binds/s;
2. scheduler: starts `python -m scheduler`, creates the same number of pods with requests
   (100m cpu, 128Mi) 64 at a time (or at `--rate` pods/s, open loop) and watches them get
   bound: throughput = pods bound per second from the first create to the last bind, and
   p50/p99 of create -> bound. The ratios printed are scheduler pods/s / API create+bind/s
   and / API binds/s (the stricter one).
`--py-spy FILE` records the scheduler process with py-spy during phase 2 (bench/lib/pyspy.py,
200 Hz, raw collapsed stacks;
`flamegraph.pl` or speedscope read them).
Kubernetes' published figures are printed alongside: scheduler_perf ~270 pods/s at 5,000
nodes, and the 400 pods/s scheduler-throughput SLO of the perf-tests.

    .venv/bin/python bench/scheduler.py                       # 10,000 pods on 1,000 and 100 nodes
    .venv/bin/python bench/scheduler.py --nodes 100 --pods 1000   # quick
    .venv/bin/python bench/scheduler.py --nodes 1000 --pods 3000 --rate 100   # latency at 100 pods/s offered
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


from bench.lib import pyspy  # noqa: E402
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
    rate: float = 0.0  # offered pods/s (0: 64 creators as fast as they go)
    api_create_bind_rate: float = 0.0
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


async def baseline(client: ApiClient, pods: int, nodes: int) -> tuple[float, float]:
    """The API server alone, no scheduler: (create+bind pods/s, binds/s).

    create+bind: 64 workers each create a pod then bind it (the API calls of phase 2 without
    the decision). binds/s: pods created beforehand (untimed), then bound by 64 workers (the
    figure earlier versions of this bench printed)."""
    ns = f"bench-bind-{uuid.uuid4().hex[:5]}"
    await create_namespace(client, ns)

    async def create_and_bind(i: int) -> None:
        await create_pod(client, ns, pod(f"b{i}", scheduler="bench-nobody"))
        # A node name no hollow node owns, so nothing runs the pod and phase 2 is clean.
        await bind(client, ns, f"b{i}", f"void-{i % nodes}")

    t0 = time.monotonic()
    await run_many(pods, create_and_bind)
    create_bind_rate = pods / (time.monotonic() - t0)
    await run_many(pods, lambda i: create_pod(client, ns, pod(f"c{i}", scheduler="bench-nobody")))
    t1 = time.monotonic()
    await run_many(pods, lambda i: bind(client, ns, f"c{i}", f"void-{i % nodes}"))
    return create_bind_rate, pods / (time.monotonic() - t1)


async def wait_for_log(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if text in path.read_text(errors="replace"):  # noqa: ASYNC240 - a small log, polled
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{path.name}: no {text!r} within {timeout_s:.0f}s")


async def wait_nodes(client: ApiClient, prefix: str, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = await client.request("GET", "/api/v1/nodes")
        if sum(1 for n in data["items"] if n["metadata"]["name"].startswith(prefix)) >= count:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"only some of {count} hollow nodes registered in {timeout_s}s")


async def measure_scheduler(client: ApiClient, writer: ApiClient, pods: int, rate: float = 0.0
                            ) -> tuple[float, list[float], int, float]:
    """Creates through `writer`, watches through `client`."""
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
        await create_pod(writer, ns, pod(name))

    if rate > 0:  # open loop: pod i is created at t0 + i / rate, whatever the answers take
        t_start = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        for i in range(pods):
            await asyncio.sleep(max(0.0, t_start + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(create(i)))
        await asyncio.gather(*tasks)
    else:
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
    run = Run(nodes=nodes, pods=args.pods, rate=args.rate)
    async with api_server(args.server, workdir) as (url, pids):
        kubeconfig = Path(args.kubeconfig) if args.kubeconfig else workdir / f"kubeconfig-{nodes}"
        if not args.kubeconfig:  # the API server started here uses the test PKI
            write_test_kubeconfig(kubeconfig, url)
        client = ApiClient.from_kubeconfig(str(kubeconfig), timeout_s=60)
        # Creates and binds on their own connections (ApiClient slots), as the scheduler binds:
        # with a shared pool the bench's own client spent its time walking the pool and
        # measured itself instead of the API server.
        writer = ApiClient.from_kubeconfig(str(kubeconfig), timeout_s=60, slots=CONCURRENCY)
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
            run.api_create_bind_rate, run.api_bind_rate = await baseline(writer, args.pods, nodes)
            print(f"  API server alone: {run.api_create_bind_rate:.0f} create+bind/s, "
                  f"{run.api_bind_rate:.0f} binds/s", flush=True)
            sched_log = workdir / f"scheduler-{nodes}.log"
            sched = spawn_python(["-m", "scheduler", "--kubeconfig", str(kubeconfig), "--log-level", "info"], sched_log)
            # The clock starts once it has listed nodes and pods (the baseline's pods too: at
            # 1,000 nodes the first list took longer than the fixed 3 s this used to wait).
            await wait_for_log(sched_log, "caches synced", timeout_s=120 + args.pods / 20)
            pids |= {"scheduler": sched.pid, "hollow": hollow.pid, "bench client": os.getpid()}
            cpu0 = {role: cpu_seconds(pid) for role, pid in pids.items()}
            spy = (pyspy.start(sched.pid, Path(args.py_spy), workdir / "py-spy.log", rate_hz=200)
                   if args.py_spy else None)
            try:
                rate, lat, n_bound, elapsed = await measure_scheduler(client, writer, args.pods, args.rate)
            finally:
                if spy is not None:
                    pyspy.stop(spy)
            run.cpu = {role: (cpu_seconds(pid) - cpu0[role]) / elapsed for role, pid in pids.items()}
            run.sched_rate, run.bound, run.elapsed_s = rate, n_bound, elapsed
            run.p50_s, run.p99_s = pct(lat, 50), pct(lat, 99)
            print(f"  scheduler: {n_bound} pods bound in {elapsed:.1f}s = {rate:.0f} pods/s, "
                  f"create->bound p50 {run.p50_s * 1000:.0f} ms p99 {run.p99_s * 1000:.0f} ms", flush=True)
            print("  CPU during that phase (1.0 = one core): "
                  + ", ".join(f"{role} {share:.2f}" for role, share in run.cpu.items()), flush=True)
            if n_bound:  # what one scheduled pod costs each process, and the machine in total
                per_pod = {role: share * elapsed / n_bound * 1000 for role, share in run.cpu.items()}
                print("  CPU ms per pod bound: " + ", ".join(f"{role} {ms:.1f}" for role, ms in per_pod.items())
                      + f"; total {sum(per_pod.values()):.1f} ms (= at most {os.cpu_count() or 1} cores / total "
                      f"= {(os.cpu_count() or 1) * 1000 / max(sum(per_pod.values()), 1e-9):.0f} pods/s here)",
                      flush=True)
        finally:
            if sched is not None:
                stop_process_group(sched)
            stop_process_group(hollow)
            await writer.aclose()
            await client.aclose()
    return run


def report(runs: list[Run]) -> None:
    print()
    print("| nodes | pods | offered | bound | scheduler pods/s | p50 create->bound | p99 create->bound | "
          "API server alone create+bind/s (binds/s) | sched/API (sched/binds) | vs k8s 270/s | vs k8s 400/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        ratio = r.sched_rate / r.api_create_bind_rate if r.api_create_bind_rate else float("nan")
        strict = r.sched_rate / r.api_bind_rate if r.api_bind_rate else float("nan")
        offered = f"{r.rate:.0f}/s" if r.rate else "burst (64 in flight)"
        print(f"| {r.nodes} | {r.pods} | {offered} | {r.bound} | {r.sched_rate:.0f} | {r.p50_s * 1000:.0f} ms | "
              f"{r.p99_s * 1000:.0f} ms | {r.api_create_bind_rate:.0f} ({r.api_bind_rate:.0f}) | {ratio:.2f} ({strict:.2f}) | "
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
    p.add_argument("--rate", type=float, default=0.0,
                   help="offer pods at this rate (pods/s, open loop); default 0 = 64 creators at once")
    p.add_argument("--py-spy", default=None, metavar="FILE",
                   help="record the scheduler with py-spy during the measured phase (raw collapsed stacks)")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
