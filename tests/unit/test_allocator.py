"""apiserver.allocator: ClusterIP and NodePort allocation, recovery and release."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from apiserver.allocator import ServiceAllocator
from machinery import errors


def svc(name: str = "s", ip: str | None = None, type_: str = "ClusterIP", ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": ports if ports is not None else [{"port": 80}]}
    if ip is not None:
        spec["clusterIP"] = ip
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_allocates_in_range_never_reserved() -> None:
    a = ServiceAllocator("10.96.0.0/28")  # 14 usable addresses, 2 reserved
    seen = set()
    for i in range(12):
        s = svc(f"s{i}")
        a.allocate(s)
        ip = s["spec"]["clusterIP"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/28")
        assert ip not in ("10.96.0.1", "10.96.0.10", "10.96.0.0", "10.96.0.15")
        assert s["spec"]["clusterIPs"] == [ip]
        seen.add(ip)
    assert len(seen) == 12
    with pytest.raises(errors.Invalid, match="range is full"):
        a.allocate(svc("full"))


def test_requested_ip_honoured_else_422() -> None:
    a = ServiceAllocator()
    s = svc(ip="10.96.0.10")
    a.allocate(s)
    assert s["spec"]["clusterIP"] == "10.96.0.10"
    with pytest.raises(errors.Invalid) as e:
        a.allocate(svc("dup", ip="10.96.0.10"))
    assert e.value.causes[0]["field"] == "spec.clusterIP"
    assert "already allocated" in e.value.message
    with pytest.raises(errors.Invalid, match="not in the valid range"):
        a.allocate(svc("out", ip="10.0.0.5"))
    with pytest.raises(errors.Invalid, match="valid IP"):
        a.allocate(svc("bad", ip="not-an-ip"))


def test_headless_and_release() -> None:
    a = ServiceAllocator()
    h = svc(ip="None")
    a.allocate(h)
    assert h["spec"]["clusterIP"] == "None" and not a.used_ips
    s = svc(ip="10.96.5.5")
    a.allocate(s)
    a.release(s)
    a.allocate(svc("again", ip="10.96.5.5"))  # free again


def test_recover_from_stored_services() -> None:
    a = ServiceAllocator()
    stored = [svc("x", ip="10.96.1.1", type_="NodePort", ports=[{"port": 80, "nodePort": 30080}]),
              svc("h", ip="None")]
    a.recover(stored)
    assert a.used_ips == {"10.96.1.1"} and a.used_ports == {30080}
    with pytest.raises(errors.Invalid):
        a.allocate(svc("y", ip="10.96.1.1"))
    with pytest.raises(errors.Invalid, match="already allocated"):
        a.allocate(svc("z", type_="NodePort", ports=[{"port": 1, "nodePort": 30080}]))


def test_node_ports_allocated_requested_and_validated() -> None:
    a = ServiceAllocator(node_ports=(30000, 30002))
    s = svc(type_="NodePort", ports=[{"port": 80}, {"port": 81, "nodePort": 30001}])
    a.allocate(s)
    ports = [p["nodePort"] for p in s["spec"]["ports"]]
    assert ports[1] == 30001 and 30000 <= ports[0] <= 30002 and ports[0] != 30001
    with pytest.raises(errors.Invalid) as e:
        a.allocate(svc("o", type_="NodePort", ports=[{"port": 1, "nodePort": 40000}]))
    assert e.value.causes[0]["field"] == "spec.ports[0].nodePort"
    a.allocate(svc("last", type_="NodePort", ports=[{"port": 1}]))
    with pytest.raises(errors.Invalid, match="range is full"):
        a.allocate(svc("none-left", type_="NodePort", ports=[{"port": 1}]))


def test_failed_allocation_rolls_back() -> None:
    a = ServiceAllocator()
    a.recover([svc("x", type_="NodePort", ports=[{"port": 1, "nodePort": 30500}])])
    bad = svc("b", ip="10.96.7.7", type_="NodePort", ports=[{"port": 1, "nodePort": 30500}])
    with pytest.raises(errors.Invalid):
        a.allocate(bad)
    assert "10.96.7.7" not in a.used_ips  # the IP taken before the port failed was given back
    res = a.allocate(svc("c", ip="10.96.7.8"))
    res.rollback()
    assert "10.96.7.8" not in a.used_ips


def test_update_keeps_values_and_frees_dropped_ports() -> None:
    a = ServiceAllocator()
    old = svc(type_="NodePort", ports=[{"port": 80}, {"port": 81}])
    a.allocate(old)
    ip = old["spec"]["clusterIP"]
    kept_port = old["spec"]["ports"][0]["nodePort"]
    dropped = old["spec"]["ports"][1]["nodePort"]
    new = svc(type_="NodePort", ports=[{"port": 80}])  # clusterIP and nodePort left empty
    a.allocate(new, old)
    assert new["spec"]["clusterIP"] == ip and new["spec"]["ports"][0]["nodePort"] == kept_port
    assert dropped not in a.used_ports and kept_port in a.used_ports
    with pytest.raises(errors.Invalid, match="immutable"):
        a.allocate(svc(ip="10.96.9.9"), new)
    to_cluster_ip = svc(ports=[{"port": 80, "nodePort": kept_port}])
    a.allocate(to_cluster_ip, new)
    assert "nodePort" not in to_cluster_ip["spec"]["ports"][0] and kept_port not in a.used_ports


def test_load_balancer_node_ports_follow_allocate_load_balancer_node_ports() -> None:
    a = ServiceAllocator()
    lb = svc("lb", type_="LoadBalancer", ports=[{"port": 80}, {"port": 81, "nodePort": 30081}])
    lb["spec"]["allocateLoadBalancerNodePorts"] = False
    a.allocate(lb)
    assert [p.get("nodePort") for p in lb["spec"]["ports"]] == [None, 30081]  # only the one asked for
    on = svc("on", type_="LoadBalancer", ports=[{"port": 80}])
    on["spec"]["allocateLoadBalancerNodePorts"] = True
    a.allocate(on)
    assert on["spec"]["ports"][0]["nodePort"]


def lb_local(name: str = "lb", hc: int | None = None, policy: str = "Local") -> dict[str, Any]:
    s = svc(name, type_="LoadBalancer")
    s["spec"]["externalTrafficPolicy"] = policy
    if hc is not None:
        s["spec"]["healthCheckNodePort"] = hc
    return s


def test_health_check_node_port_allocated_kept_and_released() -> None:
    a = ServiceAllocator(node_ports=(30000, 30009))
    s = lb_local()
    a.allocate(s)
    hc = s["spec"]["healthCheckNodePort"]
    assert 30000 <= hc <= 30009 and hc != s["spec"]["ports"][0]["nodePort"]
    assert hc in a.used_ports
    kept = lb_local()  # an update that leaves it out keeps it (patchAllocatedValues)
    a.allocate(kept, s)
    assert kept["spec"]["healthCheckNodePort"] == hc
    with pytest.raises(errors.Invalid, match="field is immutable"):
        a.allocate(lb_local(hc=30000 if hc != 30000 else 30001), s)
    cluster = lb_local(hc=hc, policy="Cluster")  # Local -> Cluster: released and dropped
    res = a.allocate(cluster, kept)
    assert "healthCheckNodePort" not in cluster["spec"] and hc not in a.used_ports
    res.rollback()
    assert hc in a.used_ports  # a failed write gives it back
    a.release(kept)
    assert hc not in a.used_ports


def test_health_check_node_port_requested_and_refused_when_not_needed() -> None:
    a = ServiceAllocator(node_ports=(30000, 30009))
    s = lb_local(hc=30005)
    # the Service port's own nodePort is given too: a random one could be 30005 (1 run in 10)
    s["spec"]["ports"][0]["nodePort"] = 30001
    a.allocate(s)
    assert s["spec"]["healthCheckNodePort"] == 30005
    with pytest.raises(errors.Invalid, match="already allocated"):
        a.allocate(lb_local("other", hc=30005))
    with pytest.raises(errors.Invalid, match="not in the valid range"):
        a.allocate(lb_local("far", hc=40000))
    with pytest.raises(errors.Invalid, match="may only be set when `type` is 'LoadBalancer'"):
        a.allocate(lb_local("cluster", hc=30006, policy="Cluster"))
    b = ServiceAllocator(node_ports=(30000, 30009))
    b.recover([s])
    assert 30005 in b.used_ports


def test_an_automatic_node_port_never_takes_the_requested_health_check_port() -> None:
    for _ in range(20):  # the automatic pick starts at a random port of the two
        a = ServiceAllocator(node_ports=(30000, 30001))
        s = lb_local(hc=30000)
        a.allocate(s)
        assert (s["spec"]["ports"][0]["nodePort"], s["spec"]["healthCheckNodePort"]) == (30001, 30000)
