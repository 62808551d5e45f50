"""Service load balancers: status.loadBalancer.ingress for `type: LoadBalancer` Services.

Contract (Kubernetes' cloud service controller, k8s.io/cloud-provider/controllers/service, with
the "cloud" being this host or the lab):
- Acts on Services of type LoadBalancer without `spec.loadBalancerClass` (a class means another
  implementation owns it, as Kubernetes). Their `status.loadBalancer.ingress` is written through
  `/status` when it differs from what `allocator.ingress(svc, others)` gives; a Service that is no
  longer a LoadBalancer (or has a class) has its ingress cleared. Events: Normal
  `EnsuredLoadBalancer` when an address was assigned, Warning `SyncLoadBalancerFailed` when none
  could be (the Service stays `<pending>` and is retried when another one frees its address).
- `NodeAddressAllocator` (the default, k3s ServiceLB style on one host): the ingress is the
  address of every Ready node (ExternalIP if it has one, else InternalIP; loopback addresses are
  skipped: nobody but the host could reach them, and kube-proxy's iptables mode does not serve
  NodePorts on 127.0.0.1 by default), ipMode VIP. The proxy on every node answers on them
  (proxy/render.py: loadbalancer IP rules through the Service's EXT chain).
- `PoolAllocator(cidr)` (`--cloud-provider lab --lb-pool CIDR`): one address of the pool per
  Service, kept across restarts (read back from the status), `spec.loadBalancerIP` honoured when
  free and inside the pool; a deleted Service's address is free again at once.
- Handlers only route: Service events enqueue it (a deletion or type change also enqueues every
  LoadBalancer still pending); Node events whose addresses or readiness changed enqueue every
  LoadBalancer Service (node-address mode).

Register in the manager: `ServiceLBController(ctx)` (NAME "servicelb").
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Protocol

from controllers.base import Controller, ControllerContext
from machinery.events import NORMAL, WARNING
from machinery.models import Node, Service

log = logging.getLogger(__name__)


def is_managed(svc: Service | None) -> bool:
    return (svc is not None and svc.spec is not None and svc.spec.type == "LoadBalancer"
            and not svc.spec.loadBalancerClass)


def current_ingress(svc: Service) -> list[dict[str, Any]]:
    lb = svc.status.loadBalancer if svc.status is not None else None
    return [i.to_dict() for i in (lb.ingress or [])] if lb is not None else []


class IngressAllocator(Protocol):
    def ingress(self, svc: Service, others: list[Service]) -> list[dict[str, Any]] | None:
        """The ingress list for `svc` (None: no address available now)."""
        ...


def _ready(node: Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or [] if node.status else []))


def node_address(node: Node) -> str | None:
    addrs = node.status.addresses or [] if node.status else []
    for kind in ("ExternalIP", "InternalIP"):
        for a in addrs:
            if a.type == kind and not ipaddress.ip_address(a.address).is_loopback:
                return a.address
    return None


class NodeAddressAllocator:
    def __init__(self, nodes: Any) -> None:
        self.nodes = nodes

    def ingress(self, svc: Service, others: list[Service]) -> list[dict[str, Any]] | None:
        ips = sorted({ip for n in self.nodes.list() if _ready(n) and (ip := node_address(n)) is not None},
                     key=lambda ip: ipaddress.ip_address(ip))
        return [{"ip": ip, "ipMode": "VIP"} for ip in ips] or None


class PoolAllocator:
    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)

    def _in_pool(self, ip: str | None) -> bool:
        try:
            return ip is not None and ipaddress.ip_address(ip) in self.network
        except ValueError:
            return False

    def ingress(self, svc: Service, others: list[Service]) -> list[dict[str, Any]] | None:
        used = {i.get("ip") for o in others if o.key != svc.key and is_managed(o) for i in current_ingress(o)}
        mine = [i.get("ip") for i in current_ingress(svc) if self._in_pool(i.get("ip"))]
        wanted = svc.spec.loadBalancerIP if svc.spec is not None else None
        for ip in ([wanted] if wanted else []) + mine:
            if self._in_pool(ip) and ip not in used:
                return [{"ip": ip, "ipMode": "VIP"}]
        if wanted:
            return None  # asked for an address it cannot have: stay pending, as a cloud would
        for host in self.network.hosts():
            if str(host) not in used:
                return [{"ip": str(host), "ipMode": "VIP"}]
        return None


class ServiceLBController(Controller):
    NAME = "servicelb"
    KIND = Service

    def __init__(self, ctx: ControllerContext, *, allocator: IngressAllocator | None = None) -> None:
        super().__init__(ctx)
        self.svc_informer = ctx.factory.informer(Service)
        self.node_informer = ctx.factory.informer(Node)
        pool = ctx.options.lb_pool
        self.allocator = allocator or (PoolAllocator(pool) if pool else NodeAddressAllocator(self.node_informer))
        self.svc_informer.add_handlers(on_add=self._svc_changed, on_update=self._svc_updated,
                                       on_delete=self._svc_deleted)
        self.node_informer.add_handlers(on_add=self._nodes_changed, on_update=self._node_updated,
                                        on_delete=self._nodes_changed)

    def _svc_changed(self, svc: Service) -> None:
        if is_managed(svc) or current_ingress(svc):
            self.enqueue(svc)

    def _svc_updated(self, old: Service, new: Service) -> None:
        self._svc_changed(new)
        if is_managed(old) and not is_managed(new):
            self._enqueue_pending()

    def _svc_deleted(self, svc: Service) -> None:
        if is_managed(svc):
            self._enqueue_pending()

    def _enqueue_pending(self) -> None:
        for svc in self.svc_informer.list():
            if is_managed(svc) and not current_ingress(svc):
                self.enqueue(svc)

    def _nodes_changed(self, _node: Node) -> None:
        for svc in self.svc_informer.list():
            if is_managed(svc):
                self.enqueue(svc)

    def _node_updated(self, old: Node, new: Node) -> None:
        if _ready(old) != _ready(new) or node_address(old) != node_address(new):
            self._nodes_changed(new)

    async def sync(self, key: str) -> None:
        svc = self.svc_informer.get(key)
        if svc is None:
            return
        have = current_ingress(svc)
        if not is_managed(svc):
            if have:
                await self._write(svc, [])
            return
        want = self.allocator.ingress(svc, self.svc_informer.list())
        if want is None:
            if not have:
                await self.recorder.event(svc, WARNING, "SyncLoadBalancerFailed",
                                          "Error syncing load balancer: no address available")
            return
        if want != have:
            await self._write(svc, want)
            await self.recorder.event(svc, NORMAL, "EnsuredLoadBalancer", "Ensured load balancer")

    async def _write(self, svc: Service, ingress: list[dict[str, Any]]) -> None:
        lb: dict[str, Any] = {"ingress": ingress} if ingress else {}
        # A merge patch of the whole loadBalancer object: `ingress` replaced, never merged.
        patch = {"status": {"loadBalancer": lb if ingress else {"ingress": None}}}
        await self.client.patch(Service, svc.name, patch, namespace=svc.namespace, subresource="status")
        log.info("service %s: load balancer ingress %s", svc.key, [i["ip"] for i in ingress] or "cleared")


__all__ = ["NodeAddressAllocator", "PoolAllocator", "ServiceLBController", "node_address"]
