"""Node IPAM: every Node gets a pod CIDR of its own from the cluster CIDR (range allocator).

Contract (Kubernetes' pkg/controller/nodeipam/ipam/range_allocator.go):
- On start (after the Node informer synced, before any allocation) the allocation is rebuilt
  from the Node list: every node's spec.podCIDRs (or podCIDR) is marked used. So a restarted
  controller-manager never hands out a CIDR twice. A node whose CIDR lies outside the cluster
  CIDR gets a Warning Event `CIDRNotAvailable` and is left alone (Kubernetes refuses to start;
  we keep serving the other nodes).
- A Node without spec.podCIDR gets the next free /`node_cidr_mask_size` subnet written with a
  merge patch of spec.podCIDR and spec.podCIDRs. The API server forbids changing a node's pod
  CIDR once set, so a node that got one elsewhere (a kubelet with --pod-cidr, another
  allocator) rejects our patch: we release ours and take the node's.
- A deleted Node's CIDR is released (reused only after the round-robin comes back to it) and
  nodes still waiting for a CIDR are queued again at once.
- No free subnet: Warning Event `CIDRNotAvailable` on the node, retried with backoff.
- Work keys are node names; `assigned` remembers what each node holds (the cache may lag
  behind our own patch; a node being processed is never given a second CIDR).
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.cidrset import CidrSet, CidrsExhausted
from machinery import errors
from machinery.events import WARNING
from machinery.models import Node

log = logging.getLogger(__name__)


def node_cidrs(node: Node) -> list[str]:
    spec = node.spec
    if spec is None:
        return []
    if spec.podCIDRs:
        return list(spec.podCIDRs)
    return [spec.podCIDR] if spec.podCIDR else []


class NodeIpamController(Controller):
    NAME = "nodeipam"
    KIND = Node

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        opts = ctx.options
        self.cidrs = CidrSet(opts.cluster_cidr, opts.node_cidr_mask_size)
        self.assigned: dict[str, list[str]] = {}
        self.nodes = ctx.factory.informer(Node)
        self.nodes.add_handlers(on_add=self.enqueue, on_update=self._updated, on_delete=self.enqueue)

    def _updated(self, old: Node, new: Node) -> None:
        if node_cidrs(old) != node_cidrs(new) or not node_cidrs(new):
            self.enqueue(new)

    def rebuild(self) -> None:
        """Mark every CIDR the cached nodes hold as used (call once the informer synced)."""
        for node in self.nodes.list():
            self._take(node)

    def _take(self, node: Node) -> bool:
        cidrs = node_cidrs(node)
        if not cidrs:
            return False
        try:
            for cidr in cidrs:
                if cidr in self.assigned.get(node.name, []):
                    continue
                self.cidrs.occupy(cidr)
        except ValueError as exc:
            log.warning("node %s: %s", node.name, exc)
            return False
        for old in self.assigned.get(node.name, []):
            if old not in cidrs:
                self.cidrs.release(old)
        self.assigned[node.name] = cidrs
        return True

    async def run(self) -> None:
        self.rebuild()
        log.info("node IPAM: cluster CIDR %s, /%d per node, %d in use", self.cidrs.cluster,
                 self.cidrs.mask_size, self.cidrs.used)
        await super().run()

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            released = self.assigned.pop(key, [])
            for cidr in released:
                self.cidrs.release(cidr)
                log.info("node %s deleted: released pod CIDR %s", key, cidr)
            if released:  # nodes waiting in backoff for a free CIDR can have this one now
                for waiting in self.nodes.list():
                    if not node_cidrs(waiting) and waiting.name not in self.assigned:
                        self.enqueue(waiting)
            return
        if node_cidrs(node):
            if not self._take(node):
                await self.recorder.event(node, WARNING, "CIDRNotAvailable",
                                          f"Node {node.name} has pod CIDR(s) {', '.join(node_cidrs(node))} "
                                          f"outside the cluster CIDR {self.cidrs.cluster}")
            return
        cidrs = self.assigned.get(key)
        if not cidrs:
            try:
                cidrs = [self.cidrs.allocate_next()]
            except CidrsExhausted as exc:
                await self.recorder.event(node, WARNING, "CIDRNotAvailable",
                                          f"Node {node.name} status is now: CIDRNotAvailable ({exc})")
                raise
            self.assigned[key] = cidrs
        try:
            await self.client.patch(Node, key, {"spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs}})
        except errors.NotFound:
            for cidr in self.assigned.pop(key, []):
                self.cidrs.release(cidr)
            return
        except errors.Invalid:
            # The node got a CIDR from someone else meanwhile: ours goes back; the update event
            # of the node brings us its real CIDR.
            for cidr in self.assigned.pop(key, []):
                self.cidrs.release(cidr)
            raise
        log.info("node %s: assigned pod CIDR %s", key, cidrs[0])
