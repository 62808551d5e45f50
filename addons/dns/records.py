"""Pure cluster DNS answers: (name, type) + cached Services/EndpointSlices -> records (no I/O).

Contract (the Kubernetes DNS specification, as CoreDNS' kubernetes plugin answers it):
- `<svc>.<ns>.svc.<domain>` A: the ClusterIP; for a headless Service (clusterIP None) the
  ready addresses of its EndpointSlices (`Zone.endpoints(ns, name)` gives the Service's
  slices; an endpoint counts when its `ready` condition is not false, as CoreDNS); for an ExternalName Service a CNAME to `externalName`
  (whatever the type asked; the target is not resolved: nothing is forwarded).
- `<host>.<svc>.<ns>.svc.<domain>` A, headless Services only: the ready address whose
  `hostname` is `<host>` (pods with spec.hostname + subdomain), or whose IP dashed is `<host>`.
- `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV for each named port of that protocol:
  target `<svc>.<ns>.svc.<domain>` at the Service port; for a headless Service one record per
  ready address (target `<hostname or dashed ip>.<svc>...`, the endpoint port), with the
  matching A records in the additional section.
- `<a-b-c-d>.<ns>.pod.<domain>` A: that IP (CoreDNS "pods insecure").
- An existing name asked for another type, and the interior names (`<domain>`,
  `svc.<domain>`, `<ns>.svc.<domain>`, `pod.<domain>`...), answer NOERROR with no records
  (NODATA) and the zone's SOA in the authority section; unknown names inside the domain
  NXDOMAIN with the SOA. Names outside the cluster domain are REFUSED: this server never
  forwards (the machine has no network beyond loopback and the project's bridges).
- Matching is case-insensitive; the answer keeps the case of the question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import CNAME, QTYPE, RR, SOA, SRV, A, DNSLabel

from machinery.models import EndpointSlice, Service, conditions_of

NOERROR, NXDOMAIN, REFUSED = "NOERROR", "NXDOMAIN", "REFUSED"

ServiceLookup = Callable[[str, str], Service | None]
EndpointsLookup = Callable[[str, str], list[EndpointSlice]]


@dataclass
class Answer:
    rcode: str = NOERROR
    answers: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)


@dataclass(frozen=True)
class Zone:
    """What the resolver needs to know about the cluster; lookups read the informer caches."""

    service: ServiceLookup
    endpoints: EndpointsLookup
    domain: str = "cluster.local"
    ttl_s: int = 30

    def soa(self) -> RR:
        d = self.domain
        return RR(d, QTYPE.SOA, ttl=self.ttl_s,
                  rdata=SOA(f"ns.dns.{d}", f"hostmaster.{d}", (1, 7200, 1800, 86400, self.ttl_s)))


def dashed_ip(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def _ready(slices: list[EndpointSlice]) -> list[tuple[str, str | None, dict[tuple[str, str], int]]]:
    """(ip, hostname, {(port name, protocol): port}) for every ready address, sorted by IP."""
    out: dict[str, tuple[str, str | None, dict[tuple[str, str], int]]] = {}
    for es in sorted(slices, key=lambda s: s.name):
        ports = {((p.name or ""), (p.protocol or "TCP").upper()): p.port for p in es.ports or [] if p.port is not None}
        for ep in es.endpoints or []:
            if not ep.addresses or not conditions_of(ep)[0]:
                continue
            ip = ep.addresses[0]
            _, host, have = out.get(ip, (ip, ep.hostname, {}))
            out[ip] = (ip, host or ep.hostname, {**have, **ports})
    return [out[k] for k in sorted(out)]


def resolve(qname: str, qtype: str, zone: Zone) -> Answer:
    name = str(qname).rstrip(".")
    lower = name.lower()
    domain = zone.domain.lower()
    if lower != domain and not lower.endswith("." + domain):
        return Answer(rcode=REFUSED)
    rel = lower[: -len(domain)].rstrip(".")
    labels = rel.split(".") if rel else []
    found = _lookup(name, labels, qtype, zone)
    if found is None:
        if _is_interior(labels, zone):
            return Answer(authority=[zone.soa()])
        return Answer(rcode=NXDOMAIN, authority=[zone.soa()])
    if not found.answers:
        found.authority.append(zone.soa())
    return found


def _is_interior(labels: list[str], zone: Zone) -> bool:
    """The zone apex, `svc`, `pod`, and `<ns>.svc` / `<ns>.pod` exist as (empty) names."""
    return (not labels or labels in (["svc"], ["pod"])
            or (len(labels) == 2 and labels[1] in ("svc", "pod")))


def _lookup(name: str, labels: list[str], qtype: str, zone: Zone) -> Answer | None:
    """None: the name does not exist. An Answer (maybe empty): it does."""
    if len(labels) == 3 and labels[2] == "pod":
        ip = labels[0].replace("-", ".")
        parts = ip.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            return None
        return Answer(answers=[RR(name, QTYPE.A, ttl=zone.ttl_s, rdata=A(ip))] if qtype in ("A", "ANY") else [])
    if len(labels) < 3 or labels[-1] != "svc":
        return None
    svc_name, ns = labels[-3], labels[-2]
    svc = zone.service(ns, svc_name)
    if svc is None or svc.spec is None:
        return None
    svc_fqdn = name.split(".", len(labels) - 3)[-1]  # keep the asker's case
    if len(labels) == 3:
        return _service_answer(name, svc, qtype, zone)
    if len(labels) == 4:
        return _endpoint_answer(name, labels[0], svc, qtype, zone)
    if len(labels) == 5 and labels[0].startswith("_") and labels[1].startswith("_"):
        return _srv_answer(name, labels[0][1:], labels[1][1:], svc, svc_fqdn, qtype, zone)
    return None


def _service_answer(name: str, svc: Service, qtype: str, zone: Zone) -> Answer:
    assert svc.spec is not None
    if svc.spec.type == "ExternalName":
        target = (svc.spec.externalName or "").rstrip(".")
        return Answer(answers=[RR(name, QTYPE.CNAME, ttl=zone.ttl_s, rdata=CNAME(target + "."))] if target else [])
    if qtype not in ("A", "ANY"):
        return Answer()
    if svc.spec.clusterIP and svc.spec.clusterIP != "None":
        return Answer(answers=[RR(name, QTYPE.A, ttl=zone.ttl_s, rdata=A(svc.spec.clusterIP))])
    ready = _ready(zone.endpoints(svc.namespace or "", svc.name))
    return Answer(answers=[RR(name, QTYPE.A, ttl=zone.ttl_s, rdata=A(ip)) for ip, _, _ in ready])


def _endpoint_answer(name: str, host: str, svc: Service, qtype: str, zone: Zone) -> Answer | None:
    assert svc.spec is not None
    if svc.spec.clusterIP != "None":
        return None
    for ip, hostname, _ in _ready(zone.endpoints(svc.namespace or "", svc.name)):
        if (hostname or "").lower() == host or dashed_ip(ip) == host:
            return Answer(answers=[RR(name, QTYPE.A, ttl=zone.ttl_s, rdata=A(ip))] if qtype in ("A", "ANY") else [])
    return None


def _srv_answer(name: str, port_name: str, proto: str, svc: Service, svc_fqdn: str, qtype: str,
                zone: Zone) -> Answer | None:
    assert svc.spec is not None
    proto = proto.upper()
    ports = [p for p in svc.spec.ports or [] if (p.name or "").lower() == port_name
             and (p.protocol or "TCP").upper() == proto]
    if not ports or svc.spec.type == "ExternalName":
        return None
    if qtype not in ("SRV", "ANY"):
        return Answer()
    target_base = str(DNSLabel(svc_fqdn))
    if svc.spec.clusterIP and svc.spec.clusterIP != "None":
        return Answer(answers=[RR(name, QTYPE.SRV, ttl=zone.ttl_s,
                                  rdata=SRV(0, 100, p.port, target_base)) for p in ports])
    out = Answer()
    ready = _ready(zone.endpoints(svc.namespace or "", svc.name))
    for p in ports:
        for ip, hostname, ep_ports in ready:
            port = ep_ports.get((p.name or "", proto))
            if port is None:
                continue
            target = f"{hostname or dashed_ip(ip)}.{target_base}"
            weight = max(1, 100 // len(ready))
            out.answers.append(RR(name, QTYPE.SRV, ttl=zone.ttl_s, rdata=SRV(0, weight, port, target)))
            out.additional.append(RR(target, QTYPE.A, ttl=zone.ttl_s, rdata=A(ip)))
    return out
