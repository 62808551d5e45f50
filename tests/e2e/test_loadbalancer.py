"""LoadBalancer Services on one host (k3s ServiceLB style) on real Docker: the ServiceLB
controller gives the Service the node's address as EXTERNAL-IP (kubectl shows it), the proxy
answers on EXTERNAL-IP:port, nodePorts follow allocateLoadBalancerNodePorts, and deleting the
Service takes the address's rules away. With `--iptables-localhost-nodeports` a NodePort also
answers on 127.0.0.1, and an externalTrafficPolicy Local Service's healthCheckNodePort answers
200 with the node's local endpoint count.

The node's address is its pod bridge's gateway (a 10.244.x.1 address of this cluster's own
bridge), so every packet stays on this machine; nothing is sent before the guard is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from controllers.endpointslice import EndpointSliceController
from controllers.servicelb import ServiceLBController
from machinery.client import ApiClient
from machinery.models import Service
from tests.e2e.conftest import ROOT, Cluster, run_cluster
from tests.e2e.proxyenv import create_service, fetch, guard_complete, running_proxy, wait_pods_ready, web_pod
from tests.support import running_controllers, wait_until

pytestmark = pytest.mark.e2e
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"


@pytest.fixture(scope="module")
def lb_cluster() -> Iterator[Cluster]:
    with run_cluster(node_ip_on_bridge=True) as c:
        yield c


@pytest.fixture
async def lb_env(lb_cluster: Cluster) -> AsyncIterator[dict[str, Any]]:
    async with _lb_env(lb_cluster) as env:
        yield env


@contextlib.asynccontextmanager
async def _lb_env(lb_cluster: Cluster, *extra: str) -> AsyncIterator[dict[str, Any]]:
    if not guard_complete():
        pytest.skip("the traffic guard is not installed: no traffic to service IPs")
    api = lb_cluster.client()
    ns = f"lb-{uuid.uuid4().hex[:6]}"
    await api.request("POST", "/api/v1/namespaces", json={"metadata": {"name": ns}})
    async with running_controllers(api, EndpointSliceController, ServiceLBController):
        try:
            with running_proxy(lb_cluster, ns, "KLL", lb_cluster.kubeconfig, *extra) as (prefix, _):
                yield {"ns": ns, "prefix": prefix, "api": api}
        finally:
            await api.aclose()


async def create_lb(api: ApiClient, ns: str, name: str, **spec: Any) -> Service:
    return await create_service(api, ns, name, type="LoadBalancer", selector={"app": "web"},
                                ports=[{"name": "http", "port": 80, "targetPort": "http"}], **spec)


async def test_load_balancer_gets_the_node_address_and_answers_there(lb_cluster: Cluster,
                                                                     lb_env: dict[str, Any]) -> None:
    ns, prefix, api = lb_env["ns"], lb_env["prefix"], lb_env["api"]
    gateway = lb_cluster.pod_cidr.rsplit(".", 1)[0] + ".1"
    for name in ("web-a", "web-b"):
        await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=web_pod(lb_cluster, ns, name))
    svc = await create_lb(api, ns, "web")
    assert svc.spec is not None and svc.spec.allocateLoadBalancerNodePorts is True
    assert (svc.spec.ports or [])[0].nodePort  # allocated, as Kubernetes by default
    bare = await create_lb(api, ns, "bare", allocateLoadBalancerNodePorts=False)
    assert bare.spec is not None and (bare.spec.ports or [])[0].nodePort is None

    async def ingress() -> list[str]:
        got = await api.get(Service, "web", namespace=ns)
        lb = got.status.loadBalancer if got.status else None
        return [i.ip or "" for i in (lb.ingress or [])] if lb else []

    async def has_ingress() -> bool:
        return await ingress() == [gateway]

    await wait_until(has_ingress, 30, 0.2, message=f"no ingress {gateway}:\n{lb_cluster.logs()}")
    env = {**os.environ, "KUBECONFIG": str(lb_cluster.kubeconfig), "HOME": str(lb_cluster.tmp)}
    out = await asyncio.to_thread(subprocess.run, [str(KUBECTL), "-n", ns, "get", "svc", "web"],
                                  capture_output=True, text=True, env=env, check=True)
    header, row = out.stdout.splitlines()[:2]
    assert header.split()[3] == "EXTERNAL-IP" and row.split()[3] == gateway
    await wait_pods_ready(api, ns, ["web-a", "web-b"])

    def lb_rule() -> bool:
        text = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
        return (f"-d {gateway}/32" in text and "loadbalancer IP" in text and f"{prefix}-SEP-" in text
                and text.count(f"-A {prefix}-SEP-") >= 4)

    await wait_until(lb_rule, 60, 0.2, message="no loadbalancer IP rule")
    assert guard_complete()
    seen = {await asyncio.to_thread(fetch, f"http://{gateway}:80/index.html") for _ in range(30)}
    assert seen == {"web-a", "web-b"}
    await api.delete(Service, "web", namespace=ns)

    def released() -> bool:
        text = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
        return not any("loadbalancer IP" in line and prefix in line and f"{ns}/web:" in line
                       for line in text.splitlines())

    await wait_until(released, 30, 0.2, message="loadbalancer IP rule still there after the delete")


async def test_localhost_nodeport_and_health_check_node_port(lb_cluster: Cluster) -> None:
    knob = Path("/proc/sys/net/ipv4/conf/all/route_localnet")
    before = await asyncio.to_thread(knob.read_text)
    try:
        async with _lb_env(lb_cluster, "--iptables-localhost-nodeports", "--health-check-bind-address",
                           "127.0.0.1") as env:
            ns, api = env["ns"], env["api"]
            await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=web_pod(lb_cluster, ns, "web-a"))
            svc = await create_lb(api, ns, "web", externalTrafficPolicy="Local")
            assert svc.spec is not None and svc.spec.healthCheckNodePort
            node_port, hc = (svc.spec.ports or [])[0].nodePort, svc.spec.healthCheckNodePort
            await wait_pods_ready(api, ns, ["web-a"])

            def answers(url: str) -> str:
                try:
                    return fetch(url)
                except Exception:  # noqa: BLE001 - polled until the condition holds
                    return ""

            async def served() -> bool:
                return await asyncio.to_thread(answers, f"http://127.0.0.1:{node_port}/index.html") == "web-a"

            await wait_until(served, 60, 0.3, message=f"127.0.0.1:{node_port} does not answer:\n{lb_cluster.logs()}")
            assert (await asyncio.to_thread(knob.read_text)).strip() == "1"  # the proxy set route_localnet
            health = json.loads(await asyncio.to_thread(answers, f"http://127.0.0.1:{hc}/healthz"))
            assert health == {"service": {"namespace": ns, "name": "web"}, "localEndpoints": 1,
                              "serviceProxyHealthy": True}
    finally:
        await asyncio.to_thread(knob.write_text, before.strip())  # leave the host as it was
