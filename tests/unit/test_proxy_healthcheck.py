"""proxy.healthcheck: which Services get a healthCheckNodePort listener and what it answers
(real asyncio listeners on loopback, real HTTP requests)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx

from machinery.models import EndpointSlice, Service
from proxy.healthcheck import HealthServers, Target, health_targets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lb(name: str, hc: int | None, policy: str = "Local", type_: str = "LoadBalancer") -> Service:
    spec: dict[str, Any] = {"type": type_, "clusterIP": "10.96.0.50", "externalTrafficPolicy": policy,
                            "ports": [{"name": "http", "port": 80, "nodePort": 30080},
                                      {"name": "alt", "port": 81, "nodePort": 30081}]}
    if hc:
        spec["healthCheckNodePort"] = hc
    return Service.from_dict({"metadata": {"name": name, "namespace": "ns"}, "spec": spec})


def slice_of(name: str, endpoints: list[tuple[str, str, bool]], port_name: str = "http") -> EndpointSlice:
    return EndpointSlice.from_dict({
        "metadata": {"name": f"{name}-{port_name}", "namespace": "ns", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "ports": [{"name": port_name, "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": ready}}
                      for ip, node, ready in endpoints]})


def test_targets_count_unique_ready_local_endpoints() -> None:
    eps = [("10.244.0.5", "n1", True), ("10.244.0.6", "n1", False), ("10.244.1.5", "n2", True)]
    slices = [slice_of("web", eps), slice_of("web", eps, "alt"), slice_of("none", [("10.244.1.9", "n2", True)])]
    services = [lb("web", 31000), lb("none", 31001), lb("cluster", None, policy="Cluster"),
                lb("np", 31003, type_="NodePort")]
    assert health_targets(services, slices, "n1") == {31000: Target("ns", "web", 1), 31001: Target("ns", "none", 0)}


async def test_listener_answers_like_kube_proxy_and_follows_updates() -> None:
    port = free_port()
    servers = HealthServers("127.0.0.1")
    try:
        await servers.update({port: Target("ns", "web", 2)})
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            r = await http.get(f"http://127.0.0.1:{port}/healthz")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/json"
            assert r.headers["x-load-balancing-endpoint-weight"] == "2"
            assert json.loads(r.text) == {"service": {"namespace": "ns", "name": "web"}, "localEndpoints": 2,
                                          "serviceProxyHealthy": True}
            await servers.update({port: Target("ns", "web", 0)})
            r = await http.get(f"http://127.0.0.1:{port}/")
            assert r.status_code == 503 and json.loads(r.text)["localEndpoints"] == 0
            await servers.update({port: Target("ns", "web", 1)}, healthy=False)
            r = await http.get(f"http://127.0.0.1:{port}/")
            assert r.status_code == 503 and json.loads(r.text)["serviceProxyHealthy"] is False
        await servers.update({})
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # closed once no Service wants it
    finally:
        await servers.close()


async def test_a_taken_port_is_logged_and_retried() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = int(blocker.getsockname()[1])
    servers = HealthServers("127.0.0.1")
    try:
        await servers.update({port: Target("ns", "web", 1)})
        assert port not in servers.servers
        blocker.close()
        await servers.update({port: Target("ns", "web", 1)})
        assert port in servers.servers
    finally:
        blocker.close()
        await servers.close()


def test_route_localnet_is_set_once(tmp_path: Path) -> None:
    from proxy.main import ensure_route_localnet, parse_args

    knob = tmp_path / "route_localnet"
    knob.write_text("0\n")
    assert ensure_route_localnet(knob) is True and knob.read_text() == "1"
    assert ensure_route_localnet(knob) is False
    assert parse_args(["--node-name", "n"]).iptables_localhost_nodeports is False  # off by default
    assert parse_args(["--node-name", "n", "--iptables-localhost-nodeports"]).iptables_localhost_nodeports is True
