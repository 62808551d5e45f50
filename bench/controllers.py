"""Benchmark: Deployments end to end (scheduler + controller-manager + kubelet), beside Docker Swarm.

In one run, on this machine:
1. kubelite, real one-node cluster (its own etcd/apiserver/scheduler/controllers/kubelet on free
   ports and temp dirs, or an existing cluster with --kubeconfig): time for a 50-replica
   Deployment (busybox `exec httpd -f`) to have every pod Running, then for `set image` to a
   second tag to roll over (50 pods Running on the new image, none of the old left).
   RollingUpdate maxSurge=13 (25%), maxUnavailable=0.
2. Docker Swarm, the same on the same machine: `docker service create --replicas 50
   --no-resolve-image`, then `docker service update --image ... --update-parallelism 13
   --update-order start-first` (same surge). The swarm is created on 127.0.0.1 only if this
   machine is not in one already, and left afterwards only if we created it.
3. kubelite at scale on hollow nodes (`python -m kubelet --hollow`): time for D Deployments of
   R replicas (pinned to hollow nodes by nodeSelector) to have all D*R pods Running.
Figures are printed as a table with the kubelite/swarm ratio, with what each side was
configured to do (`configs`), the CPU seconds of each kubelite process per phase (CPU ms per
Running pod in the hollow phase) and the load average at start and end. `--trace` prints the
rolling update's timeline (stderr): per new pod patch -> seen -> scheduled -> Running -> Ready,
the k-th new pod Ready -> the k-th old pod deleted, and per second what happened (bench/lib/rollout.py).
Every phase has a time budget;
a phase that runs out reports how far it got. Everything created is removed: deployments,
namespace, hollow nodes, swarm service and its containers, image tags.

    .venv/bin/python bench/controllers.py                                  # 50 real; 1000x10 on 1000
    .venv/bin/python bench/controllers.py --deployments 100 --hollow-nodes 100 --budget-s 120
    .venv/bin/python bench/controllers.py --kubeconfig ~/.kubelite/kubeconfig --skip-hollow
    .venv/bin/python bench/controllers.py --skip-hollow --trace                # where the rollout's time goes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lib.rollout import PodTracker, timeline  # noqa: E402
from machinery import errors  # noqa: E402
from machinery.client import ApiClient  # noqa: E402
from tests.e2e.conftest import Proc, run_cluster  # noqa: E402
from tests.support import free_port  # noqa: E402

CLUSTER_CIDR_ARGS = ("--cluster-cidr", "10.240.0.0/12")
"""Room for 4,096 node pod CIDRs (/24); it holds the real node's own 10.244.1xx.0/24."""
CMD = ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"]


def surge_of(replicas: int) -> int:
    """Kubernetes' default maxSurge, 25% rounded up (13 of 50); Swarm gets it as --update-parallelism."""
    return max(1, (replicas + 3) // 4)


@dataclass
class Phase:
    """One timed phase: seconds to converge, or how far it got when the budget ran out."""

    seconds: float | None = None
    progress: str = ""

    def cell(self) -> str:
        return f"{self.seconds:.1f} s" if self.seconds is not None else f"timeout ({self.progress})"


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process has used so far (/proc/PID/stat; 0 if gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            out[name] = 0.0
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_line(before: dict[str, float], after: dict[str, float], wall_s: float) -> str:
    return "  ".join(f"{k} {after[k] - before[k]:.1f}" for k in before) + f"  (CPU s over {wall_s:.1f} s)"


async def timed(done: Callable[[], bool], progress: Callable[[], str], budget_s: float, t0: float,
                *, report_every_s: float = 0.0) -> Phase:
    """Poll `done` until it holds or `budget_s` has passed since `t0`; optionally log progress."""
    next_report = report_every_s
    while (elapsed := time.monotonic() - t0) < budget_s:
        if done():
            return Phase(seconds=elapsed)
        if report_every_s and elapsed >= next_report:
            print(f"  t={elapsed:5.0f} s  {progress()}", file=sys.stderr, flush=True)
            next_report += report_every_s
        await asyncio.sleep(0.1)
    return Phase(progress=progress())


def deployment(name: str, image: str, replicas: int, *, node_selector: dict[str, str] | None = None,
               surge: int | str) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "web", "image": image, "imagePullPolicy": "Never",
                                                "command": CMD}], "terminationGracePeriodSeconds": 1}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}}


