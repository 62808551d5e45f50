"""Idle cost and start-up of `kubelite up`: memory and CPU of the whole local cluster at rest.

What it does, in one run on this machine:
- baseline: `docker run -d` of the pause image until Docker reports it running (Docker alone
  starting one container), and the etcd process of the cluster alone (the raw store's RSS/CPU);
- `kubelite up` in a fresh home on free ports (every component it starts by default: etcd, the
  API server, scheduler, controller-manager, kubelet, proxy and the add-ons), timed from the
  command to the Node Ready; then, after `--settle-s`, the resident memory (VmRSS) and CPU time
  (utime+stime from /proc) of every process of the cluster sampled over `--sample-s`;
- a table per component, the total beside etcd alone and the issue's targets (300 MB, 5% of a
  core; node Ready in 5 s), then `kubelite down --purge`.

    .venv/bin/python bench/idle.py [--settle-s 10] [--sample-s 30] [--components auto]

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import free_port  # noqa: E402

KUBELITE = str(Path(sys.executable).parent / "kubelite")
PAUSE = "kubelite/pause:latest"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


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


def rss_mb(pid: int) -> float:
    try:
        return int((Path(f"/proc/{pid}/statm")).read_text().split()[1]) * PAGE_KB / 1024
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def docker_start_s() -> float:
    name = f"idle-bench-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", PAUSE], check=True,
                   capture_output=True)
    elapsed = time.monotonic() - t0
    subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)
    return elapsed


def node_ready(env: dict[str, str]) -> bool:
    r = subprocess.run([KUBELITE, "get", "nodes", "-o", "json"], capture_output=True, text=True, env=env, timeout=30)
    if r.returncode != 0:
        return False
    items = json.loads(r.stdout).get("items") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for n in items for c in (n.get("status") or {}).get("conditions") or [])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settle-s", type=float, default=10.0)
    p.add_argument("--sample-s", type=float, default=30.0)
    p.add_argument("--components", default="auto")
    args = p.parse_args()

    docker_s = min(docker_start_s() for _ in range(3))
    home = Path(tempfile.mkdtemp(prefix="kubelite-idle-"))
    env = {**os.environ, "KUBELITE_HOME": str(home)}
    api_port, etcd_port = free_port(), free_port()
    while etcd_port + 1 == api_port:
        etcd_port = free_port()
    try:
        t0 = time.monotonic()
        up = subprocess.run([KUBELITE, "up", "--api-port", str(api_port), "--etcd-port", str(etcd_port),
                             "--cluster-name", f"idle{uuid.uuid4().hex[:6]}", "--components", args.components],
                            capture_output=True, text=True, env=env, timeout=300)
        if up.returncode != 0:
            raise SystemExit(f"kubelite up failed:\n{up.stdout}\n{up.stderr}")
        while not node_ready(env):
            if time.monotonic() - t0 > 120:
                raise SystemExit("no Node Ready within 120 s")
            time.sleep(0.2)
        ready_s = time.monotonic() - t0
        print(f"kubelite up -> Node Ready: {ready_s:.2f} s (docker run of one container: {docker_s:.2f} s)",
              flush=True)
        time.sleep(args.settle_s)
        state = json.loads((home / "run" / "state.json").read_text())
        groups = {name: c["pid"] for name, c in state["components"].items() if c.get("pid")}
        groups["supervisor"] = state["supervisor_pid"]
        before = {name: sum(cpu_s(p) for p in group_pids(pg)) for name, pg in groups.items()}
        before["supervisor"] = cpu_s(groups["supervisor"])
        rss: dict[str, list[float]] = {name: [] for name in groups}
        t1 = time.monotonic()
        while time.monotonic() - t1 < args.sample_s:
            for name, pg in groups.items():
                pids = [pg] if name == "supervisor" else group_pids(pg)
                rss[name].append(sum(rss_mb(p) for p in pids))
            time.sleep(1.0)
        wall = time.monotonic() - t1
        after = {name: (cpu_s(pg) if name == "supervisor" else sum(cpu_s(p) for p in group_pids(pg)))
                 for name, pg in groups.items()}
    finally:
        subprocess.run([KUBELITE, "down", "--purge"], capture_output=True, env=env, timeout=120, check=False)
        shutil.rmtree(home, ignore_errors=True)

    print(f"\n{'process':<14} {'RSS MB':>8} {'CPU %':>7}")
    total_mb = total_cpu = 0.0
    for name in sorted(groups, key=lambda n: -max(rss[n] or [0.0])):
        mb = sum(rss[name]) / max(1, len(rss[name]))
        cpu = 100 * (after[name] - before[name]) / wall
        total_mb += mb
        total_cpu += cpu
        print(f"{name:<14} {mb:8.1f} {cpu:7.2f}")
    etcd_mb = sum(rss["etcd"]) / max(1, len(rss["etcd"])) if "etcd" in rss else float("nan")
    etcd_cpu = 100 * (after.get("etcd", 0.0) - before.get("etcd", 0.0)) / wall
    print(f"{'total':<14} {total_mb:8.1f} {total_cpu:7.2f}")
    print(f"\nbaseline (same run): etcd alone {etcd_mb:.1f} MB, {etcd_cpu:.2f}% of a core; "
          f"kubelite total = {total_mb / etcd_mb:.1f}x etcd's memory")
    print(f"targets (issue 17): < 300 MB -> {'met' if total_mb < 300 else 'NOT met'}; "
          f"< 5% of a core -> {'met' if total_cpu < 5 else 'NOT met'}; "
          f"Node Ready < 5 s -> {'met' if ready_s < 5 else 'NOT met'} "
          f"({ready_s / docker_s:.1f}x one docker run)")


if __name__ == "__main__":
    main()
