"""Stale UDP conntrack entries of Services (kube-proxy's conntrack cleanup, pkg/proxy/conntrack).

UDP has no connection to close: a client that keeps sending from one source port keeps its
conntrack entry (and so its DNAT to one endpoint) alive forever, even after that endpoint is
gone, and a datagram sent while a Service had no endpoints leaves an un-NATed entry that
shadows the DNAT added later. kube-proxy deletes such entries after each sync; so do we.

Contract:
- `udp_targets(services, slices) -> {service port name: UdpTarget}`: for every UDP port of a
  Service with a ClusterIP, the addresses clients use (ClusterIP, externalIPs, load balancer
  IPs), its nodePort, and the endpoint IPs the proxy balances over (proxy.render's choice).
- `stale_filters(old, new) -> list[list[str]]`: `conntrack -D` arguments, kube-proxy's rules:
  an endpoint IP that left a port's set: entries to each of the port's addresses whose reply
  comes from it (`--orig-dst ADDR --reply-src EP`) and those to its nodePort (`--dport NODEPORT
  --reply-src EP`); a port that had no endpoints and now has some: every entry to its
  addresses (`--orig-dst ADDR`). `old` None (the first sync after a start) counts as "no endpoints
  before", as kube-proxy's change tracker starts empty: entries made while no proxy ran
  (un-NATed ones that would shadow the new DNAT) are cleared.
- `Conntrack().delete(filters)`: runs `conntrack -D -p udp ...` for each (exit status 1, "0 flow
  entries", is success); raises `ConntrackError` on other failures or when the tool is missing
  (deploy/bootstrap.sh installs Debian's `conntrack`). Returns the number of entries deleted.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from machinery.endpointslices import service_key_of
from machinery.models import EndpointSlice, Service
from proxy.render import load_balancer_ips, port_name, service_endpoints

log = logging.getLogger(__name__)


class ConntrackError(RuntimeError):
    pass


@dataclass(frozen=True)
class UdpTarget:
    addresses: tuple[str, ...]
    node_port: int | None
    endpoints: frozenset[str] = field(default_factory=frozenset)


def udp_targets(services: Iterable[Service], slices: Iterable[EndpointSlice]) -> dict[str, UdpTarget]:
    by_service: dict[str, list[EndpointSlice]] = {}
    for es in slices:
        by_service.setdefault(service_key_of(es), []).append(es)
    out: dict[str, UdpTarget] = {}
    for svc in services:
        spec = svc.spec
        if spec is None or spec.type == "ExternalName" or not spec.clusterIP or spec.clusterIP == "None":
            continue
        for port in spec.ports or []:
            if (port.protocol or "TCP").upper() != "UDP":
                continue
            eps = service_endpoints(by_service.get(svc.key, []), port)
            addrs = (spec.clusterIP, *(spec.externalIPs or []), *load_balancer_ips(svc))
            node_port = port.nodePort if spec.type in ("NodePort", "LoadBalancer") else None
            out[port_name(svc, port)] = UdpTarget(addrs, node_port, frozenset(e.rpartition(":")[0] for e in eps))
    return out


def stale_filters(old: dict[str, UdpTarget] | None, new: dict[str, UdpTarget]) -> list[list[str]]:
    old = old or {}
    filters: list[list[str]] = []
    for name, before in sorted(old.items()):
        after = new.get(name)
        gone = before.endpoints - (after.endpoints if after is not None else frozenset())
        for ep in sorted(gone):
            filters += [["--orig-dst", addr, "--reply-src", ep] for addr in before.addresses]
            if before.node_port:
                filters.append(["--dport", str(before.node_port), "--reply-src", ep])
    for name, now in sorted(new.items()):
        was = old.get(name)
        if now.endpoints and (was is None or not was.endpoints):
            filters += [["--orig-dst", addr] for addr in now.addresses]
    return filters


_DELETED = re.compile(r"(\d+) flow entries have been deleted")


class Conntrack:
    def __init__(self, binary: str = "conntrack") -> None:
        self.binary = binary

    def delete(self, filters: list[list[str]]) -> int:
        if not filters:
            return 0
        path = shutil.which(self.binary)
        if path is None:
            raise ConntrackError(f"{self.binary} not found: run deploy/bootstrap.sh (Debian package conntrack)")
        deleted = 0
        for f in filters:
            proc = subprocess.run([path, "-D", "-p", "udp", *f], capture_output=True, text=True, timeout=30)
            m = _DELETED.search(proc.stderr)
            if proc.returncode not in (0, 1) or m is None:
                raise ConntrackError(f"conntrack -D -p udp {' '.join(f)} failed ({proc.returncode}): "
                                     f"{proc.stderr.strip()}")
            deleted += int(m.group(1))
        if deleted:
            log.info("deleted %d stale UDP conntrack entries", deleted)
        return deleted


__all__ = ["Conntrack", "ConntrackError", "UdpTarget", "stale_filters", "udp_targets"]
