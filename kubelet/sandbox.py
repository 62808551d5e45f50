"""The pod sandbox: the pause container owning a pod's network namespace, and its resolv.conf.

Contract: `ensure_sandbox(...)` returns the pod's running sandbox (with hostNetwork, its IP is
the node's), or starts a new one: on the node's pod network (a hostname of at most 63
characters, the pod's hostname or name) or in the host's network, publishing the hostPorts,
after removing the dead ones (their namespace is gone, containers joined to them too). No new
sandbox for a finished pod (`terminal`, or phase Succeeded/Failed), nor for a restartPolicy
Never pod whose containers exist: as Kubernetes, those lost their network and are killed.
Without a sandbox the result says why (`message`, for the pod status) and when to try again
(`retry_s`): the pause image missing (cfg.image_retry_s), the start failing (e.g. a hostPort
already allocated: 5 s, the container removed). With `cfg.hairpin_bridge`, the bridge's ports
get hairpin mode once a new sandbox starts, so a backend may call its own Service.
`create(spec)` is the worker's (it takes the node's start slot). `write_resolv(cfg, pod, uid)`
writes the pod's resolv.conf under its directory and returns the path (None: Docker's DNS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubelet import containers as cspec
from kubelet import network, volumes
from kubelet.dns import resolv_conf
from kubelet.podrecord import PodRecord
from kubelet.runtime import SANDBOX_NAME, ContainerInfo, ContainerSpec, Runtime, labels_for
from kubelet.workerconfig import WorkerConfig


@dataclass
class Sandbox:
    """The running sandbox, or None with why (`message`) and when to try again (`retry_s`)."""

    info: ContainerInfo | None
    message: str | None = None
    retry_s: float | None = None


async def ensure_sandbox(rec: PodRecord, pod: dict[str, Any], insts: list[ContainerInfo], *,
                         others: list[ContainerInfo], terminal: bool, cfg: WorkerConfig, runtime: Runtime,
                         ns: str, name: str, uid: str, create: Callable[[ContainerSpec], Awaitable[str]]) -> Sandbox:
    """See the module doc. `insts` are the pod's sandbox containers (oldest first), `others` its
    other containers."""
    spec_ = pod.get("spec") or {}
    host_net = bool(spec_.get("hostNetwork"))
    running = [i for i in insts if i.running]
    if running:
        if host_net:
            running[-1].ip = cfg.node_ip
        return Sandbox(running[-1])
    if terminal or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return Sandbox(None)  # finished pods keep their containers but get no new sandbox
    if others and spec_.get("restartPolicy") == "Never":
        # As Kubernetes: no new sandbox for a Never pod; its containers lost their network: kill them.
        await asyncio.gather(*(runtime.stop(i.id, 0) for i in others if i.running))
        return Sandbox(None)
    for dead in insts:  # a dead sandbox: its namespace is gone, containers joined to it too
        await runtime.remove(dead.id)
    if await runtime.image_id(cfg.pause_image) is None:
        return Sandbox(None, f'sandbox image "{cfg.pause_image}" is not present: run deploy/images/build.sh',
                       cfg.image_retry_s)
    attempt = (insts[-1].restarts + 1) if insts else 0
    meta = pod.get("metadata") or {}
    spec = ContainerSpec(
        name=cspec.docker_name(rec.model(pod), SANDBOX_NAME, attempt), image=cfg.pause_image,
        labels=labels_for(cluster=cfg.cluster, node=cfg.node, namespace=ns, pod=name,
                          uid=uid, container=SANDBOX_NAME, kind="sandbox", restarts=attempt),
        network=None if host_net else cfg.network, network_mode="host" if host_net else None,
        # Docker refuses a hostname in host network mode (the host's name is the pod's).
        hostname=None if host_net else (spec_.get("hostname") or meta.get("name") or "")[:63],
        ports=cspec.port_bindings(rec.model(pod)),
    )
    cid = await create(spec)
    try:
        await runtime.start(cid)
    except Exception as exc:  # noqa: BLE001 - e.g. hostPort already allocated: say so in the status, retry later
        await runtime.remove(cid)
        return Sandbox(None, f"Failed to create pod sandbox: {exc}", 5.0)
    info = await runtime.inspect(cid)
    if info is not None and host_net:
        info.ip = cfg.node_ip
    if not host_net and cfg.hairpin_bridge:
        # The new veth is on the bridge once start returns: a backend may now call its own Service.
        await asyncio.to_thread(network.enable_hairpin, cfg.hairpin_bridge)
    return Sandbox(info)


def write_resolv(cfg: WorkerConfig, pod: dict[str, Any], uid: str) -> str | None:
    text = resolv_conf(pod, cluster_dns=cfg.cluster_dns, cluster_domain=cfg.cluster_domain)
    if text is None:
        return None
    path = volumes.pod_dir(cfg.root_dir, uid) / "resolv.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


__all__ = ["Sandbox", "ensure_sandbox", "write_resolv"]
