"""e2e fixtures: a real cluster of etcd + API server + kubelet (+ control plane) on real Docker.

`cluster` (module scope) starts its own etcd (tests.support.EtcdProcess), the API server
(`python -m apiserver`, which mounts the kubelet log/exec proxy itself) and one kubelet, all on
free ports with a temp root dir, a per-module cluster name (every container carries it as a
label) and a pod CIDR inside 10.244.0.0/16 no other Docker network uses.

`full_cluster` (module scope) is the same plus the scheduler (`python -m scheduler`) and the
controller-manager (`python -m controllers`): pods need not be bound by hand and workload
controllers (ReplicaSet, Deployment, StatefulSet, GC, namespace, volumes) run; the local-path
provisioner keeps its volumes under `<tmp>/local-path`. `Cluster.kill_controllers()` SIGKILLs
the controller-manager and `Cluster.start_controllers()` starts it again.

Teardown stops the processes and removes the cluster's containers and pod network, even when
a test failed. `Cluster.restart_kubelet()` stops and starts the kubelet (adoption tests);
`Cluster.pod(...)` builds a pod manifest bound to the node.

`PodObserver` watches an app's pods and records (live, ready) counts after every event, to check
rollout bounds at every observed point; `is_ready(pod)` / `live(pods)` work on raw pod dicts.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest

from machinery.client import ApiClient
from tests.cleanup import Cleanup, remove_network
from tests.support import (
    EtcdProcess,
    admin_http_sync,
    apiserver_tls_args,
    free_port,
    kubelet_tls_args,
    node_cert,
    tls_context,
    write_test_kubeconfig,
)

ROOT = Path(__file__).resolve().parents[2]


def _free_subnet(client: docker.DockerClient) -> str:
    used = {c.get("Subnet") for n in client.networks.list()
            for c in ((n.attrs.get("IPAM") or {}).get("Config") or [])}
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
            self.popen = subprocess.Popen(self.args, stdout=fh, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL,
                                          cwd=ROOT, start_new_session=True)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout_s: float = 10) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crashed process."""
        if self.popen is not None and self.popen.poll() is None:
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
    scheduler: Proc | None = None
    controllers: Proc | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.tmp / "logs"

    def kubeconfig_for(self, stem: str) -> Path:
        """A kubeconfig as a component's own identity (a certificate stem of
        tests.support.session_pki(): "kube-proxy", "kube-dns", "logstore", "metrics-server"...),
        so add-ons run under their system role as `kubelite up` runs them."""
        path = self.tmp / f"{stem}.kubeconfig"
        if not path.exists():
            write_test_kubeconfig(path, self.server, user=stem)
        return path

    def client(self) -> ApiClient:
        """An API client as the cluster admin (the kubeconfig's client certificate)."""
        return ApiClient.from_kubeconfig(str(self.kubeconfig), timeout_s=30.0)

    def http_sync(self, **kwargs: Any) -> httpx.Client:
        """Raw httpx on the API server as the cluster admin."""
        return admin_http_sync(self.server, **kwargs)

    def start_kubelet(self) -> None:
        self.kubelet.start()
        _wait_http(f"https://127.0.0.1:{self.kubelet_port}/healthz", 60, self.kubelet)

    def restart_kubelet(self) -> None:
        self.kubelet.stop()
        self.start_kubelet()

    def start_controllers(self) -> None:
        assert self.controllers is not None, "use the full_cluster fixture"
        self.controllers.start()

    def kill_controllers(self) -> None:
        assert self.controllers is not None, "use the full_cluster fixture"
        self.controllers.kill()

    def pod(self, name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"containers": containers, "nodeName": self.node,
                                "terminationGracePeriodSeconds": 2, **spec}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                "spec": body}

    def docker_containers(self, **labels: str) -> list[Any]:
        client = docker.from_env()
        try:
            flt = [f"io.kubelite.cluster={self.name}", *(f"{k}={v}" for k, v in labels.items())]
            for _ in range(10):
                try:
                    return list(client.containers.list(all=True, filters={"label": flt}))
                except docker.errors.NotFound:
                    continue  # docker-py inspects each listed container: one was removed in between
            return list(client.containers.list(all=True, filters={"label": flt}))
        finally:
            client.close()

    def logs(self) -> str:
        """Tails of every component log, for assertion messages."""
        procs = [self.apiserver, self.kubelet, self.scheduler, self.controllers]
        return "\n".join(f"--- {p.log.name}\n{p.tail()}" for p in procs if p is not None)