def configs(replicas: int) -> list[str]:
    """What each side was told to do (the comparison is like with like)."""
    surge = surge_of(replicas)
    return [f"kubelite: RollingUpdate maxSurge={surge} maxUnavailable=0, minReadySeconds 0, no readiness probe "
            "(Ready = containers started), terminationGracePeriodSeconds 1",
            f"swarm: --update-parallelism {surge} --update-order start-first --update-delay 0s, default "
            "--update-monitor 5s (failure watch, does not hold the next batch), no healthcheck, "
            "--stop-grace-period 1s",
            "both: busybox httpd as PID 1 ignores SIGTERM, so each old container is killed after the 1 s grace; "
            "converged = all replicas Running on the new image and no old one still wanted (an old "
            "pod being deleted / an old task shut down no longer counts, on both sides)"]


def docker(*args: str, check: bool = True) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and res.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


@contextlib.contextmanager
def image_tags(tag: str) -> Iterator[tuple[str, str]]:
    v1, v2 = f"kubelite/busybox:{tag}-v1", f"kubelite/busybox:{tag}-v2"
    try:
        for ref in (v1, v2):
            docker("tag", "kubelite/busybox:latest", ref)
        yield v1, v2
    finally:
        for ref in (v1, v2):
            docker("rmi", "--no-prune", ref, check=False)


async def bench_kubelite(client: ApiClient, ns: str, replicas: int, v1: str, v2: str,
                         budget_s: float, *, trace: bool = False, pids: dict[str, int] | None = None,
                         notes: list[str] | None = None) -> list[Phase]:
    """(create -> all Running, rolling update -> converged); with `pids`, each phase's CPU
    seconds per process go to `notes`."""
    tracker = PodTracker(client, ns)
    await tracker.start()
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    pids = pids or {}
    try:
        t0 = time.monotonic()
        cpu0 = cpu_seconds(pids)
        await client.request("POST", base, json=deployment("web", v1, replicas, surge=surge_of(replicas)))
        up = await timed(lambda: tracker.running(v1) == replicas, lambda: f"{tracker.running(v1)}/{replicas}",
                         budget_s, t0)
        t0 = time.monotonic()
        cpu1 = cpu_seconds(pids)
        if pids and notes is not None:
            notes.append(f"create phase, kubelite CPU: {cpu_line(cpu0, cpu1, up.seconds or 0)}")
        container = {"name": "web", "image": v2, "imagePullPolicy": "Never", "command": CMD}
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        await client.request("PATCH", f"{base}/web", headers={"Content-Type": "application/merge-patch+json"},
                             content=json.dumps(patch))
        roll = await timed(lambda: tracker.running(v2) == replicas and tracker.live_other(v2) == 0,
                           lambda: f"{tracker.running(v2)}/{replicas} new", budget_s, t0)
        if pids and notes is not None:
            notes.append(f"rolling phase, kubelite CPU: {cpu_line(cpu1, cpu_seconds(pids), roll.seconds or 0)}")
        if trace:
            print("\n".join(timeline(tracker, t0, v2, surge_of(replicas))), file=sys.stderr, flush=True)
        await client.request("DELETE", f"{base}/web")
        await timed(lambda: not tracker.pods, lambda: "", 60, time.monotonic())
        return [up, roll]
    finally:
        await tracker.stop()


def swarm_tasks(name: str) -> list[tuple[str, str]]:
    out = docker("service", "ps", name, "--filter", "desired-state=running", "--no-trunc",
                 "--format", "{{.CurrentState}}|{{.Image}}", check=False)
    return [tuple(line.split("|", 1)) for line in out.splitlines() if "|" in line]  # type: ignore[misc]


async def swarm_wait(name: str, image: str, replicas: int, budget_s: float, t0: float) -> Phase:
    last: list[tuple[str, str]] = []
    while time.monotonic() - t0 < budget_s:
        last = await asyncio.to_thread(swarm_tasks, name)
        ok = [s for s, im in last if s.startswith("Running") and im.split("@")[0] == image]
        if len(ok) == replicas and len(last) == replicas:
            return Phase(seconds=time.monotonic() - t0)
        await asyncio.sleep(0.1)
    return Phase(progress=f"{sum(s.startswith('Running') for s, _ in last)}/{replicas}")


