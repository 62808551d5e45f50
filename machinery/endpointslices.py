"""EndpointSlices: what producers and consumers share (one implementation of each concept).

Contract:
- `service_key_of(slice) -> str`: "ns/<kubernetes.io/service-name>" or "" (not a Service's
  slice). `SERVICE_INDEX` / `service_index`: the informer index consumers look slices up by.
- `endpoints_for_port(slices, port_name, protocol) -> list[EndpointInfo]`: every endpoint of
  the given Service port over all its slices (a slice serves the port when it lists a port of
  that name and protocol), deduplicated by "ip:port" (the first slice, by name, wins; kube-proxy
  does the same with duplicates across slices), sorted by IP then port.
- `usable(endpoints) -> list[EndpointInfo]`: kube-proxy's choice: the ready endpoints; when
  none is ready, the serving-and-terminating ones (a draining pod still finishes its work
  instead of connections being refused); else [].
- `from_endpoints(ep) -> EndpointGroups` and `slices_from_endpoints(ep, managed_by=...)`:
  Kubernetes' EndpointSlice mirroring of a user-written Endpoints object: one group per subset
  port set, `addresses` ready, `notReadyAddresses` not ready (serving follows ready,
  terminating false), nodeName/hostname/targetRef copied.
- `EndpointGroups`: {port key: {address: endpoint wire dict}}, a port key being the sorted
  tuple of (name, port, protocol); what the slice controller packs into slices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from machinery.models import (
    MANAGED_BY_LABEL,
    MANAGED_BY_MIRRORING,
    SERVICE_NAME_LABEL,
    Endpoints,
    EndpointSlice,
    conditions_of,
)

SERVICE_INDEX = "service"
PortKey = tuple[tuple[str, int, str], ...]
EndpointGroups = dict[PortKey, dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class EndpointInfo:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str | None = None
    zone: str | None = None
    hostname: str | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


def service_key_of(es: EndpointSlice) -> str:
    name = (es.metadata.labels or {}).get(SERVICE_NAME_LABEL)
    return f"{es.namespace}/{name}" if name else ""


def service_index(es: EndpointSlice) -> list[str]:
    key = service_key_of(es)
    return [key] if key else []


def _ip_sort_key(info: EndpointInfo) -> tuple[tuple[int, ...], str, int]:
    parts = info.ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (tuple(int(p) for p in parts), "", info.port)
    return ((999,), info.ip, info.port)


def endpoints_for_port(slices: Iterable[EndpointSlice], port_name: str | None,
                       protocol: str | None) -> list[EndpointInfo]:
    want_name, want_proto = port_name or "", (protocol or "TCP").upper()
    found: dict[str, EndpointInfo] = {}
    for es in sorted(slices, key=lambda s: s.name):
        port = next((p.port for p in es.ports or [] if (p.name or "") == want_name
                     and (p.protocol or "TCP").upper() == want_proto and p.port is not None), None)
        if port is None:
            continue
        for ep in es.endpoints or []:
            if not ep.addresses:
                continue
            ready, serving, terminating = conditions_of(ep)
            info = EndpointInfo(ip=ep.addresses[0], port=port, ready=ready, serving=serving,
                                terminating=terminating, node_name=ep.nodeName, zone=ep.zone,
                                hostname=ep.hostname)
            found.setdefault(info.address, info)
    return sorted(found.values(), key=_ip_sort_key)


def usable(endpoints: Iterable[EndpointInfo]) -> list[EndpointInfo]:
    eps = list(endpoints)
    ready = [e for e in eps if e.ready]
    if ready:
        return ready
    return [e for e in eps if e.serving and e.terminating]


def port_key(ports: Iterable[tuple[str, int, str]]) -> PortKey:
    return tuple(sorted(ports))


def slice_port_key(es: EndpointSlice) -> PortKey:
    return port_key(((p.name or ""), p.port or 0, (p.protocol or "TCP")) for p in es.ports or [])


def ports_of(key: PortKey) -> list[dict[str, Any]]:
    return [{"name": n, "port": p, "protocol": proto} for n, p, proto in key]


def from_endpoints(ep: Endpoints) -> EndpointGroups:
    groups: EndpointGroups = {}
    for subset in ep.subsets or []:
        key = port_key(((p.name or ""), p.port, (p.protocol or "TCP")) for p in subset.ports or [])
        group = groups.setdefault(key, {})
        for ready, addrs in ((True, subset.addresses or []), (False, subset.notReadyAddresses or [])):
            for addr in addrs:
                out: dict[str, Any] = {"addresses": [addr.ip],
                                       "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                if addr.hostname:
                    out["hostname"] = addr.hostname
                if addr.nodeName:
                    out["nodeName"] = addr.nodeName
                if addr.targetRef is not None:
                    out["targetRef"] = addr.targetRef.to_dict()
                group.setdefault(addr.ip, out)
    return groups


def slices_from_endpoints(ep: Endpoints, *, managed_by: str = MANAGED_BY_MIRRORING) -> list[EndpointSlice]:
    """Unnamed-by-API slices for `ep` (names `<ep>-<n>`): tests and benchmarks feed consumers with them."""
    out = []
    for i, (key, group) in enumerate(sorted(from_endpoints(ep).items())):
        out.append(EndpointSlice.from_dict({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{ep.name}-{i}", "namespace": ep.namespace,
                         "labels": {SERVICE_NAME_LABEL: ep.name, MANAGED_BY_LABEL: managed_by}},
            "addressType": "IPv4", "ports": ports_of(key),
            "endpoints": [group[a] for a in sorted(group)]}))
    return out


__all__ = [
    "SERVICE_INDEX", "EndpointGroups", "EndpointInfo", "PortKey", "endpoints_for_port", "from_endpoints",
    "port_key", "ports_of", "service_index", "service_key_of", "slice_port_key", "slices_from_endpoints",
    "usable",
]
