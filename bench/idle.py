"""Idle cost and start-up of `kubelite up`: memory and CPU of the whole local cluster at rest.

What it does, in one run on this machine:
- baselines: `docker run -d` of the pause image until Docker reports it running (Docker alone
  starting one container), and the etcd process of the cluster alone (the raw store's memory/CPU);
- `kubelite up` in a fresh home on free ports (every component it starts by default, or
  `--components`), timed from the command to each line it prints (etcd ready, API server ready,
  Node Ready) with each daemon's start time from H/run/state.json: the start-up timeline;
- after `--settle-s`, per process over `--sample-s`: RSS (VmRSS: counts every shared page in
  every process that maps it), PSS (/proc/PID/smaps_rollup: a page shared by N processes counts
  1/N: the memory the cluster really costs the machine; sums correctly), USS (private pages
  only) and CPU (utime+stime from /proc);
- the totals beside etcd alone and the issue's targets (300 MB, 5% of a core; Node Ready in
  5 s), the load average before and after, then `kubelite down --purge`.

A/B against another checkout: `--tree DIR` runs DIR/.venv/bin/kubelite (that tree's code, same
bench file), e.g. `git worktree add --detach /tmp/idle-base main`, `bash deploy/bootstrap.sh`
there, then `--tree /tmp/idle-base`. KUBELITE_FORKSERVER=0 in the environment compares without
the fork server in one tree.

    .venv/bin/python bench/idle.py [--settle-s 10] [--sample-s 30] [--components auto] [--tree DIR]

Run it where no other `kubelite up` runs (the one-node pod CIDR and the DNS address are fixed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import free_port  # noqa: E402

KUBELITE = str(Path(sys.executable).parent / "kubelite")
PAUSE = "kubelite/pause:latest"
TICKS = os.sysconf("SC_CLK_TCK")
TARGET_MB, TARGET_CPU_PCT, TARGET_READY_S = 300.0, 5.0, 5.0
SINGLE = ("supervisor", "forkserver")  # one process each, not a process group of their own


@dataclass
class Mem:
    """One process's memory in MB: resident, proportional (shared pages split), private."""

    rss: float = 0.0
    pss: float = 0.0
    uss: float = 0.0

    def __add__(self, other: Mem) -> Mem:
        return Mem(self.rss + other.rss, self.pss + other.pss, self.uss + other.uss)


@dataclass
class Sampled:
    """A component's samples: memory per sample, CPU seconds at the start and end."""

    pids: list[int]
    mem: list[Mem] = field(default_factory=list)
    cpu_before_s: float = 0.0
    cpu_after_s: float = 0.0

    def mean(self) -> Mem:
        total = Mem()
        for m in self.mem:
            total = total + m
        n = max(1, len(self.mem))
        return Mem(total.rss / n, total.pss / n, total.uss / n)


def group_pids(pgid: int) -> list[int]:
    """Every process of a process group (a component and the children it started)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: pgrp
            out.append(int(entry.name))
    return out


def memory(pid: int) -> Mem:
    """RSS, PSS and USS of one process from /proc/PID/smaps_rollup (zero if it is gone)."""
    kb: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                kb[parts[0].rstrip(":")] = int(parts[1])
    except (OSError, ValueError):
        return Mem()
    return Mem(kb.get("Rss", 0) / 1024, kb.get("Pss", 0) / 1024,
               (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024)


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def docker_start_s() -> float:
    name = f"idle-bench-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", PAUSE], check=True,
                   capture_output=True)
    elapsed = time.monotonic() - t0
    subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)
    return elapsed


def run_up(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[float, list[tuple[float, str]]]:
    """Run `kubelite up`, timing each line it prints; (wall start, [(seconds since start, line)])."""
    wall0, t0 = time.time(), time.monotonic()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic() - t0, line.rstrip()))
            if time.monotonic() - t0 > timeout_s:
                proc.kill()
        code = proc.wait()
    if code != 0:
        raise SystemExit("kubelite up failed:\n" + "\n".join(text for _, text in lines))
    return wall0, lines


def timeline(wall0: float, lines: list[tuple[float, str]], state: dict[str, object]) -> tuple[float, list[str]]:
    """The start-up events in order, and the seconds to Node Ready (NaN if `up` never saw it)."""
    events = [(at, text) for at, text in lines if text.startswith(("✓", "!"))]
    components = state.get("components")
    if isinstance(components, dict):
        for name, comp in components.items():
            started = comp.get("started_at") if isinstance(comp, dict) else None
            if isinstance(started, (int, float)):
                events.append((started - wall0, f"  started {name}"))
    ready = [at for at, text in lines if text.startswith("✓ node") and text.endswith("Ready")]
    return (ready[0] if ready else float("nan")), [f"{at:6.2f} s  {text}" for at, text in sorted(events)]


def sample(groups: dict[str, int], sample_s: float) -> tuple[dict[str, Sampled], float]:
    """Memory once a second and CPU over `sample_s` of every component's process group."""
    out = {name: Sampled(pids=[pg] if name in SINGLE else group_pids(pg)) for name, pg in groups.items()}
    for s in out.values():
        s.cpu_before_s = sum(cpu_s(p) for p in s.pids)
    t1 = time.monotonic()
    while time.monotonic() - t1 < sample_s:
        for s in out.values():
            total = Mem()
            for p in s.pids:
                total = total + memory(p)
            s.mem.append(total)
        time.sleep(1.0)
    wall = time.monotonic() - t1
    for s in out.values():
        s.cpu_after_s = sum(cpu_s(p) for p in s.pids)
    return out, wall


