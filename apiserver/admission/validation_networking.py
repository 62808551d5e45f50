"""Validation of networking.k8s.io/v1 NetworkPolicy (pkg/apis/networking/validation).

Contract: `validate_networking(errs, obj)` adds causes for a NetworkPolicy, with Kubernetes'
field paths and wording: `spec.podSelector` a valid label selector; each port's protocol
TCP/UDP/SCTP, `port` a number 1-65535 or an IANA port name, `endPort` only with a numeric
`port` and not below it; each peer (`from[i]`/`to[i]`) names at least one of podSelector,
namespaceSelector, ipBlock, and ipBlock alone; an ipBlock's `cidr` is a CIDR and every
`except` entry a strict subset of it; `policyTypes` only Ingress/Egress, at most two.
`NETWORKING_KINDS` lists the kinds it handles.
"""

from __future__ import annotations

import ipaddress

from apiserver.admission.validation_apps import validate_label_selector
from apiserver.admission.validation_common import Errs, cidr_errors, port_name_errors
from machinery.meta import Resource
from machinery.models import (
    POLICY_PROTOCOLS,
    POLICY_TYPES,
    IPBlock,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
)

NETWORKING_KINDS: tuple[type[Resource], ...] = (NetworkPolicy,)


def _validate_port(errs: Errs, path: str, port: NetworkPolicyPort) -> None:
    if port.protocol is not None:
        errs.enum(f"{path}.protocol", port.protocol, POLICY_PROTOCOLS)
    if isinstance(port.port, int):
        errs.port_range(f"{path}.port", port.port)
        if port.endPort is not None:
            if port.endPort < port.port:
                errs.invalid(f"{path}.endPort", port.endPort, "must be greater than or equal to `port`")
            else:
                errs.port_range(f"{path}.endPort", port.endPort)
    elif isinstance(port.port, str):
        for why in port_name_errors(port.port):
            errs.invalid(f"{path}.port", port.port, why)
        if port.endPort is not None:
            errs.invalid(f"{path}.endPort", port.endPort, "may not be specified when `port` is non-numeric")
    elif port.endPort is not None:
        errs.invalid(f"{path}.endPort", port.endPort, "may not be specified when `port` is not specified")


def _validate_ip_block(errs: Errs, path: str, block: IPBlock) -> None:
    if not block.cidr:
        errs.required(f"{path}.cidr")
        return
    bad = cidr_errors(block.cidr)
    for why in bad:
        errs.invalid(f"{path}.cidr", block.cidr, why)
    if bad:
        return
    outer = ipaddress.ip_network(block.cidr, strict=False)
    for i, text in enumerate(block.except_ or []):
        field = f"{path}.except[{i}]"
        why_list = cidr_errors(text)
        for why in why_list:
            errs.invalid(field, text, why)
        if why_list:
            continue
        inner = ipaddress.ip_network(text, strict=False)
        inside = inner.version == outer.version and int(outer.network_address) <= int(inner.network_address) \
            and int(inner.broadcast_address) <= int(outer.broadcast_address)
        if not inside or inner.prefixlen <= outer.prefixlen:
            errs.invalid(field, text, "must be a strict subset of `cidr`")


def _validate_peer(errs: Errs, path: str, peer: NetworkPolicyPeer) -> None:
    count = 0
    if peer.podSelector is not None:
        count += 1
        validate_label_selector(errs, peer.podSelector, f"{path}.podSelector")
    if peer.namespaceSelector is not None:
        count += 1
        validate_label_selector(errs, peer.namespaceSelector, f"{path}.namespaceSelector")
    if peer.ipBlock is not None:
        count += 1
        _validate_ip_block(errs, f"{path}.ipBlock", peer.ipBlock)
    if count == 0:
        errs.required(path, "must specify a peer")
    elif count > 1 and peer.ipBlock is not None:
        errs.forbidden(path, "may not specify both ipBlock and another peer")


def _validate_rules(errs: Errs, path: str, peers_key: str,
                    rules: list[tuple[list[NetworkPolicyPort] | None, list[NetworkPolicyPeer] | None]]) -> None:
    for i, (ports, peers) in enumerate(rules):
        for j, port in enumerate(ports or []):
            _validate_port(errs, f"{path}[{i}].ports[{j}]", port)
        for j, peer in enumerate(peers or []):
            _validate_peer(errs, f"{path}[{i}].{peers_key}[{j}]", peer)


def validate_networking(errs: Errs, obj: Resource) -> None:
    if not isinstance(obj, NetworkPolicy):
        return
    spec = obj.spec
    if spec is None:
        errs.required("spec")
        return
    validate_label_selector(errs, spec.podSelector, "spec.podSelector")
    _validate_rules(errs, "spec.ingress", "from", [(r.ports, r.from_) for r in spec.ingress or []])
    _validate_rules(errs, "spec.egress", "to", [(r.ports, r.to) for r in spec.egress or []])
    types = spec.policyTypes or []
    for i, value in enumerate(types):
        if value not in POLICY_TYPES:
            errs.not_supported(f"spec.policyTypes[{i}]", value, POLICY_TYPES)
    if len(types) > len(POLICY_TYPES):
        errs.forbidden("spec.policyTypes", "may not specify more than two policyTypes")