async def bench_swarm(tag: str, replicas: int, v1: str, v2: str, budget_s: float) -> list[Phase]:
    created = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() != "active"
    had_gwbridge = bool(docker("network", "ls", "-q", "--filter", "name=^docker_gwbridge$").strip())
    if created:  # local only: listen and advertise on loopback, overlay pool clear of our CIDRs
        docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}",
               "--default-addr-pool", "10.250.0.0/16")
    name = f"kubelite-bench-{tag}"
    try:
        t0 = time.monotonic()
        docker("service", "create", "--detach", "--quiet", "--no-resolve-image", "--name", name, "--replicas",
               str(replicas), "--stop-grace-period", "1s", v1, *CMD)
        up = await swarm_wait(name, v1, replicas, budget_s, t0)
        t0 = time.monotonic()
        docker("service", "update", "--detach", "--quiet", "--no-resolve-image", "--image", v2,
               "--update-parallelism", str(surge_of(replicas)), "--update-order", "start-first",
               "--update-delay", "0s", name)
        roll = await swarm_wait(name, v2, replicas, budget_s, t0)
        return [up, roll]
    finally:
        docker("service", "rm", name, check=False)
        label = f"label=com.docker.swarm.service.name={name}"
        for _ in range(300):
            if not docker("ps", "-aq", "--filter", label, check=False).split():
                break
            await asyncio.sleep(0.2)
        leftovers = docker("ps", "-aq", "--filter", label, check=False).split()
        if leftovers:
            docker("rm", "-f", *leftovers, check=False)
        if created:
            docker("swarm", "leave", "--force", check=False)
            if not had_gwbridge:  # swarm init made it and leave does not remove it
                docker("network", "rm", "docker_gwbridge", check=False)


async def bench_hollow(client: ApiClient, kubeconfig: Path, args: argparse.Namespace, tag: str,
                       logdir: Path, pids: dict[str, int], notes: list[str]) -> tuple[Phase, float]:
    """(time to D*R pods Running, seconds the hollow nodes took to register); the CPU
    milliseconds per pod of each process (`pids` plus the hollow nodes) go to `notes`."""
    prefix = f"hollow-{tag}-"
    hollow = Proc([sys.executable, "-m", "kubelet", "--hollow", "--count", str(args.hollow_nodes),
                   "--prefix", prefix,
                   "--kubeconfig", str(kubeconfig), "--delete-on-exit", "--log-level", "WARNING"],
                  logdir / "hollow.log")
    ns = f"bench-hollow-{tag}"
    await client.request("POST", "/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                             "metadata": {"name": ns}})
    tracker = PodTracker(client, ns)
    try:
        t_nodes = time.monotonic()
        hollow.start()
        while True:
            body = await client.request("GET", "/api/v1/nodes",
                                        params={"labelSelector": "kubelite.io/hollow=true"})
            if sum(i["metadata"]["name"].startswith(prefix) for i in body["items"]) >= args.hollow_nodes:
                break
            if not hollow.running() or time.monotonic() - t_nodes > args.budget_s:
                raise RuntimeError(f"hollow nodes did not register:\n{hollow.tail()}")
            await asyncio.sleep(0.5)
        nodes_s = time.monotonic() - t_nodes
        await tracker.start()
        total = args.deployments * args.replicas
        sel = {"kubelite.io/hollow": "true"}
        t0 = time.monotonic()
        if hollow.popen is not None:
            pids = {**pids, "hollow": hollow.popen.pid}
        cpu0 = cpu_seconds(pids)
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with sem:
                await client.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments",
                                     json=deployment(f"d{i:04d}", "kubelite/busybox:latest", args.replicas,
                                                     node_selector=sel, surge="25%"))

        creating = asyncio.gather(*(one(i) for i in range(args.deployments)))
        phase = await timed(lambda: tracker.running() == total,
                            lambda: f"{tracker.running()}/{total} running, {len(tracker.pods)} pods",
                            args.budget_s, t0, report_every_s=30.0)
        cpu1, done = cpu_seconds(pids), max(1, tracker.running())
        if pids:
            notes.append("hollow phase, CPU ms per Running pod: " + "  ".join(
                f"{k} {1000 * (cpu1[k] - cpu0[k]) / done:.1f}" for k in cpu0))
        await creating
        return phase, nodes_s
    finally:
        await tracker.stop()
        with contextlib.suppress(errors.ApiError):
            await client.request("DELETE", f"/api/v1/namespaces/{ns}")
        hollow.stop(timeout_s=60)


def report(rows: list[tuple[str, Phase, Phase | None]], notes: list[str]) -> None:
    print()
    print(f"{'measure':<58} {'kubelite':>18} {'docker swarm':>18} {'ratio k/s':>10}")
    print("-" * 107)
    for label, k, s in rows:
        ratio = f"{k.seconds / s.seconds:.2f}x" if s and k.seconds and s.seconds else "-"
        print(f"{label:<58} {k.cell():>18} {(s.cell() if s else '-'):>18} {ratio:>10}")
    for n in notes:
        print(f"  {n}")


