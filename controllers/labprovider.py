"""The lab "cloud provider": the cloud node lifecycle controller for the docker-compose lab.

Kubernetes' cloud node lifecycle controller (k8s.io/cloud-provider
controllers/nodelifecycle) asks the cloud, for every node that is not Ready, whether its
instance still exists: if not, it deletes the Node at once (Event `DeletingNode`) instead of
waiting for the eviction timeout; if it exists but is shut down, it taints the node
`node.cloudprovider.kubernetes.io/shutdown:NoSchedule` (removed when the node is Ready again).
Here the "cloud" is this host's Docker engine and an instance is a lab node container.

Contract:
- Enabled only with `python -m controllers --cloud-provider lab --lab-name LAB`; acts only on
  Nodes whose `spec.providerID` is `lab://LAB/<node>` (other nodes belong to no provider).
- Every `monitor_period_s` (1 s) every such node is synced. A node is *silent* when its Ready
  condition is not True, or its Lease in kube-node-lease was not renewed for `silence_s`
  (12 s; lab kubelets renew every 5 s). Until node lifecycle marks nodes, the Lease is what
  tells us heartbeats stopped.
- Silent node, container missing (`docker rm`): the Node is deleted. Its pods are then the pod
  garbage collector's (controllers/podgc.py: pods bound to a Node that no longer exists, after
  its quarantine), and their controllers recreate them on the other nodes.
- Silent node, container stopped or paused: the shutdown taint (NoSchedule) is added; the
  normal node lifecycle (grace period, NoExecute taints, eviction) decides about its pods.
- A node that is not silent loses the shutdown taint if it has it. A provider error (Docker
  unreachable) is raised: the key is retried with backoff and nothing is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.meta import parse_time
from machinery.models import Lease, Node

log = logging.getLogger(__name__)

InstanceState = Literal["running", "stopped", "missing"]
SHUTDOWN_TAINT = "node.cloudprovider.kubernetes.io/shutdown"
LEASE_NS = "kube-node-lease"
LAB_LABEL = "io.kubelite.lab"
LAB_NODE_LABEL = "io.kubelite.lab-node"


class InstanceProvider(Protocol):
    def instance_state(self, node: str) -> InstanceState: ...


class DockerLabProvider:
    """Lab node containers on this host's Docker engine, found by their labels."""

    def __init__(self, lab: str, client: Any = None) -> None:
        self.lab = lab
        self._client = client

    def _docker(self) -> Any:
        if self._client is None:
            import docker

            self._client = docker.from_env(timeout=10)
        return self._client

    def instance_state(self, node: str) -> InstanceState:
        found = self._docker().containers.list(all=True, filters={
            "label": [f"{LAB_LABEL}={self.lab}", f"{LAB_NODE_LABEL}={node}"]})
        if not found:
            return "missing"
        return "running" if any(c.status == "running" for c in found) else "stopped"


def provider_node(node: Node, lab: str) -> str | None:
    """The instance name of a node of this lab, from `lab://LAB/NAME`; None otherwise."""
    pid = (node.spec.providerID if node.spec else None) or ""
    prefix = f"lab://{lab}/"
    return pid[len(prefix):] or None if pid.startswith(prefix) else None


def is_ready(node: Node) -> bool:
    conds = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


class LabCloudNodeController(Controller):
    NAME = "cloud-node-lifecycle"
    KIND = Node

    def __init__(self, ctx: ControllerContext, *, lab: str, provider: InstanceProvider | None = None,
                 silence_s: float = 12.0, monitor_period_s: float = 1.0) -> None:
        super().__init__(ctx)
        self.lab = lab
        self.provider: InstanceProvider = provider or DockerLabProvider(lab)
        self.silence_s = silence_s
        self.monitor_period_s = monitor_period_s
        self.nodes = ctx.factory.informer(Node)
        self.leases = ctx.factory.informer(Lease, namespace=LEASE_NS)
        self.nodes.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))

    def silent(self, node: Node, now: datetime) -> bool:
        if not is_ready(node):
            return True
        lease = self.leases.get(f"{LEASE_NS}/{node.name}")
        renewed = parse_time(lease.spec.renewTime if lease and lease.spec else None)
        if renewed is None:
            return False  # never heartbeated through a Lease yet: Ready decides
        return (now - renewed).total_seconds() > self.silence_s

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None or node.metadata.deletionTimestamp:
            return
        instance = provider_node(node, self.lab)
        if instance is None:
            return
        tainted = any(t.key == SHUTDOWN_TAINT for t in (node.spec.taints if node.spec else None) or [])
        if not self.silent(node, datetime.now(UTC)):
            if tainted:
                await self._set_shutdown_taint(node, present=False)
            return
        state = await asyncio.to_thread(self.provider.instance_state, instance)
        if state == "missing":
            await self._delete_node(node, instance)
        elif state == "stopped" and not tainted:
            await self._set_shutdown_taint(node, present=True)

    async def _delete_node(self, node: Node, instance: str) -> None:
        log.info("node %s: instance %s is gone from lab %s; deleting the Node", node.name, instance, self.lab)
        await self.recorder.event(node, "Normal", "DeletingNode",
                                  f"Deleting node {node.name} because it does not exist in the cloud provider")
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(Node, node.name)

    async def _set_shutdown_taint(self, node: Node, *, present: bool) -> None:
        taints = [t.to_dict() for t in (node.spec.taints if node.spec else None) or [] if t.key != SHUTDOWN_TAINT]
        if present:
            taints.append({"key": SHUTDOWN_TAINT, "effect": "NoSchedule"})
            log.info("node %s: instance is shut down; tainting %s", node.name, SHUTDOWN_TAINT)
        patch = {"metadata": {"resourceVersion": node.resource_version}, "spec": {"taints": taints or None}}
        try:
            await self.client.patch(Node, node.name, patch)
        except errors.NotFound:
            return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.monitor_period_s)
            for node in self.nodes.list():
                if provider_node(node, self.lab) is not None:
                    self.enqueue(node)

    async def run(self) -> None:
        ticker = asyncio.create_task(self._tick(), name="cloud-node-tick")
        try:
            await super().run()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
