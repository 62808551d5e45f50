"""Cluster-level logging on real processes: the log store add-on (`python -m addons.logstore`),
the node log agent (`python -m addons.logagent`) finding it through its published Endpoints and
labelling lines from the real API server, SIGKILLed and restarted while the kubelet's own writer
rotates the file: every line arrives exactly once. The service proxy's refusals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kubelet.logs import RotatingWriter, container_log_path
from machinery.client import ApiClient
from tests.integration.conftest import ApiServerProcess
from tests.support import free_port, spawn_python, stop_process_group, wait_until

pytestmark = pytest.mark.integration
NODE = "logs-node-1"
TOTAL = 3000


class Procs:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        p = spawn_python(args, self.tmp / f"{name}.log")
        self.procs.append(p)
        return p

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        for proc in p.procs:
            stop_process_group(proc, 10.0)


async def _store_lines(base: str, **params: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
        r = await http.get("/v1/search", params={"limit": "100000", **params})
        r.raise_for_status()
        items: list[dict[str, object]] = r.json()["items"]
        return items


async def test_agent_restarts_and_rotation_lose_and_repeat_nothing(
        apiserver: ApiServerProcess, namespace: str, procs: Procs, tmp_path: Path) -> None:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as api:
        pod = await api.request("POST", f"/api/v1/namespaces/{namespace}/pods", json={
            "metadata": {"name": "web-1", "labels": {"app": "web"}},
            "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "kubelite/busybox:latest"}]}})
    uid = pod["metadata"]["uid"]
    port = free_port()
    store = f"http://127.0.0.1:{port}"
    procs.spawn(["-m", "addons.logstore", "--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "db" / "l.db"),
                 "--kubeconfig", apiserver.kubeconfig, "--publish-ip", "127.0.0.1"], "logstore")
    log_dir = tmp_path / "pods"
    agent_args = ["-m", "addons.logagent", "--kubeconfig", apiserver.kubeconfig, "--node-name", NODE,
                  "--log-dir", str(log_dir), "--state-file", str(tmp_path / "agent" / "offsets.json"),
                  "--poll-s", "0.1", "--batch-lines", "200"]
    agent = procs.spawn(agent_args, "agent")

    path = container_log_path(str(log_dir), namespace, "web-1", uid, "app", 0)
    writer = RotatingWriter(path, max_bytes=64 * 1024, max_files=5)

    def write() -> None:
        for i in range(TOTAL):
            writer.write(f"2024-05-01T10:{i // 6000:02d}:{i // 100 % 60:02d}.{i % 100:02d}0000000Z", "stdout",
                         f"request {i:05d} served in {i % 97} ms".encode())
            writer.flush()
            if i % 50 == 0:
                time.sleep(0.02)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        await wait_until(lambda: _has_some(store), timeout_s=60, interval_s=0.2,
                         message=f"nothing shipped:\n{procs.log('agent')}\n{procs.log('logstore')}")
        os.killpg(agent.pid, signal.SIGKILL)  # no clean shutdown: offsets as last committed
        agent.wait(10)
        await asyncio.sleep(0.5)
        procs.spawn(agent_args, "agent")
    finally:
        await asyncio.to_thread(thread.join)
        writer.close()
    assert len(list(path.parent.iterdir())) > 1, "the writer never rotated"

    async def all_there() -> bool:
        return len(await _store_lines(store)) >= TOTAL

    await wait_until(all_there, timeout_s=90, interval_s=0.5, message=procs.log("agent"))
    await asyncio.sleep(1.0)  # anything repeated would arrive now
    items = await _store_lines(store)
    assert [i["line"] for i in items] == [f"request {i:05d} served in {i % 97} ms" for i in range(TOTAL)]
    assert {(i["namespace"], i["pod"], i["container"], i["node"]) for i in items} == {(namespace, "web-1", "app", NODE)}
    assert items[-1]["labels"] == {"app": "web"}
    hits = await _store_lines(store, grep="request 01234 ", labelSelector="app=web", namespace=namespace)
    assert [h["line"] for h in hits] == ["request 01234 served in 70 ms"]


async def _has_some(base: str) -> bool:
    try:
        return bool(await _store_lines(base))
    except httpx.HTTPError:
        return False


async def test_service_proxy_answers(apiserver: ApiServerProcess, namespace: str) -> None:
    async with apiserver.http(timeout=10.0) as http:
        base = f"/api/v1/namespaces/{namespace}/services"
        r = await http.get(f"{base}/nope:http/proxy/v1/search")
        assert r.status_code == 404 and r.json()["reason"] == "NotFound"
        svc = {"metadata": {"name": "store"}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
        assert (await http.post(base, json=svc)).status_code == 201
        r = await http.get(f"{base}/store:http/proxy/")
        assert r.status_code == 503 and 'no endpoints available for service "store"' in r.json()["message"]
        r = await http.get(f"{base}/store:nope/proxy/")
        assert r.status_code == 400 and r.json()["kind"] == "Status"
        r = await http.get(f"{base}/https:store:http/proxy/")
        assert r.status_code == 400
        eps = {"metadata": {"name": "store"}, "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                                                           "ports": [{"name": "http", "port": 8080}]}]}
        created = await http.post(f"/api/v1/namespaces/{namespace}/endpoints", json=eps)
        if created.status_code == 201:  # loopback endpoints are never proxied to, as in Kubernetes
            r = await http.get(f"{base}/store/proxy/")
            assert r.status_code == 503 and "address not allowed" in r.json()["message"]


def test_cli_grep_without_a_reachable_store(apiserver: ApiServerProcess) -> None:
    kubelite = str(Path(sys.executable).parent / "kubelite")
    out = subprocess.run([kubelite, "--kubeconfig", apiserver.kubeconfig, "logs", "--grep", "x", "-A"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "log store is not reachable" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([kubelite, "--kubeconfig", apiserver.kubeconfig, "logs"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "POD or TYPE/NAME is a required argument for the logs command" in out.stderr
