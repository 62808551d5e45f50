"""Validation of discovery.k8s.io/v1 EndpointSlice (pkg/apis/discovery/validation).

Contract: `validate_discovery(errs, obj, old)` adds causes for an EndpointSlice: addressType
required, one of IPv4/IPv6/FQDN and immutable; at most 1000 endpoints, each with 1-100
addresses of that type (an FQDN: a DNS subdomain), a DNS-label hostname, a DNS-subdomain
nodeName; at most 20000 ports with unique DNS-label names (or ""), protocol TCP/UDP/SCTP and a
port in 0-65535. `DISCOVERY_KINDS` lists the kinds it handles.
"""

from __future__ import annotations

import ipaddress

from apiserver.admission.validation_common import Errs, dns1123_label_errors, dns1123_subdomain_errors
from machinery.meta import Resource
from machinery.models import ADDRESS_TYPES, DiscoveryEndpointPort, Endpoint, EndpointSlice

DISCOVERY_KINDS: tuple[type[Resource], ...] = (EndpointSlice,)
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 20000
PROTOCOLS = ("TCP", "UDP", "SCTP")


def _address_errors(address_type: str, value: str) -> list[str]:
    if address_type == "FQDN":
        return dns1123_subdomain_errors(value)
    want = ipaddress.IPv4Address if address_type == "IPv4" else ipaddress.IPv6Address
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, want):
        return [f"must be a valid {address_type} address"]
    return []


def _validate_endpoint(errs: Errs, path: str, address_type: str, ep: Endpoint) -> None:
    if not ep.addresses:
        errs.required(f"{path}.addresses", "must contain at least 1 address")
    elif len(ep.addresses) > MAX_ADDRESSES:
        errs.add("FieldValueTooMany", f"{path}.addresses", f"must have at most {MAX_ADDRESSES} items")
    if address_type in ADDRESS_TYPES:
        for j, addr in enumerate((ep.addresses or [])[:MAX_ADDRESSES]):
            for msg in _address_errors(address_type, addr):
                errs.invalid(f"{path}.addresses[{j}]", addr, msg)
    for field, value, check in (("hostname", ep.hostname, dns1123_label_errors),
                                ("nodeName", ep.nodeName, dns1123_subdomain_errors)):
        for msg in check(value) if value is not None else []:
            errs.invalid(f"{path}.{field}", value, msg)


def _validate_ports(errs: Errs, ports: list[DiscoveryEndpointPort]) -> None:
    if len(ports) > MAX_PORTS:
        errs.add("FieldValueTooMany", "ports", f"must have at most {MAX_PORTS} items")
    names: set[str] = set()
    for i, port in enumerate(ports[:MAX_PORTS]):
        path = f"ports[{i}]"
        name = port.name or ""
        for msg in dns1123_label_errors(name) if name else []:
            errs.invalid(f"{path}.name", name, msg)
        if name in names:
            errs.duplicate(f"{path}.name", name)
        names.add(name)
        errs.enum(f"{path}.protocol", port.protocol, PROTOCOLS, required=True)
        if port.port is not None and not 0 <= port.port <= 65535:
            errs.invalid(f"{path}.port", port.port, "must be between 0 and 65535, inclusive")


def _validate_slice(errs: Errs, es: EndpointSlice) -> None:
    errs.enum("addressType", es.addressType or None, ADDRESS_TYPES, required=True)
    endpoints = es.endpoints or []
    if len(endpoints) > MAX_ENDPOINTS:
        errs.add("FieldValueTooMany", "endpoints", f"must have at most {MAX_ENDPOINTS} items")
    for i, ep in enumerate(endpoints[:MAX_ENDPOINTS]):
        _validate_endpoint(errs, f"endpoints[{i}]", es.addressType, ep)
    _validate_ports(errs, es.ports or [])


def validate_discovery(errs: Errs, obj: Resource, old: Resource | None = None) -> None:
    if isinstance(obj, EndpointSlice):
        _validate_slice(errs, obj)
        if isinstance(old, EndpointSlice) and old.addressType != obj.addressType:
            errs.invalid("addressType", obj.addressType, "field is immutable")


__all__ = ["DISCOVERY_KINDS", "validate_discovery"]