def report(samples: dict[str, Sampled], wall_s: float, ready_s: float, docker_s: float) -> None:
    print(f"\n{'process':<14} {'RSS MB':>8} {'PSS MB':>8} {'USS MB':>8} {'CPU %':>7}")
    total, total_cpu = Mem(), 0.0
    for name in sorted(samples, key=lambda n: -samples[n].mean().pss):
        m = samples[name].mean()
        cpu = 100 * (samples[name].cpu_after_s - samples[name].cpu_before_s) / wall_s
        total, total_cpu = total + m, total_cpu + cpu
        print(f"{name:<14} {m.rss:8.1f} {m.pss:8.1f} {m.uss:8.1f} {cpu:7.2f}")
    print(f"{'total':<14} {total.rss:8.1f} {total.pss:8.1f} {total.uss:8.1f} {total_cpu:7.2f}")
    etcd = samples["etcd"].mean() if "etcd" in samples else Mem(float("nan"), float("nan"), float("nan"))
    etcd_cpu = (100 * (samples["etcd"].cpu_after_s - samples["etcd"].cpu_before_s) / wall_s
                if "etcd" in samples else float("nan"))
    print(f"\nbaseline (same run): etcd alone RSS {etcd.rss:.1f} MB, PSS {etcd.pss:.1f} MB, {etcd_cpu:.2f}% of a core; "
          f"kubelite total = {total.rss / etcd.rss:.1f}x etcd's RSS, {total.pss / etcd.pss:.1f}x its PSS")
    print(f"targets (issue 17): < {TARGET_MB:.0f} MB: PSS {total.pss:.0f} MB "
          f"{'met' if total.pss < TARGET_MB else 'NOT met'}, RSS {total.rss:.0f} MB "
          f"{'met' if total.rss < TARGET_MB else 'NOT met'} (RSS counts shared pages once per process); "
          f"< {TARGET_CPU_PCT:.0f}% of a core: {'met' if total_cpu < TARGET_CPU_PCT else 'NOT met'}; "
          f"Node Ready < {TARGET_READY_S:.0f} s: {'met' if ready_s < TARGET_READY_S else 'NOT met'} "
          f"({ready_s:.2f} s = {ready_s / docker_s:.1f}x one docker run)")


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--settle-s", type=float, default=10.0)
    p.add_argument("--sample-s", type=float, default=30.0)
    p.add_argument("--components", default="auto")
    p.add_argument("--tree", default="", help="run the kubelite of this checkout (A/B): DIR/.venv/bin/kubelite")
    args = p.parse_args()

    print(f"load average before: {load_average()}; kubelite of {args.tree or ROOT}; KUBELITE_FORKSERVER="
          f"{os.environ.get('KUBELITE_FORKSERVER', '(unset: on)')}", flush=True)
    docker_s = min(docker_start_s() for _ in range(3))
    home = Path(tempfile.mkdtemp(prefix="kubelite-idle-"))
    env = {**os.environ, "KUBELITE_HOME": str(home)}
    kubelite = str(Path(args.tree).resolve() / ".venv" / "bin" / "kubelite") if args.tree else KUBELITE
    api_port, etcd_port = free_port(), free_port()
    while etcd_port + 1 == api_port:
        etcd_port = free_port()
    try:
        wall0, lines = run_up([kubelite, "up", "--api-port", str(api_port), "--etcd-port", str(etcd_port),
                               "--cluster-name", f"idle{uuid.uuid4().hex[:6]}", "--components", args.components],
                              env, timeout_s=300)
        state = json.loads((home / "run" / "state.json").read_text())
        ready_s, events = timeline(wall0, lines, state)
        print("start-up timeline (seconds since `kubelite up`):")
        print("\n".join(events))
        print(f"kubelite up -> Node Ready: {ready_s:.2f} s (docker run of one container: {docker_s:.2f} s)",
              flush=True)
        time.sleep(args.settle_s)
        groups = {name: c["pid"] for name, c in state["components"].items() if c.get("pid")}
        groups["supervisor"] = state["supervisor_pid"]
        if state.get("forkserver_pid"):  # the daemons' common pages live there too
            groups["forkserver"] = state["forkserver_pid"]
        samples, wall = sample(groups, args.sample_s)
    finally:
        subprocess.run([kubelite, "down", "--purge"], capture_output=True, env=env, timeout=120, check=False)
        shutil.rmtree(home, ignore_errors=True)
    report(samples, wall, ready_s, docker_s)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
