"""Benchmark of the docker-compose multi-host lab (`make lab`).

Measures, on this machine, in one run:
  1. `kubelite lab up` to every node Ready: warm (images cached, the usual case) and, with
     --cold, cold (the lab images removed first, so the debootstrap bases, the wheels and the
     two lab images are rebuilt). Beside kind's published figure for `kind create cluster` to a
     ready cluster, 12.5-17 s (kind's own performance notes; one control-plane node, images
     pulled beforehand), and the ratio.
  2. Pod-to-pod latency and throughput ACROSS hosts (client pod on node1, server on node3)
     against the same-run baseline ON ONE host (client and server both on node1): the mean
     time of one HTTP GET (busybox wget, a new process and TCP connection per request) and the
     rate of a large download (3 in a row). Times are taken inside the client pod
     (/proc/uptime), so the exec relay's overhead is not counted; local and remote are measured in interleaved rounds (median of
     --rounds), as the machine is shared and its load drifts. All "hosts" share this one kernel:
     crossing hosts adds a veth pair and the lab bridge, not a wire.
The lab gets its own name (klbench-<random>) and is always torn down, even on failure.
Usage: .venv/bin/python bench/lab.py [--cold] [--requests 200] [--mib 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KUBELITE = str(Path(sys.executable).with_name("kubelite"))
KIND_READY_S = (12.5, 17.0)
LAB_IMAGES = ["kubelite/lab-control-plane:latest", "kubelite/lab-node:latest",
              "kubelite/lab-control-plane-base:bookworm", "kubelite/lab-node-base:bookworm"]

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: bench}}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: kubelite/busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/small && dd if=/dev/zero of=/www/big bs=1M count={mib} 2>/dev/null; exec httpd -f -p 8080 -h /www"]
"""


class Bench:
    def __init__(self, name: str, api_port: int, prefix: str) -> None:
        self.name, self.api_port, self.prefix = name, api_port, prefix
        home = Path(os.environ.get("KUBELITE_HOME") or Path.home() / ".kubelite")
        self.kubeconfig = str(home / "labs" / name / "kubeconfig")

    def run(self, *args: str, input_text: str = "", timeout_s: float = 900.0) -> str:
        proc = subprocess.run([KUBELITE, *args], env={**os.environ, "KUBECONFIG": self.kubeconfig}, cwd=ROOT,
                              input=input_text, capture_output=True, text=True, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"kubelite {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def up(self) -> float:
        t0 = time.monotonic()
        self.run("lab", "up", "--name", self.name, "--api-port", str(self.api_port), "--subnet-prefix", self.prefix)
        return time.monotonic() - t0

    def down(self) -> None:
        subprocess.run([KUBELITE, "lab", "down", "--name", self.name], capture_output=True, timeout=300, check=False)

    def pod(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.run("get", "pod", name, "-o", "json")))


def wait_running(b: Bench, names: list[str], timeout_s: float = 120.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ips = {}
        for n in names:
            st = b.pod(n).get("status") or {}
            if st.get("phase") == "Running" and st.get("podIP"):
                ips[n] = st["podIP"]
        if len(ips) == len(names):
            return ips
        time.sleep(0.5)
    raise RuntimeError(f"pods {names} not Running after {timeout_s:.0f}s")


def timed_in_pod(b: Bench, pod: str, body: str) -> float:
    """Seconds `body` took inside the pod, from /proc/uptime (10 ms resolution): the exec relay's
    own overhead, large and noisy on a loaded machine, is not part of it."""
    out = b.run("exec", pod, "--", "sh", "-c",
                f"s=$(cut -d' ' -f1 /proc/uptime); {body}; e=$(cut -d' ' -f1 /proc/uptime); echo TIMES $s $e",
                timeout_s=900)
    line = next(ln for ln in out.splitlines() if ln.startswith("TIMES "))
    _, start, end = line.split()
    return float(end) - float(start)


def per_request_s(b: Bench, client: str, ip: str, n: int) -> float:
    body = f"i=0; while [ $i -lt {n} ]; do wget -qO- {ip}:8080/small >/dev/null || exit 1; i=$((i+1)); done"
    return timed_in_pod(b, client, body) / n


def download_mib_s(b: Bench, client: str, ip: str, mib: int, times: int = 3) -> float:
    body = f"i=0; while [ $i -lt {times} ]; do wget -qO /dev/null {ip}:8080/big || exit 1; i=$((i+1)); done"
    return mib * times / max(timed_in_pod(b, client, body), 0.01)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cold", action="store_true", help="also measure a cold start (rebuilds the lab images)")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--mib", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per network measure (median)")
    a = p.parse_args(argv)
    b = Bench(f"klbench-{random.randrange(16**5):05x}", 20000 + random.randrange(20000),
              f"172.28.{random.randrange(10, 250)}")
    rows: list[tuple[str, str, str, str]] = []
    print(f"machine: {os.cpu_count()} cores (shared with other work; figures are what this run saw)")
    try:
        if a.cold:
            subprocess.run(["docker", "rmi", "-f", *LAB_IMAGES], capture_output=True, timeout=300, check=False)
            cold = b.up()
            rows.append(("lab up, cold (images built)", f"{cold:.1f} s", f"kind {KIND_READY_S[0]}-{KIND_READY_S[1]} s",
                         f"{cold / KIND_READY_S[1]:.1f}-{cold / KIND_READY_S[0]:.1f}x"))
            b.down()
        b.up()  # the first warm run also refreshes the image tarball the nodes load
        b.down()
        warm = b.up()
        rows.append(("lab up, warm (3 nodes Ready)", f"{warm:.1f} s", f"kind {KIND_READY_S[0]}-{KIND_READY_S[1]} s",
                     f"{warm / KIND_READY_S[1]:.2f}-{warm / KIND_READY_S[0]:.2f}x"))
        for name, node in (("client", "node1"), ("local", "node1"), ("remote", "node3")):
            b.run("apply", "-f", "-", input_text=POD.format(name=name, node=node, mib=a.mib))
        ips = wait_running(b, ["client", "local", "remote"])
        time.sleep(2.0)  # the servers' dd of the big file
        # Interleaved rounds, median of each: the machine is shared, so load drifts during the run.
        lat: dict[str, list[float]] = {"local": [], "remote": []}
        bw: dict[str, list[float]] = {"local": [], "remote": []}
        for _ in range(a.rounds):
            for where in ("local", "remote"):
                lat[where].append(per_request_s(b, "client", ips[where], a.requests))
                bw[where].append(download_mib_s(b, "client", ips[where], a.mib))
        lat_local, lat_remote = statistics.median(lat["local"]), statistics.median(lat["remote"])
        bw_local, bw_remote = statistics.median(bw["local"]), statistics.median(bw["remote"])
        rows.append(("HTTP GET, pod to pod", f"{lat_remote * 1000:.2f} ms across hosts",
                     f"{lat_local * 1000:.2f} ms on one host", f"{lat_remote / max(lat_local, 1e-9):.2f}x"))
        rows.append((f"{a.mib} MiB download, pod to pod", f"{bw_remote:.0f} MiB/s across hosts",
                     f"{bw_local:.0f} MiB/s on one host", f"{bw_remote / max(bw_local, 1e-9):.2f}x"))
    finally:
        b.down()
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in [("measure", "kubelite lab", "baseline", "ratio"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)))


if __name__ == "__main__":
    main()
