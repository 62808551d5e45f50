"""Chaos on `kubelite up --ha` (3 etcd members, 2 API servers behind HAProxy, 2 leader-elected
schedulers and controller-managers; hollow nodes instead of Docker): during a 30-pod rolling
update, one etcd member, one API server, the leading scheduler and the leading
controller-manager are SIGKILLed one at a time (the supervisor restarts each, as a real
supervisor would; the survivors must carry on meanwhile). Then: the rollout completes, every
write acknowledged to a client is there, no pod is duplicated, and the Service's Endpoints
list exactly the new pods. Bounded: about a minute and a half on a quiet machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from machinery import errors
from machinery.client import ApiClient
from tests.support import free_port_range, wait_until

pytestmark = pytest.mark.integration
KUBELITE = str(Path(sys.executable).parent / "kubelite")
ROOT = Path(__file__).resolve().parents[2]
REPLICAS = 30
NS = "chaos"


class HaCluster:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "KUBELITE_HOME": str(home), "KUBELITE_DEBUG": ""}
        self.api_port, self.etcd_port = free_port_range(3), free_port_range(6)
        self.hollow: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout_s: float = 180.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBELITE, *args], capture_output=True, text=True, timeout=timeout_s, env=self.env)

    def up(self) -> None:
        out = self.run("up", "--ha", "--api-port", str(self.api_port), "--etcd-port", str(self.etcd_port),
                       "--components", "scheduler,controllers", "--cluster-name", f"ch{uuid.uuid4().hex[:6]}")
        assert out.returncode == 0, out.stdout + out.stderr
        with open(self.home / "logs" / "hollow.log", "wb") as log:
            self.hollow = subprocess.Popen(
                [sys.executable, "-m", "kubelet.hollow", "--count", "3", "--prefix", "chaos-", "--run-delay-s", "0.2",
                 "--cpu", "32", "--memory", "64Gi", "--pods", "110", "--kubeconfig", str(self.home / "kubeconfig")],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env)

    def pid(self, name: str) -> int:
        return int(json.loads((self.home / "run" / "state.json").read_text())["components"][name]["pid"])

    def kill(self, name: str) -> int:
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def down(self) -> None:
        if self.hollow is not None and self.hollow.poll() is None:
            os.killpg(self.hollow.pid, signal.SIGKILL)
            self.hollow.wait(10)
        self.run("down", "--purge")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HaCluster]:
    c = HaCluster(tmp_path / "home")
    try:
        c.up()
        yield c
    finally:
        c.down()


def _deployment(image_tag: str) -> dict[str, Any]:
    labels = {"app": "chaos"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                     "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": f"kubelite/busybox:{image_tag}",
                                                           "ports": [{"containerPort": 80}]}]}}}}


class Writer:
    """Creates ConfigMaps in a loop and remembers every one the API acknowledged."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.acked: dict[str, str] = {}
        self.failed = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            name, value = f"w-{n}", uuid.uuid4().hex
            n += 1
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}
            try:
                await self.client.request("POST", f"/api/v1/namespaces/{NS}/configmaps", json=body)
                self.acked[name] = value
            except errors.AlreadyExists:
                # Our own retry of a create whose answer was lost: acknowledged only if it is ours.
                got = await self.client.request("GET", f"/api/v1/namespaces/{NS}/configmaps/{name}")
                if got["data"]["v"] == value:
                    self.acked[name] = value
            except errors.ApiError:
                self.failed += 1  # not acknowledged: nothing to check
            await asyncio.sleep(0.05)


async def _rs_of(c: ApiClient, image_tag: str) -> dict[str, Any] | None:
    items = (await c.request("GET", f"/apis/apps/v1/namespaces/{NS}/replicasets"))["items"]
    for rs in items:
        if rs["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{image_tag}"):
            return dict(rs)
    return None


async def _updated_ready(c: ApiClient, image_tag: str) -> int:
    rs = await _rs_of(c, image_tag)
    return int(((rs or {}).get("status") or {}).get("readyReplicas") or 0)


