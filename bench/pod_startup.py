"""Pod start-up latency: kubelite (API server -> kubelet -> Docker) against Docker alone.

Creates N pods (default 30) at R pods/s (default 1) bound to one node, and measures through a
watch the time from the create call returning to phase Running and to condition Ready=True.
In the same run, the baseline does what the kubelet must do at minimum with the Docker SDK
directly (create+start a pause sandbox on the pod network, create+start the app container
joined to it) at the same rate, on `--docker-threads` threads (default: Python's default
executor size, min(32, CPUs + 4); Docker's own start throughput peaks at a few in flight).
Prints p50/p99 for each, the ratios, the load average, and where the kubelet's time went (its
/metrics through the API server's node proxy: Docker calls by operation, the wait for a start
slot, pod syncs, status writes).

    .venv/bin/python bench/pod_startup.py [--pods 30] [--rate 1] [--kubeconfig F --node N]

Without --kubeconfig it starts its own etcd + API server + kubelet (free ports, temp dir,
its own cluster label) and removes everything at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
import docker.errors  # noqa: E402

from kubelet import network  # noqa: E402
from machinery.client import ApiClient  # noqa: E402
from tests.cleanup import remove_network  # noqa: E402
from tests.e2e.conftest import Proc, _free_subnet, _wait_http  # noqa: E402
from tests.support import (  # noqa: E402
    EtcdProcess,
    apiserver_tls_args,
    free_port,
    kubelet_tls_args,
    node_cert,
    write_test_kubeconfig,
)

IMAGE = "kubelite/busybox:latest"
PAUSE = "kubelite/pause:latest"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class OwnCluster:
    """etcd + API server + one kubelet, like the e2e fixture."""

    def __init__(self) -> None:
        self.tag = f"bench{random.randrange(10**6):06d}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"kubelite-{self.tag}-"))
        self.docker = docker.from_env()
        self.etcd = EtcdProcess(self.tmp / "etcd")
        self.api_port, self.kubelet_port = free_port(), free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.node = f"node-{self.tag}"
        self.kubeconfig = self.tmp / "kubeconfig"
        self.procs: list[Proc] = []

    def start(self) -> None:
        write_test_kubeconfig(self.kubeconfig, self.server)
        kubelet_kc = write_test_kubeconfig(self.tmp / "kubelet.kubeconfig", self.server, user=node_cert(self.node))
        self.etcd.start()
        api = Proc([sys.executable, "-m", "apiserver", "--etcd-servers", self.etcd.url, "--bind-address",
                    "127.0.0.1", "--port", str(self.api_port), "--log-level", "warning", *apiserver_tls_args(),
                    "--disable-admission-plugins", "ServiceAccount"],  # no controller-manager here
                   self.tmp / "apiserver.log")
        api.start()
        self.procs.append(api)
        _wait_http(f"{self.server}/readyz", 60, api)
        kubelet = Proc([sys.executable, "-m", "kubelet", "--kubeconfig", str(kubelet_kc), "--node-name",
                        self.node, "--node-ip", "127.0.0.1", "--address", "127.0.0.1", "--port",
                        str(self.kubelet_port), "--pod-cidr", _free_subnet(self.docker), "--root-dir",
                        str(self.tmp / "root"), "--log-dir", str(self.tmp / "logs"), "--cluster-name", self.tag,
                        *kubelet_tls_args(self.node)],
                       self.tmp / "kubelet.log")
        kubelet.start()
        self.procs.append(kubelet)
        _wait_http(f"https://127.0.0.1:{self.kubelet_port}/healthz", 60, kubelet)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()
        for c in self.docker.containers.list(all=True, filters={"label": f"io.kubelite.cluster={self.tag}"}):
            c.remove(force=True)
        try:  # forces stale endpoints off; Docker 20.10 may still count a phantom endpoint
            remove_network(self.docker, network.network_name_for(self.tag), timeout_s=10)
        except docker.errors.APIError as exc:
            print(f"warning: network {network.network_name_for(self.tag)} left behind: {exc}", file=sys.stderr)
        self.etcd.cleanup()
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)


async def run_kubelite(api: ApiClient, node: str, n: int, rate: float, tag: str) -> tuple[list[float], list[float]]:
    created: dict[str, float] = {}
    running: dict[str, float] = {}
    ready: dict[str, float] = {}
    listed = await api.request("GET", "/api/v1/namespaces/default/pods", params={"labelSelector": f"bench={tag}"})
    rv = listed["metadata"]["resourceVersion"]
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal rv
        while not done.is_set():
            params = {"watch": "1", "resourceVersion": rv, "labelSelector": f"bench={tag}", "timeoutSeconds": "60"}
            async for line in api.stream_lines("/api/v1/namespaces/default/pods", params=params, timeout_s=60):
                ev = json.loads(line)
                obj = ev.get("object") or {}
                rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                name = (obj.get("metadata") or {}).get("name", "")
                now = time.monotonic()
                st = obj.get("status") or {}
                if st.get("phase") == "Running":
                    running.setdefault(name, now)
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []):
                    ready.setdefault(name, now)
                if len(ready) >= n:
                    done.set()
                    return

    watcher = asyncio.create_task(watch())
    for i in range(n):
        name = f"{tag}-{i:03d}"
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": tag}},
                "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}]}}
        t0 = time.monotonic()
        await api.request("POST", "/api/v1/namespaces/default/pods", json=body)
        created[name] = t0
        await asyncio.sleep(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
    await asyncio.wait_for(done.wait(), timeout=120)
    watcher.cancel()
    await print_kubelet_breakdown(api, node)
    for name in created:
        await api.request("DELETE", f"/api/v1/namespaces/default/pods/{name}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # let the kubelet finish its deletions before teardown
        left = await api.request("GET", "/api/v1/namespaces/default/pods", params={"labelSelector": f"bench={tag}"})
        if not left.get("items"):
            break
        await asyncio.sleep(0.5)
    to_running = [running[k] - created[k] for k in created if k in running]
    to_ready = [ready[k] - created[k] for k in created if k in ready]
    return to_running, to_ready


async def print_kubelet_breakdown(api: ApiClient, node: str) -> None:
    """Sum and count of the kubelet's duration histograms (GET /metrics via the node proxy)."""
    try:
        text = await api.request("GET", f"/api/v1/nodes/{node}/proxy/metrics")
    except Exception as exc:  # noqa: BLE001 - a breakdown is a bonus: say why it is missing
        print(f"(no kubelet metrics: {exc})")
        return
    if not isinstance(text, str):
        return
    sums: dict[str, list[float]] = {}
    for m in re.finditer(r'^(kubelet_\w+?)_(sum|count)(?:\{operation_type="(\w+)"\})? (\S+)$', text, re.M):
        key = m.group(1).removeprefix("kubelet_") + (f"[{m.group(3)}]" if m.group(3) else "")
        sums.setdefault(key, [0.0, 0.0])[0 if m.group(2) == "sum" else 1] = float(m.group(4))
    print(f"\nkubelet breakdown (histograms since start){'':4} {'count':>6} {'total s':>9} {'mean s':>8}")
    for key, (total, count) in sorted(sums.items(), key=lambda kv: -kv[1][0]):
        if count:
            print(f"  {key:44} {int(count):6d} {total:9.2f} {total / count:8.3f}")


