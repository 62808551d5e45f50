"""Benchmark: streaming through kubelite (exec, port-forward) beside the same transfer without it.

In one run, on this machine, against a one-node cluster of its own (etcd, API server, kubelet
on free ports and temp dirs; removed afterwards) and one busybox pod:
1. download of N MiB from a TCP server in the pod: directly from the pod IP on the node's
   bridge (baseline), through `kubectl port-forward` (SPDY/3.1 over WebSocket, relayed by the
   API server to the kubelet, which dials inside the pod) and through the official Python
   client's `portforward` (v4 channel protocol);
2. `head -c N MiB /dev/zero` through `kubectl exec` beside `docker exec` of the same container;
3. latency of `true` run 10 times through `kubectl exec` beside `docker exec` (median).
Figures are MiB/s (or seconds) with the kubelite/baseline ratio.

    .venv/bin/python bench/streams.py            # 64 MiB
    .venv/bin/python bench/streams.py --mib 16
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import Cluster, run_cluster  # noqa: E402
from tests.support import free_port  # noqa: E402

KUBECTL = str(ROOT / ".venv" / "bin" / "kubectl")
IMAGE = "kubelite/busybox:latest"


def _drain(sock: socket.socket, expected: int) -> int:
    got = 0
    while got < expected:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    return got


def _timed(fn: Callable[[], int], expected: int) -> float:
    start = time.perf_counter()
    got = fn()
    elapsed = time.perf_counter() - start
    if got != expected:
        raise RuntimeError(f"received {got} of {expected} bytes")
    return elapsed


def _wait_pod(cluster: Cluster, env: dict[str, str]) -> str:
    subprocess.run([KUBECTL, "wait", "--for=condition=Ready", "pod/bench", "--timeout=90s"], env=env, check=True,
                   capture_output=True, timeout=100)
    out = subprocess.run([KUBECTL, "get", "pod", "bench", "-o", "jsonpath={.status.podIP}"], env=env, check=True,
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def run(mib: int) -> list[tuple[str, float, float, str]]:
    size = mib * 1024 * 1024
    rows: list[tuple[str, float, float, str]] = []
    with run_cluster() as cluster:
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.tmp)}
        script = f"exec nc -ll -p 7002 -e head -c {size} /dev/zero"
        manifest = cluster.pod("bench", [{"name": "main", "image": IMAGE, "command": ["sh", "-c", script]}])
        import json

        subprocess.run([KUBECTL, "apply", "-f", "-"], input=json.dumps(manifest), text=True, env=env, check=True,
                       capture_output=True, timeout=60)
        pod_ip = _wait_pod(cluster, env)

        def direct() -> int:
            with socket.create_connection((pod_ip, 7002), timeout=60) as s:
                return _drain(s, size)

        base = min(_timed(direct, size) for _ in range(3))

        local = free_port()
        pf = subprocess.Popen([KUBECTL, "port-forward", "--address", "127.0.0.1", "pod/bench", f"{local}:7002"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert pf.stdout is not None
            pf.stdout.readline()

            def via_kubectl() -> int:
                with socket.create_connection(("127.0.0.1", local), timeout=60) as s:
                    return _drain(s, size)

            ours = min(_timed(via_kubectl, size) for _ in range(3))
        finally:
            pf.terminate()
            pf.wait(10)
        rows.append(("port-forward download, kubectl (MiB/s)", mib / ours, mib / base, "direct to pod IP"))

        from kubernetes import client as k8s
        from kubernetes import config as k8s_config
        from kubernetes.stream import portforward

        cfg = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
        core = k8s.CoreV1Api(k8s.ApiClient(cfg))

        def via_client() -> int:
            session = portforward(core.connect_get_namespaced_pod_portforward, "bench", "default", ports="7002")
            try:
                sock = session.socket(7002)
                sock.settimeout(60)
                return _drain(sock, size)
            finally:
                session.close()

        ours = min(_timed(via_client, size) for _ in range(3))
        rows.append(("port-forward download, Python client (MiB/s)", mib / ours, mib / base, "direct to pod IP"))

        cid = cluster.docker_containers(**{"io.kubernetes.container.name": "main"})[0].id
        cmd = ["head", "-c", str(size), "/dev/zero"]

        def kubectl_exec() -> int:
            out = subprocess.run([KUBECTL, "exec", "bench", "--", *cmd], env=env, capture_output=True, timeout=120)
            return len(out.stdout)

        def docker_exec() -> int:
            return len(subprocess.run(["docker", "exec", cid, *cmd], capture_output=True, timeout=120).stdout)

        ours, base = min(_timed(kubectl_exec, size) for _ in range(3)), min(_timed(docker_exec, size) for _ in range(3))
        rows.append(("exec output (MiB/s)", mib / ours, mib / base, "docker exec"))

        def latency(args: list[str], extra_env: dict[str, str] | None = None) -> float:
            samples = []
            for _ in range(10):
                start = time.perf_counter()
                subprocess.run(args, env=extra_env, check=True, capture_output=True, timeout=60)
                samples.append(time.perf_counter() - start)
            return statistics.median(samples)

        ours = latency([KUBECTL, "exec", "bench", "--", "true"], env)
        base = latency(["docker", "exec", cid, "true"])
        rows.append(("exec `true` round trip, median (s)", ours, base, "docker exec"))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=int, default=64)
    args = p.parse_args()
    rows = run(args.mib)
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'kubelite':>10}  {'baseline':>10}  ratio  baseline is")
    for name, ours, base, what in rows:
        print(f"{name:{width}}  {ours:10.3f}  {base:10.3f}  {ours / base:5.2f}  {what}")


if __name__ == "__main__":
    main()
