"""Service load balancers: the ServiceLB controller on the one fake client, its two allocators,
and the proxy's loadbalancer IP rules."""

from __future__ import annotations

from typing import Any

from controllers.servicelb import NodeAddressAllocator, PoolAllocator, ServiceLBController, node_address
from machinery.defaults import apply_defaults
from machinery.endpointslices import slices_from_endpoints
from machinery.models import Endpoints, Node, Service
from proxy.render import ProxyConfig, render
from tests.unit.builders import NS, make_context, preload
from tests.unit.fake_client import FakeClient


def lb(name: str = "web", *, ingress: list[str] | None = None, **spec: Any) -> Service:
    body: dict[str, Any] = {"metadata": {"name": name, "namespace": NS, "uid": f"u-{name}"},
                            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.30",
                                     "ports": [{"name": "http", "port": 80, "nodePort": 30080}], **spec}}
    if ingress is not None:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in ingress]}}
    return apply_defaults(Service.from_dict(body))


def node(name: str, *addrs: tuple[str, str], ready: bool = True) -> Node:
    return Node.from_dict({"metadata": {"name": name}, "status": {
        "addresses": [{"type": t, "address": a} for t, a in addrs],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})


def test_node_address_prefers_external_and_skips_loopback() -> None:
    assert node_address(node("a", ("InternalIP", "10.0.0.5"), ("ExternalIP", "192.0.2.5"))) == "192.0.2.5"
    assert node_address(node("b", ("InternalIP", "127.0.0.1"))) is None


async def test_controller_sets_node_addresses_then_clears_when_type_changes() -> None:
    client = FakeClient(namespace=NS)
    ctrl = ServiceLBController(make_context(client))
    svc = lb()
    client.add(svc)
    preload(ctrl.svc_informer, svc)
    preload(ctrl.node_informer, node("n2", ("InternalIP", "10.0.0.9")), node("n1", ("InternalIP", "10.0.0.5")),
            node("down", ("InternalIP", "10.0.0.7"), ready=False))
    await ctrl.sync(svc.key)
    [patch] = client.calls_of("patch/status", "Service")
    assert patch.body == {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.5", "ipMode": "VIP"},
                                                                  {"ip": "10.0.0.9", "ipMode": "VIP"}]}}}
    client.calls.clear()
    preload(ctrl.svc_informer, lb(ingress=["10.0.0.5", "10.0.0.9"]))
    await ctrl.sync(svc.key)
    assert not client.calls_of("patch/status", "Service")  # already right: no write
    preload(ctrl.svc_informer, lb(ingress=["10.0.0.5"], loadBalancerClass="example.com/other"))
    await ctrl.sync(svc.key)
    [clear] = client.calls_of("patch/status", "Service")
    assert clear.body == {"status": {"loadBalancer": {"ingress": None}}}


def test_pool_allocator_keeps_honours_and_exhausts() -> None:
    pool = PoolAllocator("172.30.0.8/30")  # hosts .9 and .10
    a = lb("a", ingress=["172.30.0.10"])
    assert pool.ingress(a, [a]) == [{"ip": "172.30.0.10", "ipMode": "VIP"}]  # kept after a restart
    b = lb("b")
    assert pool.ingress(b, [a, b]) == [{"ip": "172.30.0.9", "ipMode": "VIP"}]
    c = lb("c")
    assert pool.ingress(c, [a, lb("b", ingress=["172.30.0.9"]), c]) is None  # pool exhausted
    asked = lb("d", loadBalancerIP="172.30.0.10")
    assert pool.ingress(asked, [a, asked]) is None  # taken: stays pending
    assert NodeAddressAllocator(type("L", (), {"list": lambda self: []})()).ingress(b, []) is None


def test_proxy_answers_on_ingress_ips_through_the_ext_chain() -> None:
    svc = lb(ingress=["10.0.0.5"])
    eps = slices_from_endpoints(Endpoints.from_dict({"metadata": {"name": "web", "namespace": NS}, "subsets": [
        {"addresses": [{"ip": "10.244.0.5"}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}))
    cfg = ProxyConfig(prefix="KLT")
    nat = render([svc], eps, cfg).chains("nat")
    [rule] = [r for r in nat["KLT-SERVICES"] if "loadbalancer IP" in r]
    assert "-d 10.0.0.5/32 --dport 80 -j KLT-EXT-" in rule
    rejects = render([svc], [], cfg).chains("filter")["KLT-EXTERNAL-SERVICES"]
    assert any("-d 10.0.0.5/32 --dport 80" in r and "REJECT" in r for r in rejects)
