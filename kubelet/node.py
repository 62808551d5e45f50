"""Node registration, Lease renewal and node status heartbeats.

Contract: `NodeAgent.register()` creates the Node (or adopts the existing one, refreshing its
status) with capacity/allocatable from the host (cpu, memory, pods=110, ephemeral-storage),
after creating its Lease (so the Node is never seen Ready without a Lease; the Lease gets the
Node as owner as soon as the Node's uid is known),
addresses InternalIP/Hostname, nodeInfo (Docker version, OS, kernel), the four conditions,
and `daemonEndpoints.kubeletEndpoint.Port`, and `spec.providerID` when given; it returns the node's `spec.podCIDR` or None.
`run()` renews the Lease `kube-node-lease/<node>` and patches the node status every
`heartbeat_s` (10 s), surviving API server outages (errors are logged and retried next beat).
The pure builders (`host_facts`, `node_status`, `lease_body`) are unit-tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
import socket
from dataclasses import dataclass
from typing import Any

from machinery import errors
from machinery.clock import now_micro_rfc3339 as now_micro
from machinery.clock import now_rfc3339 as now_s

log = logging.getLogger(__name__)

MAX_PODS = 110
LEASE_NS = "kube-node-lease"
LEASE_DURATION_S = 40


@dataclass
class HostFacts:
    cpus: int
    memory_bytes: int
    mem_available_bytes: int
    disk_bytes: int
    disk_free_bytes: int
    kernel: str
    os_image: str
    arch: str
    hostname: str


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                k, _, rest = line.partition(":")
                out[k] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def _os_image() -> str:
    try:
        with open("/etc/os-release") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def host_facts(root_dir: str) -> HostFacts:
    mem = _meminfo()
    disk = shutil.disk_usage(root_dir if os.path.exists(root_dir) else "/")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return HostFacts(cpus=os.cpu_count() or 1, memory_bytes=mem.get("MemTotal", 0),
                     mem_available_bytes=mem.get("MemAvailable", 0), disk_bytes=disk.total,
                     disk_free_bytes=disk.free, kernel=platform.release(), os_image=_os_image(), arch=arch,
                     hostname=socket.gethostname())


def _cond(kind: str, ok_status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"type": kind, "status": ok_status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now}


def node_status(facts: HostFacts, *, node_ip: str, port: int, docker_version: str, old: dict[str, Any] | None,
                now: str) -> dict[str, Any]:
    """The whole status the kubelet owns; lastTransitionTime kept while a status holds."""
    mem_pressure = facts.memory_bytes > 0 and facts.mem_available_bytes < 100 * 1024 * 1024
    disk_pressure = facts.disk_bytes > 0 and facts.disk_free_bytes < facts.disk_bytes * 0.10
    conds = [
        _cond("MemoryPressure", "True" if mem_pressure else "False",
              "KubeletHasInsufficientMemory" if mem_pressure else "KubeletHasSufficientMemory",
              f"{facts.mem_available_bytes // 2**20}Mi available", now),
        _cond("DiskPressure", "True" if disk_pressure else "False",
              "KubeletHasDiskPressure" if disk_pressure else "KubeletHasNoDiskPressure",
              f"{facts.disk_free_bytes // 2**30}Gi free", now),
        _cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
        _cond("Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
    ]
    old_conds = {c.get("type"): c for c in (old or {}).get("conditions") or []}
    for c in conds:
        prev = old_conds.get(c["type"])
        if prev and prev.get("status") == c["status"] and prev.get("lastTransitionTime"):
            c["lastTransitionTime"] = prev["lastTransitionTime"]
    cap = {"cpu": str(facts.cpus), "memory": f"{facts.memory_bytes // 1024}Ki", "pods": str(MAX_PODS),
           "ephemeral-storage": f"{facts.disk_bytes // 1024}Ki"}
    return {
        "capacity": cap,
        "allocatable": dict(cap),
        "conditions": conds,
        "addresses": [{"type": "InternalIP", "address": node_ip}, {"type": "Hostname", "address": facts.hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": _machine_id(), "systemUUID": "", "bootID": _boot_id(), "kernelVersion": facts.kernel,
            "osImage": facts.os_image, "containerRuntimeVersion": f"docker://{docker_version}",
            "kubeletVersion": "v1.30.0-kubelite", "kubeProxyVersion": "v1.30.0-kubelite",
            "operatingSystem": "linux", "architecture": facts.arch,
        },
    }


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _machine_id() -> str:
    return _read("/etc/machine-id")


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id")


def lease_body(node: str, *, node_uid: str | None, now: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": node, "namespace": LEASE_NS}
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_S, "renewTime": now}}


class NodeAgent:
    def __init__(self, api: Any, *, node: str, node_ip: str, port: int, root_dir: str, docker_version: str,
                 pod_cidr: str | None, labels: dict[str, str] | None = None, heartbeat_s: float = 10.0,
                 provider_id: str | None = None) -> None:
        self.api, self.node, self.node_ip, self.port = api, node, node_ip, port
        self.root_dir, self.docker_version, self.pod_cidr = root_dir, docker_version, pod_cidr
        self.labels = labels or {}
        self.heartbeat_s = heartbeat_s
        self.provider_id = provider_id
        self.uid: str | None = None
        self._status: dict[str, Any] | None = None

    def _status_now(self) -> dict[str, Any]:
        st = node_status(host_facts(self.root_dir), node_ip=self.node_ip, port=self.port,
                         docker_version=self.docker_version, old=self._status, now=now_s())
        self._status = st
        return st

    async def register(self) -> str | None:
        facts = host_facts(self.root_dir)
        labels = {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux", "kubernetes.io/arch": facts.arch,
                  **self.labels}
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node, "labels": labels},
                                "spec": {}, "status": self._status_now()}
        if self.pod_cidr:
            body["spec"] = {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}
        if self.provider_id:
            body["spec"]["providerID"] = self.provider_id
        # The Lease first: nobody may see this Node Ready without its Lease (a node lifecycle
        # controller would take a Ready node without a Lease for one that stopped beating).
        await self.renew_lease()
        try:
            node = await self.api.create("/api/v1/nodes", body)
        except errors.AlreadyExists:
            node = await self.api.get_node(self.node) or {}
        self.uid = (node.get("metadata") or {}).get("uid")
        await self.renew_lease()  # now owned by the Node (garbage-collected with it)
        await self.patch_status()
        return (node.get("spec") or {}).get("podCIDR")

    async def pod_cidr_from_api(self) -> str | None:
        node = await self.api.get_node(self.node) or {}
        return (node.get("spec") or {}).get("podCIDR")

    async def patch_status(self) -> None:
        # Start from the conditions the API has (as Kubernetes' kubelet does): the node lifecycle
        # controller may have set them Unknown while we were away, and Ready coming back must
        # get a new lastTransitionTime.
        current = await self.api.get_node(self.node)
        if current and (current.get("status") or {}).get("conditions"):
            self._status = current["status"]
        await self.api.merge_patch(f"/api/v1/nodes/{self.node}/status", {"status": self._status_now()})

    async def _create_lease(self) -> None:
        collection = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases"
        try:
            await self.api.create(collection, lease_body(self.node, node_uid=self.uid, now=now_micro()))
            return
        except errors.NotFound:  # the namespace itself is missing on a bare API server
            pass
        with contextlib.suppress(errors.AlreadyExists):
            await self.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": LEASE_NS}})
        await self.api.create(collection, lease_body(self.node, node_uid=self.uid, now=now_micro()))

    async def renew_lease(self) -> None:
        """Create the Lease, or renew it (adding the Node as owner once its uid is known)."""
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases/{self.node}"
        lease = await self.api.get(path)
        if lease is None:
            await self._create_lease()
            return
        lease.setdefault("spec", {}).update({"holderIdentity": self.node, "renewTime": now_micro(),
                                             "leaseDurationSeconds": LEASE_DURATION_S})
        meta = lease.setdefault("metadata", {})
        if self.uid and not meta.get("ownerReferences"):
            meta["ownerReferences"] = lease_body(self.node, node_uid=self.uid, now="")["metadata"]["ownerReferences"]
        await self.api.put(path, lease)  # carries resourceVersion: a stale write is a 409, retried next beat

    async def run(self) -> None:
        while True:
            for step in (self.renew_lease, self.patch_status):
                try:
                    await step()
                except (errors.ApiError, OSError) as exc:
                    log.warning("node heartbeat %s failed: %s", step.__name__, exc)
            await asyncio.sleep(self.heartbeat_s)