async def run_docker_baseline(n: int, rate: float, tag: str, threads: int) -> tuple[list[float], list[float]]:
    """(due -> app started, thread start -> app started) per pair. The first is the baseline:
    like a pod's create -> Running it includes the wait for Docker when pairs arrive faster than
    Docker starts them (before 2026-12 the bench timed only the second, hiding that queue)."""
    client = docker.from_env()
    net = f"kubelite-{tag}-baseline"
    sub = _free_subnet(client)
    network.ensure_pod_network(client, name=net, subnet=sub, bridge=network.bridge_name_for(tag + "b"), cluster=tag)
    label = {"io.kubelite.cluster": f"{tag}-baseline"}
    times: list[tuple[float, float]] = []

    def one(i: int, due: float) -> tuple[float, float]:
        t0 = time.monotonic()
        sb = client.containers.create(PAUSE, name=f"{tag}-bl-sb-{i}", labels=label, network=net, detach=True)
        sb.start()
        app = client.containers.create(IMAGE, ["sleep", "3600"], name=f"{tag}-bl-app-{i}", labels=label,
                                       network_mode=f"container:{sb.id}", detach=True)
        app.start()
        end = time.monotonic()
        return end - due, end - t0

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="baseline")
    loop = asyncio.get_running_loop()
    try:
        pending = []
        for i in range(n):
            t0 = time.monotonic()
            pending.append(loop.run_in_executor(pool, one, i, t0))
            await asyncio.sleep(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
        times = list(await asyncio.gather(*pending))
    finally:
        pool.shutdown()
        for c in client.containers.list(all=True, filters={"label": f"io.kubelite.cluster={tag}-baseline"}):
            c.remove(force=True)
        remove_network(client, net)
        client.close()
    return [t[0] for t in times], [t[1] for t in times]


async def amain(args: argparse.Namespace) -> None:
    own = None
    if args.kubeconfig:
        api = ApiClient.from_kubeconfig(args.kubeconfig)
        node = args.node
    else:
        own = OwnCluster()
        print(f"starting etcd + apiserver + kubelet ({own.tag}) ...", flush=True)
        await asyncio.to_thread(own.start)
        api = ApiClient.from_kubeconfig(str(own.kubeconfig))
        node = own.node
    tag = f"ps{random.randrange(10**6):06d}"
    try:
        # Baseline first: its clean-up is synchronous, so Docker is idle again when the
        # kubelite phase starts (the other order would race the kubelet's pod deletions).
        print(f"docker alone: {args.pods} sandbox+app pairs at {args.rate}/s on {args.docker_threads} threads ...",
              flush=True)
        load_before = os.getloadavg()
        baseline, service = await run_docker_baseline(args.pods, args.rate, tag, args.docker_threads)
        print(f"kubelite: {args.pods} pods at {args.rate}/s ...", flush=True)
        to_running, to_ready = await run_kubelite(api, node, args.pods, args.rate, tag)
    finally:
        await api.aclose()
        if own is not None:
            await asyncio.to_thread(own.stop)
    rows = [("create -> Running (kubelite)", to_running), ("create -> Ready (kubelite)", to_ready),
            ("due -> sandbox+app started (docker)", baseline), ("  of which in a thread (docker)", service)]
    print(f"\n{'':36} {'n':>4} {'p50 s':>8} {'p99 s':>8} {'mean s':>8}")
    for label, vals in rows:
        print(f"{label:36} {len(vals):4d} {pct(vals, 50):8.3f} {pct(vals, 99):8.3f} {statistics.fmean(vals) if vals else float('nan'):8.3f}")
    b50, b99 = pct(baseline, 50), pct(baseline, 99)
    load_after = os.getloadavg()
    print(f"\nload average (1/5/15 min) before: {' '.join(f'{x:.1f}' for x in load_before)}"
          f"  after: {' '.join(f'{x:.1f}' for x in load_after)}")
    print(f"\nratio kubelite/docker  Running p50 {pct(to_running, 50) / b50:.2f}x  p99 {pct(to_running, 99) / b99:.2f}x"
          f"  Ready p50 {pct(to_ready, 50) / b50:.2f}x  p99 {pct(to_ready, 99) / b99:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pods", type=int, default=30)
    p.add_argument("--rate", type=float, default=1.0, help="pods per second")
    p.add_argument("--docker-threads", type=int, default=min(32, (os.cpu_count() or 1) + 4),
                   help="the baseline's threads (pods in flight at once)")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--node", default=None, help="node to bind the pods to (with --kubeconfig)")
    args = p.parse_args()
    if args.kubeconfig and not args.node:
        p.error("--node is required with --kubeconfig")
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
