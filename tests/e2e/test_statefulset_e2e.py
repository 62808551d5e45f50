"""The seed's `web` StatefulSet end to end on real Docker: headless `nginx` Service,
volumeClaimTemplates on the default local-path StorageClass, busybox httpd serving the file
each pod wrote into its own volume.

One test walks the whole story (it needs the state built by each step): ordered start (web-1 is
created only once web-0 is Ready), per-pod DNS names through the DNS add-on, web-1 deleted and
back with the same data and name, scale 3 -> 5 (in order), a partitioned rolling update
(partition 2: only web-4, web-3, web-2 change, from the top), scale 5 -> 2 (from the top), a
claim in use that waits for its pod (pvc-protection), deletion of the StatefulSet keeping the
claims, and reclaimPolicy Delete removing a volume's directory through the helper pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dnslib import DNSRecord

from machinery import errors
from machinery.client import ApiClient
from machinery.models import Namespace, PersistentVolume, PersistentVolumeClaim, Service, StatefulSet
from machinery.podlogs import exec_in_pod
from tests.e2e.conftest import ROOT, Cluster, is_ready
from tests.support import free_port, stop_process_group, wait_until

pytestmark = pytest.mark.e2e
HTML = "/usr/share/nginx/html"
# Each start appends to `boots`; index.html keeps the hostname of the first start.
COMMAND = (f"cd {HTML} && (test -f index.html || hostname > index.html) && hostname >> boots "
           "&& exec httpd -f -p 80 -h .")


def manifests(ns: str, image_tag: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx", "namespace": ns,
                                                              "labels": {"app": "nginx"}},
           "spec": {"clusterIP": "None", "selector": {"app": "nginx"}, "ports": [{"port": 80, "name": "web"}]}}
    container: dict[str, Any] = {
        "name": "nginx", "image": "kubelite/busybox:latest", "command": ["sh", "-c", COMMAND],
        "ports": [{"containerPort": 80, "name": "web"}],
        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
        "volumeMounts": [{"name": "www", "mountPath": HTML}]}
    if image_tag:
        container["env"] = [{"name": "VERSION", "value": image_tag}]
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": ns},
           "spec": {"selector": {"matchLabels": {"app": "nginx"}}, "serviceName": "nginx", "replicas": 3,
                    "template": {"metadata": {"labels": {"app": "nginx"}},
                                 "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    return svc, sts


class Pods:
    """A watch of the namespace's pods: every event in order with the Ready set at that moment."""

    def __init__(self, api: ApiClient, ns: str) -> None:
        self.api, self.ns = api, ns
        self.pods: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str, frozenset[str]]] = []
        self.task: asyncio.Task[None] | None = None

    def ready(self) -> frozenset[str]:
        return frozenset(n for n, p in self.pods.items() if is_ready(p))

    async def start(self) -> None:
        body = await self.api.request("GET", f"/api/v1/namespaces/{self.ns}/pods")
        self.task = asyncio.create_task(self._run(body["metadata"]["resourceVersion"]))

    async def _run(self, rv: str) -> None:
        while True:
            params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "60"}
            async for line in self.api.stream_lines(f"/api/v1/namespaces/{self.ns}/pods", params=params,
                                                    timeout_s=60):
                if not line.strip():
                    continue
                ev = json.loads(line)
                obj = ev["object"]
                rv = obj["metadata"]["resourceVersion"]
                if ev["type"] == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if ev["type"] == "DELETED":
                    self.pods.pop(name, None)
                else:
                    terminating = obj["metadata"].get("deletionTimestamp") and not (
                        self.pods.get(name) or {}).get("metadata", {}).get("deletionTimestamp")
                    if terminating:
                        self.log.append(("TERMINATING", name, self.ready()))
                    self.pods[name] = obj
                if ev["type"] in ("ADDED", "DELETED"):
                    self.log.append((ev["type"], name, self.ready()))

    def order(self, kind: str) -> list[str]:
        return [name for k, name, _ in self.log if k == kind]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


