"""NetworkPolicy (networking.k8s.io/v1) validation, defaulting and table columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apiserver.admission.validation import parse_object, validate
from machinery.defaults import apply_defaults
from machinery.models import NetworkPolicy
from machinery.tables import table


def netpol(spec: dict[str, Any]) -> NetworkPolicy:
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "np", "namespace": "default"}, "spec": spec}
    model, causes = parse_object(NetworkPolicy, body)
    assert causes == [] and isinstance(model, NetworkPolicy)
    return apply_defaults(model)


def messages(spec: dict[str, Any]) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in validate(netpol(spec))]


def test_defaults_policy_types_and_protocol() -> None:
    only_ingress = netpol({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]})
    assert only_ingress.spec is not None and only_ingress.spec.policyTypes == ["Ingress"]
    assert only_ingress.spec.ingress is not None and only_ingress.spec.ingress[0].ports is not None
    assert only_ingress.spec.ingress[0].ports[0].protocol == "TCP"
    both = netpol({"podSelector": {}, "egress": [{"to": [{"podSelector": {}}]}]})
    assert both.spec is not None and both.spec.policyTypes == ["Ingress", "Egress"]
    explicit = netpol({"podSelector": {}, "policyTypes": ["Egress"]})
    assert explicit.spec is not None and explicit.spec.policyTypes == ["Egress"]


def test_wire_names_from_and_except_round_trip() -> None:
    np = netpol({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                                       "except": ["10.1.0.0/16"]}}]}]})
    wire = np.to_dict()
    assert wire["spec"]["ingress"][0]["from"][0]["ipBlock"] == {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}
    assert "from_" not in str(wire) and "except_" not in str(wire)


def test_valid_policy_has_no_causes() -> None:
    assert messages({
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}, "namespaceSelector": {}},
                              {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}}],
                     "ports": [{"port": 5432, "endPort": 5440}, {"port": "http", "protocol": "UDP"}]}],
        "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}) == []


def test_bad_ports() -> None:
    assert messages({"podSelector": {}, "ingress": [{"ports": [
        {"port": 0}, {"port": 80, "endPort": 79}, {"port": "http", "endPort": 90}, {"endPort": 90},
        {"port": "no_such--", "protocol": "ICMP"}]}]}) == [
        "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ingress[0].ports[1].endPort: Invalid value: 79: must be greater than or equal to `port`",
        "spec.ingress[0].ports[2].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
        "spec.ingress[0].ports[3].endPort: Invalid value: 90: may not be specified when `port` is not specified",
        'spec.ingress[0].ports[4].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
        'spec.ingress[0].ports[4].port: Invalid value: "no_such--": must contain only alpha-numeric characters '
        "(a-z, 0-9), and hyphens (-)",
        'spec.ingress[0].ports[4].port: Invalid value: "no_such--": must not contain consecutive hyphens',
        'spec.ingress[0].ports[4].port: Invalid value: "no_such--": must not begin or end with a hyphen',
    ]


def test_bad_peers_and_ip_blocks() -> None:
    got = messages({"podSelector": {}, "egress": [{"to": [
        {}, {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
        {"ipBlock": {"cidr": "nope"}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8", "11.0.0.0/16"]}},
        {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}]}]})
    assert got == [
        "spec.egress[0].to[0]: Required value: must specify a peer",
        "spec.egress[0].to[1]: Forbidden: may not specify both ipBlock and another peer",
        'spec.egress[0].to[2].ipBlock.cidr: Invalid value: "nope": must be a valid CIDR value, '
        "(e.g. 10.9.8.0/24 or 2001:db8::/64)",
        'spec.egress[0].to[3].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
        'spec.egress[0].to[3].ipBlock.except[1]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`',
        "spec.egress[0].to[4].podSelector.matchExpressions[0].values: Required value: must be specified when "
        "`operator` is 'In' or 'NotIn'",
    ]


def test_bad_policy_types() -> None:
    assert messages({"podSelector": {}, "policyTypes": ["Ingress", "Sideways", "Egress"]}) == [
        'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
        "spec.policyTypes: Forbidden: may not specify more than two policyTypes",
    ]


def test_table_shows_pod_selector() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    objs = [netpol({"podSelector": {"matchLabels": {"app": "db"}}}).to_dict(), netpol({"podSelector": {}}).to_dict()]
    for o in objs:
        o["metadata"]["creationTimestamp"] = "2025-12-31T23:59:00Z"
    headers, rows = table("NetworkPolicy", objs, at=at)
    assert headers == ["NAME", "POD-SELECTOR", "AGE"]
    assert rows == [["np", "app=db", "60s"], ["np", "<none>", "60s"]]
