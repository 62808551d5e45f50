"""proxy.render: internalTrafficPolicy and externalTrafficPolicy Local (kube-proxy's rules)."""

from __future__ import annotations

from typing import Any

from machinery.models import EndpointSlice, Service
from proxy.render import ProxyConfig, render

CFG = ProxyConfig(prefix="KLT", cluster_cidr="10.244.0.0/16", node_name="n1")


def svc(**spec: Any) -> Service:
    return Service.from_dict({"metadata": {"name": "web", "namespace": "ns1"}, "spec": {
        "clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
        **spec}})


def eps(**nodes: str) -> EndpointSlice:
    return EndpointSlice.from_dict({
        "metadata": {"name": "web-1", "namespace": "ns1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "nodeName": node} for ip, node in nodes.items()]})


A, B = "10.244.0.5", "10.244.1.5"


def dnat_targets(rules: list[str]) -> list[str]:
    return [r.split("-> ")[1].split('"')[0] for r in rules if "-> " in r]


def test_external_local_keeps_source_and_uses_local_endpoints() -> None:
    rs = render([svc(type="NodePort", externalTrafficPolicy="Local")], [eps(**{A: "n1", B: "n2"})], CFG)
    nat = rs.chains("nat")
    [ext] = [ch for ch in nat if "-EXT-" in ch]
    [svl] = [ch for ch in nat if "-SVL-" in ch]
    [svc_chain] = [ch for ch in nat if "-SVC-" in ch]
    text = "\n".join(nat[ext])
    assert "-s 10.244.0.0/16 -j " + svc_chain in text  # pods: cluster-wide
    assert "--src-type LOCAL -j KLT-MARK-MASQ" in text  # the node itself: masqueraded
    assert nat[ext][-1].endswith(f"-j {svl}")  # everyone else: local endpoints, source kept
    assert not any(r.endswith("-j KLT-MARK-MASQ") and "LOCAL" not in r for r in nat[ext])
    assert dnat_targets(nat[svl]) == [f"{A}:8080"]
    assert dnat_targets(nat[svc_chain]) == [f"{A}:8080", f"{B}:8080"]


def test_external_local_without_local_endpoints_drops_external_traffic() -> None:
    rs = render([svc(type="NodePort", externalTrafficPolicy="Local")], [eps(**{B: "n2"})], CFG)
    drops = [r for r in rs.chains("filter")["KLT-EXTERNAL-SERVICES"] if "-j DROP" in r]
    assert drops and "has no local endpoints" in drops[0] and "--dport 30080" in drops[0]
    assert not any("-SVL-" in ch for ch in rs.chains("nat"))


def test_internal_local() -> None:
    only_remote = render([svc(internalTrafficPolicy="Local")], [eps(**{B: "n2"})], CFG)
    assert any("has no local endpoints" in r and "-j DROP" in r for r in only_remote.chains("filter")["KLT-SERVICES"])
    assert not any("-SVC-" in ch for ch in only_remote.chains("nat"))
    mixed = render([svc(internalTrafficPolicy="Local")], [eps(**{A: "n1", B: "n2"})], CFG).chains("nat")
    [svc_chain] = [ch for ch in mixed if "-SVC-" in ch]
    assert dnat_targets(mixed[svc_chain]) == [f"{A}:8080"]