def is_ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def live(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


EXTRA_S = 10.0  # how long one pod over maxSurge may last in PodObserver.check (see there)


@dataclass
class PodObserver:
    """Watches the pods labelled app=APP and records (live, ready) after every event, in etcd order.

    `start()` lists then watches from the list's resourceVersion (no gap); `stop()` re-raises a
    watch failure; `check(...)` asserts the RollingUpdate bounds held at every recorded point.
    """

    api: ApiClient
    app: str
    namespace: str = "default"
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: list[tuple[int, int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() of each point
    names: set[str] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def _record(self) -> None:
        pods = list(self.pods.values())
        self.points.append((len(live(pods)), sum(is_ready(p) for p in pods)))
        self.times.append(time.monotonic())

    async def start(self) -> None:
        body = await self.api.request("GET", self._path(), params={"labelSelector": f"app={self.app}"})
        for p in body["items"]:
            self.pods[p["metadata"]["name"]] = p
        self.names.update(self.pods)
        self._record()
        self.task = asyncio.create_task(self._run(body["metadata"]["resourceVersion"]))

    async def _run(self, rv: str) -> None:
        while True:
            params = {"watch": "1", "resourceVersion": rv, "labelSelector": f"app={self.app}",
                      "timeoutSeconds": "30"}
            async for line in self.api.stream_lines(self._path(), params=params, timeout_s=30):
                if not line.strip():
                    continue
                ev = json.loads(line)
                obj = ev["object"]
                if ev["type"] == "ERROR":
                    raise AssertionError(f"watch error: {obj}")
                rv = obj["metadata"]["resourceVersion"]
                if ev["type"] == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if ev["type"] == "DELETED":
                    self.pods.pop(name, None)
                else:
                    self.pods[name] = obj
                    self.names.add(name)
                self._record()

    async def stop(self) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # surface a watch failure
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task

    def check(self, *, replicas: int, max_surge: int, max_unavailable: int) -> None:
        assert len(self.points) > 3, f"too few observations: {self.points}"
        too_few = [pt for pt in self.points if pt[1] < replicas - max_unavailable]
        # maxSurge bounds the ReplicaSets' replicas, as in Kubernetes, not pods in flight: when the
        # old ReplicaSet's scale-down delete and the new one's scale-up create race, one extra
        # pod may be seen until the old ReplicaSet's sync deletes its pod (on a loaded machine,
        # after the new pod's scheduling and status events). More than one extra, or an extra
        # that lasts EXTRA_S, is a real surge violation (e.g. double creation).
        limit = replicas + max_surge
        too_many = [pt for pt in self.points if pt[0] > limit + 1]
        since: float | None = None
        for pt, at in zip(self.points, self.times, strict=True):
            if pt[0] <= limit:
                since = None
                continue
            since = at if since is None else since
            if at - since > EXTRA_S:
                too_many.append(pt)
        assert not too_few, f"ready dropped below {replicas - max_unavailable}: {self.points}"
        assert not too_many, f"more than {limit} live pods beyond a single event: {self.points}"


def _wait_http(url: str, timeout_s: float, proc: Proc) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited ({proc.popen.returncode}):\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1, trust_env=False, verify=tls_context()).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s}s:\n{proc.tail()}")


def _wait_node_ready(server: str, node: str, timeout_s: float, kubelet: Proc) -> None:
    """The kubelet registered its Node and reports Ready (a loaded machine can take many seconds
    to start a Python daemon; tests must not race its start-up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if kubelet.popen is not None and kubelet.popen.poll() is not None:
            raise RuntimeError(f"the kubelet exited ({kubelet.popen.returncode}):\n{kubelet.tail()}")
        try:
            r = httpx.get(f"{server}/api/v1/nodes/{node}", timeout=2, trust_env=False, verify=tls_context())
            if r.status_code == 200:
                conds = (r.json().get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"node {node} not Ready within {timeout_s}s:\n{kubelet.tail()}")


@contextmanager
def run_cluster(*, control_plane: bool = False, controller_args: tuple[str, ...] = (),
                kubelet_args: tuple[str, ...] = (), node_ip_on_bridge: bool = False) -> Iterator[Cluster]:
    """Start a one-node cluster (with scheduler + controller-manager if `control_plane`;
    `controller_args` are more controller-manager flags, e.g. short node lifecycle periods;
    `kubelet_args` more kubelet flags, e.g. a short stats interval).
    `node_ip_on_bridge`: the Node's address is its pod bridge's gateway instead of 127.0.0.1
    (LoadBalancer tests: a node address the host and pods can both reach; the kubelet still
    listens on 127.0.0.1, so logs/exec through the API server do not work there)."""
    tag = f"e2e{random.randrange(10**6):06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f"kubelite-{tag}-"))
    dclient = docker.from_env()
    etcd = EtcdProcess(tmp / "etcd")
    api_port, kubelet_port = free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    # Each component with its own identity, as kubeadm's kubeconfigs; tests use the admin's.
    kubeconfig = write_test_kubeconfig(tmp / "kubeconfig", server)
    kubelet_kubeconfig = write_test_kubeconfig(tmp / "kubelet.kubeconfig", server, user=node_cert(f"node-{tag}"))
    pod_cidr = _free_subnet(dclient)
    node_ip = pod_cidr.rsplit(".", 1)[0] + ".1" if node_ip_on_bridge else "127.0.0.1"
    py = sys.executable
    apiserver = Proc([py, "-m", "apiserver", "--etcd-servers", etcd.url, "--bind-address", "127.0.0.1",
                      "--port", str(api_port), "--log-level", "warning", *apiserver_tls_args(),
                      # Without a controller-manager no `default` ServiceAccount nor kube-root-ca.crt
                      # exists: the `cluster` fixture runs without the ServiceAccount admission.
                      *([] if control_plane else ["--disable-admission-plugins", "ServiceAccount"])],
                     tmp / "apiserver.log")
    kubelet = Proc([py, "-m", "kubelet", "--kubeconfig", str(kubelet_kubeconfig), "--node-name", f"node-{tag}",
                    "--node-ip", node_ip, "--address", "127.0.0.1", "--port", str(kubelet_port),
                    *kubelet_tls_args(f"node-{tag}", [node_ip]),
                    "--pod-cidr", pod_cidr, "--root-dir", str(tmp / "root"), "--log-dir", str(tmp / "logs"),
                    "--cluster-name", tag, "--heartbeat-s", "2", "--resync-s", "2",
                    "--container-log-max-size", "4Ki", "--container-log-max-files", "3", *kubelet_args],
                   tmp / "kubelet.log")
    c = Cluster(name=tag, node=f"node-{tag}", server=server, kubeconfig=kubeconfig, tmp=tmp,
                pod_cidr=pod_cidr,
                kubelet_port=kubelet_port, etcd=etcd, apiserver=apiserver, kubelet=kubelet)
    if control_plane:
        sched_kc = write_test_kubeconfig(tmp / "scheduler.kubeconfig", server, user="scheduler")
        cm_kc = write_test_kubeconfig(tmp / "controller-manager.kubeconfig", server, user="controller-manager")
        c.scheduler = Proc([py, "-m", "scheduler", "--kubeconfig", str(sched_kc)], tmp / "scheduler.log")
        c.controllers = Proc([py, "-m", "controllers", "--kubeconfig", str(cm_kc),
                              "--local-path-dir", str(tmp / "local-path"), *controller_args], tmp / "controllers.log")
    failing = False
    try:
        etcd.start()
        apiserver.start()
        _wait_http(f"{server}/readyz", 60, apiserver)
        c.start_kubelet()
        _wait_node_ready(server, c.node, 120, kubelet)
        if c.scheduler is not None:
            c.scheduler.start()
        if c.controllers is not None:
            c.start_controllers()
        yield c
    except BaseException:
        failing = True
        raise
    finally:
        _teardown(c, dclient).run(failing=failing)


def _remove_containers(dclient: docker.DockerClient, tag: str) -> None:
    # the low-level list does not inspect each container (one removed meanwhile would raise)
    for ctr in dclient.api.containers(all=True, quiet=True, filters={"label": f"io.kubelite.cluster={tag}"}):
        with suppress(docker.errors.NotFound):
            dclient.api.remove_container(ctr["Id"], force=True)


def _teardown(c: Cluster, dclient: docker.DockerClient) -> Cleanup:
    """Every step runs even if one fails; a failure never hides the test's own error."""
    steps = Cleanup()
    # Controllers first so they do not recreate pods while we clean up.
    for proc in (c.controllers, c.scheduler):
        if proc is not None:
            steps.add(f"stopping {proc.args[2]}", proc.stop)
    steps.add("stopping the kubelet", c.kubelet.stop)
    steps.add("removing the cluster's containers", lambda: _remove_containers(dclient, c.name))
    steps.add(f"removing network kubelite-{c.name}", lambda: remove_network(dclient, f"kubelite-{c.name}"))
    steps.add("stopping the API server", c.apiserver.stop)
    steps.add("stopping etcd", c.etcd.cleanup)
    steps.add("closing the Docker client", dclient.close)
    if os.environ.get("KUBELITE_KEEP_E2E_LOGS"):
        print(f"e2e logs kept in {c.tmp}")
    else:
        steps.add("removing the temp dir", lambda: subprocess.run(["rm", "-rf", str(c.tmp)], check=False))
    return steps


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with run_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def full_cluster() -> Iterator[Cluster]:
    with run_cluster(control_plane=True) as c:
        yield c


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    client = cluster.client()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def full_api(full_cluster: Cluster) -> AsyncIterator[ApiClient]:
    client = full_cluster.client()
    try:
        yield client
    finally:
        await client.aclose()
