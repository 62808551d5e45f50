"""proxy.conntrack: which stale UDP entries a sync deletes (kube-proxy's rules), and the Proxier
calling it after the rules changed, with a recording fake conntrack."""

from __future__ import annotations

from typing import Any

from machinery.endpointslices import slices_from_endpoints
from machinery.models import Endpoints, EndpointSlice, Service
from proxy.conntrack import stale_filters, udp_targets
from proxy.render import ProxyConfig
from tests.unit.test_proxy_render import FakeIptables, ListSource

DNS = Service.from_dict({"metadata": {"name": "dns", "namespace": "ns1"}, "spec": {
    "type": "NodePort", "clusterIP": "10.96.0.10", "externalIPs": ["192.0.2.10"],
    "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
              {"name": "tcp", "port": 53, "protocol": "TCP", "nodePort": 30054}]}})


def slices(*ips: str) -> list[EndpointSlice]:
    if not ips:
        return []
    return slices_from_endpoints(Endpoints.from_dict({"metadata": {"name": "dns", "namespace": "ns1"}, "subsets": [{
        "addresses": [{"ip": ip} for ip in ips],
        "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "tcp", "port": 5353, "protocol": "TCP"}]}]}))


def test_removed_endpoint_and_first_endpoints() -> None:
    two = udp_targets([DNS], slices("10.244.0.5", "10.244.0.6"))
    assert list(two) == ["ns1/dns:dns"]  # the TCP port needs nothing
    one = udp_targets([DNS], slices("10.244.0.6"))
    assert stale_filters(two, one) == [["--orig-dst", "10.96.0.10", "--reply-src", "10.244.0.5"],
                                       ["--orig-dst", "192.0.2.10", "--reply-src", "10.244.0.5"],
                                       ["--dport", "30053", "--reply-src", "10.244.0.5"]]
    none = udp_targets([DNS], slices())
    assert stale_filters(none, one) == [["--orig-dst", "10.96.0.10"], ["--orig-dst", "192.0.2.10"]]
    assert stale_filters(one, one) == []
    # The first sync after a start: as if no endpoints were known (entries from before are cleared).
    assert stale_filters(None, one) == stale_filters(none, one)


class FakeConntrack:
    def __init__(self) -> None:
        self.calls: list[list[list[str]]] = []

    def delete(self, filters: list[list[str]]) -> int:
        self.calls.append(filters)
        return len(filters)


async def test_proxier_deletes_after_an_endpoint_leaves() -> None:
    from proxy.main import Proxier

    ct = FakeConntrack()
    eps: Any = ListSource(*slices("10.244.0.5", "10.244.0.6"))
    p = Proxier(ProxyConfig(prefix="KLT"), FakeIptables(), ListSource(DNS), eps, conntrack=ct)  # type: ignore[arg-type]
    await p.sync(True)
    eps.objs = slices("10.244.0.6")
    await p.sync(False)
    assert [f for call in ct.calls[1:] for f in call] == [
        ["--orig-dst", "10.96.0.10", "--reply-src", "10.244.0.5"],
        ["--orig-dst", "192.0.2.10", "--reply-src", "10.244.0.5"],
        ["--dport", "30053", "--reply-src", "10.244.0.5"]]