async def amain(args: argparse.Namespace) -> None:
    tag = f"b{random.randrange(10**6):06d}"
    rows: list[tuple[str, Phase, Phase | None]] = []
    notes: list[str] = []
    load0 = os.getloadavg()
    try:
        await _measure(args, tag, rows, notes)
    finally:
        # Printed even when the cluster's teardown (or a later phase) failed: a cleanup error
        # must never hide the figures already measured; it is raised after them.
        notes.append(f"budget per phase: {args.budget_s:.0f} s; machine: {os.cpu_count()} cores; load average "
                     f"(1/5/15 min) at start {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f}, at end "
                     + "/".join(f"{x:.1f}" for x in os.getloadavg()))
        report(rows, notes)


async def _measure(args: argparse.Namespace, tag: str, rows: list[tuple[str, Phase, Phase | None]],
                   notes: list[str]) -> None:
    """Run the phases, appending each row as soon as it is measured."""
    pids: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        if args.kubeconfig:
            kubeconfig, logdir = Path(args.kubeconfig), Path(tempfile.gettempdir())
        else:
            # Node IPAM: the default /16 cluster CIDR holds 256 /24 node CIDRs; 1,000 hollow
            # nodes need a /12 (as kubemark's large cluster CIDR), or 744 nodes fail in a loop.
            cl = stack.enter_context(run_cluster(control_plane=True, controller_args=CLUSTER_CIDR_ARGS,
                                                 kubelet_args=tuple(args.kubelet_arg)))
            kubeconfig, logdir = cl.kubeconfig, cl.tmp
            procs: dict[str, subprocess.Popen[bytes] | None] = {
                "apiserver": cl.apiserver.popen, "etcd": cl.etcd.proc,
                "scheduler": cl.scheduler.popen if cl.scheduler else None,
                "controllers": cl.controllers.popen if cl.controllers else None, "kubelet": cl.kubelet.popen}
            pids.update({k: p.pid for k, p in procs.items() if p is not None})
        v1, v2 = stack.enter_context(image_tags(tag))
        client = ApiClient.from_kubeconfig(str(kubeconfig))
        try:
            n = args.real_replicas
            if not args.skip_real:
                ns = f"bench-{tag}"
                await client.request("POST", "/api/v1/namespaces",
                                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                try:
                    k = await bench_kubelite(client, ns, n, v1, v2, args.budget_s, trace=args.trace, pids=pids,
                                             notes=notes)
                finally:
                    with contextlib.suppress(errors.ApiError):
                        await client.request("DELETE", f"/api/v1/namespaces/{ns}")
                s: list[Phase | None] = [None, None]
                try:
                    if not args.skip_swarm:
                        s = list(await bench_swarm(tag, n, v1, v2, args.budget_s))
                finally:  # kubelite's figures are kept even when the Swarm phase fails
                    notes.extend(configs(n))
                    rows.extend([(f"{n} replicas: create -> all Running", k[0], s[0]),
                                 (f"{n} replicas: rolling update (surge {surge_of(n)}) -> converged",
                                  k[1], s[1])])
            if not args.skip_hollow:
                phase, nodes_s = await bench_hollow(client, kubeconfig, args, tag, logdir, pids, notes)
                total = args.deployments * args.replicas
                label = f"{args.deployments} deploys x {args.replicas} on {args.hollow_nodes} hollow nodes"
                rows.append((label, phase, None))
                notes.append(f"hollow nodes registered in {nodes_s:.1f} s")
                if phase.seconds:
                    notes.append(f"hollow: {total / phase.seconds:.0f} pods/s created, scheduled, Running")
        finally:
            await client.aclose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--kubeconfig", default=None, help="use this running cluster instead of starting one")
    p.add_argument("--real-replicas", type=int, default=50, help="replicas on the real node (and in Swarm)")
    p.add_argument("--deployments", type=int, default=1000, help="Deployments on hollow nodes")
    p.add_argument("--replicas", type=int, default=10, help="replicas per hollow Deployment")
    p.add_argument("--hollow-nodes", type=int, default=1000)
    p.add_argument("--budget-s", type=float, default=600.0, help="time bound of each phase")
    p.add_argument("--skip-real", action="store_true")
    p.add_argument("--skip-swarm", action="store_true")
    p.add_argument("--skip-hollow", action="store_true")
    p.add_argument("--kubelet-arg", action="append", default=[], metavar="ARG",
                   help="one more flag for the real node's kubelet (repeat; e.g. --kubelet-arg=--max-parallel-pod-starts "
                        "--kubelet-arg=16), to compare kubelet settings A/B")
    p.add_argument("--trace", action="store_true", help="print the rolling update's timeline (stderr)")
    a = p.parse_args(argv)
    if a.kubeconfig:
        a.kubeconfig = os.path.expanduser(a.kubeconfig)
    for name in ("real_replicas", "deployments", "replicas", "hollow_nodes"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return a


def main(argv: list[str] | None = None) -> None:
    asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    main()
