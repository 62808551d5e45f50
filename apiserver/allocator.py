"""Service ClusterIP and NodePort allocation.

Contract:
- `ServiceAllocator(cidr="10.96.0.0/16", node_ports=(30000, 32767))` keeps in memory which
  ClusterIPs and NodePorts are taken. `recover(services)` rebuilds that state from the stored
  Services at start-up (the store is the truth; memory is only an index of it).
- `allocate(svc, old=None)` fills a Service dict in place before it is written: spec.clusterIP
  (and clusterIPs) from the range when empty; "None" means headless and allocates nothing; a
  requested IP is honoured if free and inside the range, else 422 Invalid with the field path.
  The first address (10.96.0.1) is never handed out automatically: it belongs to the
  `kubernetes` Service, and 10.96.0.10 (cluster DNS) only to a Service that asks for it.
  NodePort/LoadBalancer Services get a nodePort per port (requested ones honoured if free);
  a LoadBalancer with `allocateLoadBalancerNodePorts: false` gets only the ones it asks for.
  On update (`old` given), values the caller left empty are copied from `old` (as Kubernetes'
  patchAllocatedValues does) and ports no longer used are released. Returns a `Reservation`
  that the caller must `rollback()` when the write fails.
- `spec.healthCheckNodePort` (Kubernetes' alloc.go): a LoadBalancer Service with
  externalTrafficPolicy Local gets one from the NodePort range (a requested one if free), kept
  on update (changing it is 422 "field is immutable"); when the Service stops needing it the
  port is released and the field cleared (a changed value is 422 "may only be set when ...").
  An automatic nodePort never takes the healthCheckNodePort the same Service requests.
- `release(svc)` frees what a deleted Service held.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

from machinery import errors

Obj = dict[str, Any]


@dataclass
class Reservation:
    """What one `allocate` call took (and freed), so a failed write can be undone."""

    allocator: ServiceAllocator
    ips: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    freed_ips: list[str] = field(default_factory=list)
    freed_ports: list[int] = field(default_factory=list)

    def rollback(self) -> None:
        for ip in self.ips:
            self.allocator.used_ips.discard(ip)
        for port in self.ports:
            self.allocator.used_ports.discard(port)
        self.allocator.used_ips.update(self.freed_ips)
        self.allocator.used_ports.update(self.freed_ports)


def _invalid(svc: Obj, path: str, value: Any, message: str) -> errors.Invalid:
    name = (svc.get("metadata") or {}).get("name") or ""
    return errors.Invalid(
        f'Service "{name}" is invalid: {path}: Invalid value: {value!r}: {message}',
        name=name, kind="Service",
        causes=[{"reason": "FieldValueInvalid", "field": path, "message": f"Invalid value: {value!r}: {message}"}],
    )


class ServiceAllocator:
    def __init__(self, cidr: str = "10.96.0.0/16", node_ports: tuple[int, int] = (30000, 32767)) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.node_ports = node_ports
        self.used_ips: set[str] = set()
        self.used_ports: set[int] = set()
        hosts = self.network.num_addresses - 2 if self.network.num_addresses > 2 else self.network.num_addresses
        self._size = max(hosts, 0)
        first = int(self.network.network_address) + (1 if self.network.num_addresses > 2 else 0)
        self._first = first
        # Reserved for well-known Services: handed out only when explicitly requested.
        self.reserved = {str(ipaddress.ip_address(first)), str(ipaddress.ip_address(first + 9))}

    @property
    def kubernetes_ip(self) -> str:
        return str(ipaddress.ip_address(self._first))

    @property
    def dns_ip(self) -> str:
        return str(ipaddress.ip_address(self._first + 9))

    # --- state -----------------------------------------------------------------------------

    def recover(self, services: list[Obj]) -> None:
        self.used_ips.clear()
        self.used_ports.clear()
        for svc in services:
            spec = svc.get("spec") or {}
            for ip in self._ips_of(spec):
                self.used_ips.add(ip)
            self.used_ports.update(self._ports_of(spec))

    @staticmethod
    def _ports_of(spec: Obj) -> list[int]:
        ports = [int(p["nodePort"]) for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")]
        hc = spec.get("healthCheckNodePort")
        return [*ports, int(hc)] if isinstance(hc, int) and hc else ports

    @staticmethod
    def _ips_of(spec: Obj) -> list[str]:
        ips = [spec.get("clusterIP"), *list(spec.get("clusterIPs") or [])]
        return sorted({ip for ip in ips if isinstance(ip, str) and ip and ip != "None"})

    def release(self, svc: Obj) -> None:
        spec = svc.get("spec") or {}
        for ip in self._ips_of(spec):
            self.used_ips.discard(ip)
        for port in self._ports_of(spec):
            self.used_ports.discard(port)

    # --- allocation --------------------------------------------------------------------------

    def allocate(self, svc: Obj, old: Obj | None = None) -> Reservation:
        res = Reservation(self)
        spec = svc.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        try:
            self._allocate_ip(svc, spec, old_spec, res)
            self._allocate_node_ports(svc, spec, old_spec, res)
            self._allocate_health_check_port(svc, spec, old_spec, res)
        except errors.ApiError:
            res.rollback()
            raise
        return res

    def _allocate_ip(self, svc: Obj, spec: Obj, old_spec: Obj, res: Reservation) -> None:
        if spec.get("type") == "ExternalName":
            return
        old_ip = old_spec.get("clusterIP")
        ip = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
        if not ip and old_ip:
            spec["clusterIP"], spec["clusterIPs"] = old_ip, [old_ip]
            return
        if old_ip and ip != old_ip:
            raise _invalid(svc, "spec.clusterIP", ip, "field is immutable")
        if old_ip:
            spec["clusterIPs"] = [old_ip]
            return
        if ip == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return
        if ip:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                raise _invalid(svc, "spec.clusterIP", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)") from None
            if addr not in self.network or self._offset(str(addr)) not in range(self._size):
                raise _invalid(svc, "spec.clusterIP", ip,
                               f"provided IP is not in the valid range. The range of valid IPs is {self.network}")
            if str(addr) in self.used_ips:
                raise _invalid(svc, "spec.clusterIP", ip, "provided IP is already allocated")
            chosen = str(addr)
        else:
            chosen = self._next_free_ip(svc)
        self.used_ips.add(chosen)
        res.ips.append(chosen)
        spec["clusterIP"], spec["clusterIPs"] = chosen, [chosen]

    def _offset(self, ip: str) -> int:
        return int(ipaddress.ip_address(ip)) - self._first

    def _next_free_ip(self, svc: Obj) -> str:
        # A random start spreads allocations (as Kubernetes' bitmap allocator does), then a
        # linear scan guarantees we find a free address when there is one.
        start = random.randrange(self._size) if self._size else 0
        for i in range(self._size):
            ip = str(ipaddress.ip_address(self._first + (start + i) % self._size))
            if ip not in self.used_ips and ip not in self.reserved:
                return ip
        raise _invalid(svc, "spec.clusterIP", "", f"range is full: no free IP left in {self.network}")

    def _allocate_node_ports(self, svc: Obj, spec: Obj, old_spec: Obj, res: Reservation) -> None:
        wants = spec.get("type") in ("NodePort", "LoadBalancer")
        # allocateLoadBalancerNodePorts false: a LoadBalancer keeps the nodePorts asked for (or
        # already held) but gets none picked for it, as Kubernetes.
        auto_ok = spec.get("type") == "NodePort" or spec.get("allocateLoadBalancerNodePorts") is not False
        old_ports = {p.get("port"): p.get("nodePort") for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        old_used = {int(p) for p in old_ports.values() if p}
        kept: set[int] = set()
        lo, hi = self.node_ports
        auto: list[tuple[int, Obj]] = []
        # Requested ports first, so an automatic pick never takes a port asked for later.
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            if not wants:
                port.pop("nodePort", None)
                continue
            requested = port.get("nodePort")
            if not requested and old_ports.get(port.get("port")):
                requested = old_ports[port.get("port")]
                port["nodePort"] = requested
            if not requested:
                if auto_ok:
                    auto.append((i, port))
                continue
            n = int(requested)
            if n in old_used:
                kept.add(n)
                continue
            path = f"spec.ports[{i}].nodePort"
            if not lo <= n <= hi:
                raise _invalid(svc, path, n, f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}")
            if n in self.used_ports:
                raise _invalid(svc, path, n, "provided port is already allocated")
            self.used_ports.add(n)
            res.ports.append(n)
            kept.add(n)
        # Nor a healthCheckNodePort the Service asks for (allocated after the node ports).
        hc = spec.get("healthCheckNodePort")
        avoid = {hc} if isinstance(hc, int) and self._needs_health_check(spec) else set()
        for i, port in auto:
            n = self._next_free_port(svc, i, avoid=avoid)
            port["nodePort"] = n
            self.used_ports.add(n)
            res.ports.append(n)
            kept.add(n)
        for n in old_used - kept:
            self.used_ports.discard(n)
            res.freed_ports.append(n)

    def _next_free_port(self, svc: Obj, i: int, path: str | None = None, *, avoid: set[int] | None = None) -> int:
        lo, hi = self.node_ports
        size = hi - lo + 1
        start = random.randrange(size)
        for k in range(size):
            n = lo + (start + k) % size
            if n not in self.used_ports and n not in (avoid or ()):
                return n
        raise _invalid(svc, path or f"spec.ports[{i}].nodePort", 0, f"range is full: no free port in {lo}-{hi}")

    @staticmethod
    def _needs_health_check(spec: Obj) -> bool:
        return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"

    def _allocate_health_check_port(self, svc: Obj, spec: Obj, old_spec: Obj, res: Reservation) -> None:
        path = "spec.healthCheckNodePort"
        old = old_spec.get("healthCheckNodePort") or 0 if self._needs_health_check(old_spec) else 0
        want = spec.get("healthCheckNodePort") or 0
        if not self._needs_health_check(spec):
            if want and want != old:
                raise _invalid(svc, path, want, "may only be set when `type` is 'LoadBalancer' and "
                                                "`externalTrafficPolicy` is 'Local'")
            spec.pop("healthCheckNodePort", None)  # no longer needed: dropped, as Kubernetes
            if old:
                self.used_ports.discard(old)
                res.freed_ports.append(old)
            return
        if old:
            if want and want != old:
                raise _invalid(svc, path, want, "field is immutable")
            spec["healthCheckNodePort"] = old
            return
        lo, hi = self.node_ports
        if want:
            if not isinstance(want, int) or not lo <= want <= hi:
                raise _invalid(svc, path, want,
                               f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}")
            if want in self.used_ports:
                raise _invalid(svc, path, want, "provided port is already allocated")
            n = want
        else:
            n = self._next_free_port(svc, 0, path)
        self.used_ports.add(n)
        res.ports.append(n)
        spec["healthCheckNodePort"] = n