async def test_rollout_survives_killing_each_control_plane_member(cluster: HaCluster) -> None:
    async def three_leaders() -> bool:  # an etcd leader, a scheduler and a c-m leader (elections take a while)
        status = await asyncio.to_thread(cluster.run, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        return status.stdout.count(" leader") >= 3

    await wait_until(three_leaders, timeout_s=60, interval_s=1.0,
                     message=f"no leader of each:\n{cluster.run('status').stdout}")
    async with ApiClient.from_kubeconfig(str(cluster.home / "kubeconfig")) as c:
        await c.request("POST", "/api/v1/namespaces", json={"metadata": {"name": NS}})
        await c.request("POST", f"/api/v1/namespaces/{NS}/services", json={
            "metadata": {"name": "web"}, "spec": {"selector": {"app": "chaos"}, "ports": [{"port": 80}]}})
        await c.request("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", json=_deployment("v1"))

        async def v1_ready() -> bool:
            return await _updated_ready(c, "v1") == REPLICAS
        await wait_until(v1_ready, timeout_s=90, interval_s=0.5, message="the first 30 pods never became ready")

        writer = Writer(c)
        writing = asyncio.create_task(writer.run())
        # The rolling update to v2, with one control-plane member killed per step of progress.
        await c.request("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/web",
                        json={"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "kubelite/busybox:v2"}]}}}},
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
        killed: list[str] = []
        holders = await _holders(c)
        victims = ["etcd-1", "apiserver-0", _pid_owner(cluster, holders["kube-scheduler"], "scheduler"),
                   _pid_owner(cluster, holders["kube-controller-manager"], "controllers")]
        for step, victim in enumerate(victims):
            async def progressed(step: int = step) -> bool:
                return await _updated_ready(c, "v2") >= step * 4
            await wait_until(progressed, timeout_s=120, interval_s=0.3, message=f"no progress before killing {victim}")
            cluster.kill(victim)
            killed.append(victim)

        async def rolled_out() -> bool:
            d = await c.request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/web")
            st = d.get("status") or {}
            return (st.get("observedGeneration") == d["metadata"]["generation"] and st.get("updatedReplicas") == REPLICAS
                    and st.get("availableReplicas") == REPLICAS and st.get("replicas") == REPLICAS)
        await wait_until(rolled_out, timeout_s=150, interval_s=0.5, message=f"rollout stuck after killing {killed}")
        writer.stop.set()
        await writing

        # No duplicate pods: exactly 30 live pods, all of v2, with distinct names and IPs.
        pods = [p for p in (await c.request("GET", f"/api/v1/namespaces/{NS}/pods"))["items"]
                if not p["metadata"].get("deletionTimestamp")]
        async def settled() -> bool:
            nonlocal pods
            pods = [p for p in (await c.request("GET", f"/api/v1/namespaces/{NS}/pods"))["items"]
                    if not p["metadata"].get("deletionTimestamp")]
            return len(pods) == REPLICAS
        await wait_until(settled, timeout_s=60, interval_s=0.5, message="old pods not gone")
        assert all(p["spec"]["containers"][0]["image"].endswith(":v2") for p in pods)
        assert len({p["status"].get("podIP") for p in pods}) == REPLICAS

        # Every acknowledged write survived.
        cms = {cm["metadata"]["name"]: cm["data"]["v"]
               for cm in (await c.request("GET", f"/api/v1/namespaces/{NS}/configmaps"))["items"]
               if cm["metadata"]["name"].startswith("w-")}
        assert len(writer.acked) > 20
        assert {k: cms.get(k) for k in writer.acked} == writer.acked

        # The Service's Endpoints name exactly the 30 ready pods.
        want = sorted(p["status"]["podIP"] for p in pods)

        async def endpoints_right() -> bool:
            try:
                ep = await c.request("GET", f"/api/v1/namespaces/{NS}/endpoints/web")
            except errors.NotFound:
                return False
            got = sorted(a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or [])
            return got == want
        await wait_until(endpoints_right, timeout_s=60, interval_s=0.5, message="Endpoints never matched the pods")
        for victim in killed:  # each was restarted by the supervisor
            assert json.loads((cluster.home / "run" / "state.json").read_text())["components"][victim]["restarts"] >= 1


async def _holders(c: ApiClient) -> dict[str, str]:
    out = {}
    for lease in ("kube-scheduler", "kube-controller-manager"):
        body = await c.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
        out[lease] = str(body["spec"]["holderIdentity"])
    return out


def _pid_owner(cluster: HaCluster, identity: str, kind: str) -> str:
    pid = int(identity.rsplit("_", 1)[1])
    for i in range(2):
        if cluster.pid(f"{kind}-{i}") == pid:
            return f"{kind}-{i}"
    raise AssertionError(f"the {kind} leader {identity} is none of the supervised ones")