@pytest.fixture
async def dns(full_cluster: Cluster) -> AsyncIterator[int]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - a daemon for the test's duration
        [sys.executable, "-m", "addons.dns", "--kubeconfig", str(full_cluster.kubeconfig),
         "--listen", f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        yield port
    finally:
        stop_process_group(proc, 10.0)


def resolve(port: int, name: str) -> list[str]:
    try:
        reply = DNSRecord.parse(DNSRecord.question(name).send("127.0.0.1", port, timeout=2))
    except OSError:
        return []
    return [str(rr.rdata) for rr in reply.rr]


async def test_web_statefulset_order_identity_storage_scale_update_delete(  # noqa: C901 - one flat sequence of cases, read best in one place
        full_cluster: Cluster, full_api: ApiClient, dns: int) -> None:
    api, ns = full_api, f"sts-{uuid.uuid4().hex[:6]}"
    await api.create(Namespace.from_dict({"metadata": {"name": ns}}))
    svc, sts = manifests(ns)
    await api.create(Service.from_dict(svc))
    pods = Pods(api, ns)
    await pods.start()
    logs = full_cluster.logs

    async def ready_set(names: set[str]) -> bool:
        got = await api.get(StatefulSet, "web", namespace=ns)
        st = got.status.to_dict() if got.status else {}
        return pods.ready() == names and st.get("readyReplicas") == len(names)

    async def content(pod: str, path: str = "index.html") -> str:
        """A file the pod wrote into its volume, read from the volume's directory on the node
        (claim -> PV -> hostPath): proves where the data lives without an exec under load."""
        claim = await api.get(PersistentVolumeClaim, f"www-{pod}", namespace=ns)
        pv = await api.get(PersistentVolume, (claim.spec.volumeName if claim.spec else "") or "")
        assert pv.spec is not None and pv.spec.hostPath is not None
        target = Path(pv.spec.hostPath.path, path)
        return await asyncio.to_thread(lambda: target.read_text() if target.exists() else "<missing>")

    async def served(pod: str) -> str:
        """What the pod's httpd serves from its volume (an exec in the pod)."""
        try:
            res = await exec_in_pod(api, ns, pod, ["sh", "-c", "timeout 4 wget -qO- http://127.0.0.1/"], timeout_s=20)
        except errors.ApiError as exc:  # a busy machine: the caller retries
            return f"<{exc}>"
        return res.stdout if res.exit_code == 0 else f"<exit {res.exit_code}: {res.stderr}>"

    def ip_of(pod: str) -> str:
        return str((pods.pods[pod].get("status") or {}).get("podIP") or "")

    try:
        await api.create(StatefulSet.from_dict(sts))
        await wait_until(lambda: ready_set({"web-0", "web-1", "web-2"}), 90, 0.2,
                         message=f"3 ready pods: {pods.log}\n{logs()}")
        # Ordered: each pod was created only once all lower ordinals were Ready.
        adds = [(name, ready) for kind, name, ready in pods.log if kind == "ADDED"]
        assert [n for n, _ in adds] == ["web-0", "web-1", "web-2"]
        assert adds[1][1] >= {"web-0"} and adds[2][1] >= {"web-0", "web-1"}, pods.log
        for i in range(3):
            assert (await content(f"web-{i}")).strip() == f"web-{i}"
        got: dict[str, str] = {}

        async def serves_its_volume() -> bool:  # the container sees its volume
            got["web-0"] = await served("web-0")
            return got["web-0"].strip() == "web-0"

        await wait_until(serves_its_volume, 90, 1.0, message=f"web-0 serves {got}")
        claims = {c.name: c for c in (await api.list(PersistentVolumeClaim, namespace=ns)).items}
        assert set(claims) == {"www-web-0", "www-web-1", "www-web-2"}
        assert all(c.status and c.status.phase == "Bound" and c.spec and c.spec.storageClassName == "standard"
                   for c in claims.values())
        pv = await api.get(PersistentVolume, claims["www-web-0"].spec.volumeName or "")  # type: ignore[union-attr]
        assert pv.spec and pv.spec.hostPath and pv.spec.hostPath.path.startswith(str(full_cluster.tmp / "local-path"))
        # Stable network identity through cluster DNS (headless Service, hostname + subdomain).
        for i in range(3):
            name = f"web-{i}.nginx.{ns}.svc.cluster.local"
            await wait_until(lambda n=name, p=f"web-{i}": resolve(dns, n) == [ip_of(p)], 20, 0.2,  # type: ignore[misc]
                             message=f"{name} -> {resolve(dns, name)}")

        # web-1 deleted: it comes back as web-1, with the same volume and DNS name.
        old_uid = pods.pods["web-1"]["metadata"]["uid"]
        await api.request("DELETE", f"/api/v1/namespaces/{ns}/pods/web-1")

        async def web1_back() -> bool:
            p = pods.pods.get("web-1")
            return p is not None and p["metadata"]["uid"] != old_uid and is_ready(p)

        await wait_until(web1_back, 60, 0.2, message=f"web-1 back: {pods.log}\n{logs()}")
        assert (await content("web-1")).strip() == "web-1"
        assert (await content("web-1", "boots")).split() == ["web-1", "web-1"]  # same volume, two starts
        name1 = f"web-1.nginx.{ns}.svc.cluster.local"
        await wait_until(lambda: resolve(dns, name1) == [ip_of("web-1")], 20, 0.2)

        # Scale 3 -> 5, in order.
        await api.patch(StatefulSet, "web", {"spec": {"replicas": 5}}, namespace=ns)
        await wait_until(lambda: ready_set({f"web-{i}" for i in range(5)}), 60, 0.2, message=f"{pods.log}")
        assert pods.order("ADDED")[-2:] == ["web-3", "web-4"]

        # Rolling update with partition 2: web-4, web-3, web-2 are replaced, from the top.
        uids = {n: p["metadata"]["uid"] for n, p in pods.pods.items()}
        mark = len(pods.log)
        _, sts2 = manifests(ns, image_tag="v2")
        await api.patch(StatefulSet, "web", {"spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            "template": sts2["spec"]["template"]}}, namespace=ns)

        async def partitioned_done() -> bool:
            got = await api.get(StatefulSet, "web", namespace=ns)
            st = got.status.to_dict() if got.status else {}
            return st.get("updatedReplicas") == 3 and st.get("readyReplicas") == 5 and len(pods.ready()) == 5

        await wait_until(partitioned_done, 90, 0.2, message=f"{pods.log[mark:]}\n{logs()}")
        changed = [n for n, p in pods.pods.items() if p["metadata"]["uid"] != uids[n]]
        assert sorted(changed) == ["web-2", "web-3", "web-4"]
        assert [n for k, n, _ in pods.log[mark:] if k == "TERMINATING"] == ["web-4", "web-3", "web-2"]
        for n in ("web-0", "web-1"):
            env = pods.pods[n]["spec"]["containers"][0].get("env")
            assert not env, f"{n} must keep the old template"
        live = await api.get(StatefulSet, "web", namespace=ns)
        assert live.status and live.status.currentRevision != live.status.updateRevision

        # Scale 5 -> 2: from the highest ordinal, one at a time.
        mark = len(pods.log)
        await api.patch(StatefulSet, "web", {"spec": {"replicas": 2}}, namespace=ns)
        async def two_left() -> bool:
            return await ready_set({"web-0", "web-1"}) and len(pods.pods) == 2

        await wait_until(two_left, 60, 0.2, message=f"{pods.log[mark:]}")
        assert [n for k, n, _ in pods.log[mark:] if k == "TERMINATING"] == ["web-4", "web-3", "web-2"]

        # A claim in use waits for its pod (kubernetes.io/pvc-protection).
        await api.delete(PersistentVolumeClaim, "www-web-0", namespace=ns)
        await asyncio.sleep(1.0)
        held = await api.get(PersistentVolumeClaim, "www-web-0", namespace=ns)
        assert held.metadata.deletionTimestamp and "kubernetes.io/pvc-protection" in (held.metadata.finalizers or [])

        # Deleting the StatefulSet keeps the other claims; the one being deleted goes with its pod.
        www4 = await api.get(PersistentVolumeClaim, "www-web-4", namespace=ns)
        pv4 = await api.get(PersistentVolume, www4.spec.volumeName or "")  # type: ignore[union-attr]
        pv0_name = held.spec.volumeName if held.spec else ""
        await api.delete(StatefulSet, "web", namespace=ns)
        await wait_until(lambda: not pods.pods, 60, 0.2, message=f"pods left: {list(pods.pods)}")

        async def claims_now() -> set[str]:
            return {c.name for c in (await api.list(PersistentVolumeClaim, namespace=ns)).items}

        async def only_kept() -> bool:
            return await claims_now() == {f"www-web-{i}" for i in range(1, 5)}

        await wait_until(only_kept, 30, 0.2, message=f"claims: {await claims_now()}")

        # reclaimPolicy Delete: the released volumes and their directories go (helper pod).
        async def pv_gone(name: str) -> bool:
            return name not in {p.name for p in (await api.list(PersistentVolume)).items}

        await wait_until(lambda: pv_gone(pv0_name or ""), 60, 0.3, message=f"{pv0_name} kept\n{logs()}")
        await api.delete(PersistentVolumeClaim, "www-web-4", namespace=ns)
        await wait_until(lambda: pv_gone(pv4.name), 60, 0.3, message=f"{pv4.name} kept\n{logs()}")
        assert pv4.spec and pv4.spec.hostPath
        assert not await asyncio.to_thread(Path(pv4.spec.hostPath.path).exists), "the helper pod removes the dir"
    finally:
        await pods.stop()
        with contextlib.suppress(Exception):
            await api.delete(Namespace, ns)
