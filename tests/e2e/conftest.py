"""e2e fixtures: a real cluster of etcd + API server + kubelet processes on real Docker.

`cluster` (module scope) starts its own etcd (tests.support.EtcdProcess), the API server
(`python -m apiserver`, with the kubelet log/exec proxy mounted) and one kubelet, all on free
ports with a temp root dir, a per-module cluster name (every container carries it as a
label) and a pod CIDR inside 10.244.0.0/16 no other Docker network uses. Teardown stops the
processes and removes the cluster's containers and pod network, even when a test failed.
`Cluster.restart_kubelet()` stops and starts the kubelet (adoption tests); `Cluster.pod(...)`
builds a pod manifest bound to the node.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from machinery.client import ApiClient
from tests.support import EtcdProcess, free_port

ROOT = Path(__file__).resolve().parents[2]

# The API server with the kubelet proxy mounted, whether or not `python -m apiserver` does it yet.
APISERVER_LAUNCHER = """
import sys, uvicorn
from apiserver.app import create_app
from apiserver.config import parse_args
from apiserver.kubelet_proxy import router
cfg = parse_args(sys.argv[1:])
uvicorn.run(create_app(cfg, extra_routers=[router]), host=cfg.bind_address, port=cfg.port,
            log_level="warning", timeout_graceful_shutdown=2)
"""


def _free_subnet(client: docker.DockerClient) -> str:
    used = {c.get("Subnet") for n in client.networks.list() for c in ((n.attrs.get("IPAM") or {}).get("Config") or [])}
    for _ in range(200):
        s = f"10.244.{random.randrange(100, 150)}.0/24"
        if s not in used:
            return s
    raise RuntimeError("no free /24 in 10.244.100-149")


@dataclass
class Proc:
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as fh:
            self.popen = subprocess.Popen(self.args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          cwd=ROOT, start_new_session=True)

    def stop(self, timeout_s: float = 10) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def tail(self) -> str:
        try:
            return self.log.read_text()[-3000:]
        except OSError:
            return ""


@dataclass
class Cluster:
    name: str
    node: str
    server: str
    kubeconfig: Path
    tmp: Path
    pod_cidr: str
    kubelet_port: int
    etcd: EtcdProcess
    apiserver: Proc
    kubelet: Proc
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.tmp / "logs"

    def client(self) -> ApiClient:
        return ApiClient(self.server, timeout_s=30.0)

    def start_kubelet(self) -> None:
        self.kubelet.start()
        _wait_http(f"http://127.0.0.1:{self.kubelet_port}/healthz", 60, self.kubelet)

    def restart_kubelet(self) -> None:
        self.kubelet.stop()
        self.start_kubelet()

    def pod(self, name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"containers": containers, "nodeName": self.node,
                                "terminationGracePeriodSeconds": 2, **spec}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": body}

    def docker_containers(self, **labels: str) -> list[Any]:
        client = docker.from_env()
        try:
            flt = [f"io.kubelite.cluster={self.name}", *(f"{k}={v}" for k, v in labels.items())]
            return list(client.containers.list(all=True, filters={"label": flt}))
        finally:
            client.close()


def _wait_http(url: str, timeout_s: float, proc: Proc) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited ({proc.popen.returncode}):\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s}s:\n{proc.tail()}")


def _write_kubeconfig(path: Path, server: str) -> None:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {{server: "{server}"}}
users:
- name: e2e
  user: {{}}
contexts:
- name: e2e
  context: {{cluster: e2e, user: e2e}}
current-context: e2e
""")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    tag = f"e2e{random.randrange(10**6):06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f"kubelite-{tag}-"))
    dclient = docker.from_env()
    etcd = EtcdProcess(tmp / "etcd")
    api_port, kubelet_port = free_port(), free_port()
    server = f"http://127.0.0.1:{api_port}"
    kubeconfig = tmp / "kubeconfig"
    _write_kubeconfig(kubeconfig, server)
    pod_cidr = _free_subnet(dclient)
    apiserver = Proc([sys.executable, "-c", APISERVER_LAUNCHER, "--etcd-servers", "", "--bind-address",
                      "127.0.0.1", "--port", str(api_port)], tmp / "apiserver.log")
    kubelet = Proc([sys.executable, "-m", "kubelet", "--kubeconfig", str(kubeconfig), "--node-name", f"node-{tag}",
                    "--node-ip", "127.0.0.1", "--address", "127.0.0.1", "--port", str(kubelet_port),
                    "--pod-cidr", pod_cidr, "--root-dir", str(tmp / "root"), "--log-dir", str(tmp / "logs"),
                    "--cluster-name", tag, "--heartbeat-s", "2", "--resync-s", "2",
                    "--container-log-max-size", "4Ki", "--container-log-max-files", "3"], tmp / "kubelet.log")
    c = Cluster(name=tag, node=f"node-{tag}", server=server, kubeconfig=kubeconfig, tmp=tmp, pod_cidr=pod_cidr,
                kubelet_port=kubelet_port, etcd=etcd, apiserver=apiserver, kubelet=kubelet)
    try:
        etcd.start()
        apiserver.args[apiserver.args.index("--etcd-servers") + 1] = etcd.url
        apiserver.start()
        _wait_http(f"{server}/readyz", 60, apiserver)
        c.start_kubelet()
        yield c
    finally:
        kubelet.stop()
        for ctr in dclient.containers.list(all=True, filters={"label": f"io.kubelite.cluster={tag}"}):
            ctr.remove(force=True)
        for net in dclient.networks.list(names=[f"kubelite-{tag}"]):
            net.remove()
        apiserver.stop()
        etcd.cleanup()
        dclient.close()
        if os.environ.get("KUBELITE_KEEP_E2E_LOGS"):
            print(f"e2e logs kept in {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    client = cluster.client()
    try:
        yield client
    finally:
        await client.aclose()
