"""Benchmark: from a node's last heartbeat to its pods' replacements Running on other nodes.

A fresh etcd + API server + scheduler + controller-manager (free ports, temp dirs) and hollow
nodes; a Deployment spread over them; then one node stops heartbeating (hollow control file +
SIGUSR1, as a hung kubelet). Measured: the time from that node's last Lease renewal to the
moment every pod it held has a replacement Running and Ready elsewhere (the Deployment back
to its full count of ready pods, none on the lost node). The figure is printed beside what
Kubernetes' design says it should be close to: node-monitor-grace-period (the node is marked
Unknown) + the unreachable toleration (300 s default: the pods are evicted), with up to one
node-monitor-period, the NoExecute tainting pass and the pods' start on top.

    .venv/bin/python bench/node_failure.py                 # short settings, then the defaults (~6 min)
    .venv/bin/python bench/node_failure.py --only short    # ~1 min
    .venv/bin/python bench/node_failure.py --only default  # grace 50 s + toleration 300 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machinery.client import ApiClient  # noqa: E402
from machinery.clock import parse_time  # noqa: E402
from tests.support import (  # noqa: E402
    EtcdProcess,
    apiserver_process,
    spawn_python,
    stop_process_group,
    write_test_kubeconfig,
)

PREFIX = "nf-"


@dataclass(frozen=True)
class Settings:
    name: str
    grace_s: float
    period_s: float
    toleration_s: int
    lease_s: float

    @property
    def expected_s(self) -> float:
        return self.grace_s + self.toleration_s


SHORT = Settings("short", grace_s=5.0, period_s=1.0, toleration_s=5, lease_s=1.0)
DEFAULT = Settings("default", grace_s=50.0, period_s=5.0, toleration_s=300, lease_s=10.0)


@dataclass
class Result:
    settings: Settings
    seconds: float
    pods_moved: int
    marked_unknown_s: float
    evicted_s: float






@contextlib.contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in reversed(procs):
            stop_process_group(p)


def ready(pod: dict[str, Any]) -> bool:
    st = pod.get("status") or {}
    return (not pod["metadata"].get("deletionTimestamp") and st.get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or []))


async def wait_for(pred: Any, timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not await pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:.0f}s")
        await asyncio.sleep(interval_s)


async def pods(c: ApiClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await c.request("GET", "/api/v1/namespaces/default/pods",
                                                   params={"labelSelector": "app=nf"}))["items"]
    return items


async def run_one(s: Settings, *, nodes: int, replicas: int, workdir: Path) -> Result:
    with EtcdProcess(workdir / f"etcd-{s.name}") as etcd, processes() as procs:
        flags = ["--default-not-ready-toleration-seconds", str(s.toleration_s),
                 "--default-unreachable-toleration-seconds", str(s.toleration_s)]
        async with apiserver_process(etcd.url, workdir / f"apiserver-{s.name}.log", extra_args=flags) as (url, _):
            kc = str(workdir / f"kubeconfig-{s.name}")
            write_test_kubeconfig(kc, url)
            control = workdir / f"stopped-{s.name}"
            control.write_text("")
            procs.append(spawn_python(["-m", "scheduler", "--kubeconfig", kc], workdir / f"scheduler-{s.name}.log"))
            procs.append(spawn_python(["-m", "controllers", "--kubeconfig", kc, "--node-monitor-period", str(s.period_s),
                                "--node-monitor-grace-period", str(s.grace_s)], workdir / f"controllers-{s.name}.log"))
            hollow = spawn_python(["-m", "kubelet", "--hollow", "--count", str(nodes), "--prefix", PREFIX,
                            "--run-delay-s", "0.5", "--lease-period-s", str(s.lease_s), "--kubeconfig", kc,
                            "--control-file", str(control)], workdir / f"hollow-{s.name}.log")
            procs.append(hollow)
            async with ApiClient.from_kubeconfig(str(kc), timeout_s=30.0) as c:
                async def nodes_ready() -> bool:
                    items = (await c.request("GET", "/api/v1/nodes"))["items"]
                    return len(items) == nodes
                await wait_for(nodes_ready, 60, "hollow nodes registered")
                await c.request("POST", "/apis/apps/v1/namespaces/default/deployments", json={
                    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nf"},
                    "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nf"}},
                             "template": {"metadata": {"labels": {"app": "nf"}},
                                          "spec": {"containers": [{"name": "c", "image": "kubelite/busybox"}]}}}})

                async def all_running() -> bool:
                    return sum(ready(p) for p in await pods(c)) == replicas
                await wait_for(all_running, 120, "the Deployment Running")
                by_node: dict[str, int] = {}
                for p in await pods(c):
                    by_node[p["spec"]["nodeName"]] = by_node.get(p["spec"]["nodeName"], 0) + 1
                victim = max(by_node, key=lambda n: by_node[n])
                index = int(victim[len(PREFIX):])
                control.write_text(f"{index}\n")
                os.kill(hollow.pid, signal.SIGUSR1)
                await asyncio.sleep(2 * s.lease_s)  # any renewal in flight has landed by now
                lease = await c.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{victim}")
                last_beat = parse_time(lease["spec"]["renewTime"])
                assert last_beat is not None

                async def replaced() -> bool:
                    live = [p for p in await pods(c) if ready(p)]
                    return len(live) == replicas and all(p["spec"]["nodeName"] != victim for p in live)
                await wait_for(replaced, s.expected_s + 120, "replacements Running", interval_s=0.1)
                done = time.time()
                node = await c.request("GET", f"/api/v1/nodes/{victim}")
                cond = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
                marked = parse_time(cond["lastTransitionTime"])
                # deletionTimestamp is when the grace period ends (as Kubernetes): the eviction
                # itself happened deletionGracePeriodSeconds earlier.
                evicted = [ts.timestamp() - float(p["metadata"].get("deletionGracePeriodSeconds") or 0)
                           for p in await pods(c)
                           if p["spec"]["nodeName"] == victim and p["metadata"].get("deletionTimestamp")
                           and (ts := parse_time(p["metadata"]["deletionTimestamp"])) is not None]
                first_evicted = min(evicted, default=None)
                return Result(settings=s, seconds=done - last_beat.timestamp(), pods_moved=by_node[victim],
                              marked_unknown_s=(marked.timestamp() - last_beat.timestamp()) if marked else float("nan"),
                              evicted_s=(first_evicted - last_beat.timestamp())
                              if first_evicted is not None else float("nan"))


def report(results: list[Result]) -> None:
    print()
    print("| settings | grace + toleration | last heartbeat -> Unknown | -> evicted | -> replacements Running "
          "| ratio to grace + toleration |")
    print("|---|---|---|---|---|---|")
    for r in results:
        s = r.settings
        print(f"| {s.name} (grace {s.grace_s:.0f} s, period {s.period_s:.0f} s, toleration {s.toleration_s} s) "
              f"| {s.expected_s:.0f} s | {r.marked_unknown_s:.1f} s | {r.evicted_s:.1f} s "
              f"| {r.seconds:.1f} s ({r.pods_moved} pods) | {r.seconds / s.expected_s:.2f} |")


async def amain(args: argparse.Namespace) -> None:
    chosen = {"short": [SHORT], "default": [DEFAULT], "both": [SHORT, DEFAULT]}[args.only]
    workdir = Path(tempfile.mkdtemp(prefix="kubelite-bench-nf-"))
    results = []
    try:
        for s in chosen:
            print(f"running with {s.name} settings (expect ~{s.expected_s:.0f} s + start-up)...", flush=True)
            results.append(await run_one(s, nodes=args.nodes, replicas=args.replicas, workdir=workdir))
            report(results[-1:])
    finally:
        if args.keep:
            print(f"logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["short", "default", "both"], default="both")
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--replicas", type=int, default=30)
    p.add_argument("--keep", action="store_true", help="keep the logs")
    asyncio.run(amain(p.parse_args(argv)))


if __name__ == "__main__":
    main()
