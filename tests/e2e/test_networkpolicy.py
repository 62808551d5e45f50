"""NetworkPolicy end to end on real Docker: busybox pods on the kubelet's bridge, the policy
agent of `python -m proxy` programming the kernel, traffic between real pods.

A server pod answers both clients with no policy (so the test can fail); a default-deny
policy then blocks both; an allow rule for `role=client` lets the client through while the
other pod stays blocked. Waits are on the kernel's rules, then on the traffic itself.

Traffic safety: nothing is sent unless the guard (kubelet.network) is complete; every packet
goes pod-to-pod on this cluster's own bridge; the proxy runs with a random chain prefix and
only for this test's namespace.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.podlogs import exec_in_pod
from tests.e2e.conftest import Cluster
from tests.e2e.proxyenv import busybox_pod, guard_complete, running_proxy, wait_pods_ready
from tests.support import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def policy_env(cluster: Cluster, api: ApiClient) -> AsyncIterator[dict[str, Any]]:
    if not guard_complete():
        pytest.skip("the traffic guard is not installed: no pod traffic")
    ns = f"np-{uuid.uuid4().hex[:6]}"
    await api.request("POST", "/api/v1/namespaces", json={"metadata": {"name": ns}})
    try:
        with running_proxy(cluster, ns, "KLN", cluster.kubeconfig, log_name=f"proxy-{ns}.log") as (prefix, _):
            yield {"ns": ns, "prefix": prefix}
    finally:
        await api.request("DELETE", f"/api/v1/namespaces/{ns}/pods", params={"gracePeriodSeconds": "0"})


def has_rule(*parts: str) -> bool:
    """A filter-table rule holding every one of `parts` is in the kernel."""
    text = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    return any(all(p in line for p in parts) for line in text.splitlines())


async def test_default_deny_then_allow_role_client(cluster: Cluster, api: ApiClient,
                                                   policy_env: dict[str, Any]) -> None:
    ns, prefix = policy_env["ns"], policy_env["prefix"]
    serve = "mkdir -p /www && echo hello > /www/index.html && httpd -p 8080 -h /www && touch /tmp/ready && exec sleep 86400"
    idle = "touch /tmp/ready && exec sleep 86400"
    for name, labels, script in (("server", {"app": "web"}, serve), ("client", {"role": "client"}, idle),
                                 ("other", {"role": "other"}, idle)):
        await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=busybox_pod(cluster, ns, name, script, labels))
    try:
        ips = await wait_pods_ready(api, ns, ["server", "client", "other"])
    except AssertionError:
        raise AssertionError(f"pods not ready:\n{cluster.logs()}") from None
    url = f"http://{ips['server']}:8080/index.html"

    async def reaches(name: str) -> bool:
        res = await exec_in_pod(api, ns, name, ["sh", "-c", f"timeout 4 wget -q -O- {url}"])
        return res.exit_code == 0 and res.stdout.strip() == "hello"

    assert await reaches("client") and await reaches("other")  # no policy: everyone gets in

    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": ns}, "spec": {"podSelector": {}}}
    await api.request("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", json=deny)

    async def server_isolated() -> bool:
        return has_rule(f"-A {prefix}-NPOL", f"-d {ips['server']}/32", f"-j {prefix}-NPI-")

    await wait_until(server_isolated, 20, 0.1, message="no ingress chain for the server")
    assert not await reaches("client")
    assert not await reaches("other")

    allow = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "allow-clients", "namespace": ns},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                                   "ports": [{"port": 8080}]}]}}
    await api.request("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", json=allow)

    async def client_allowed() -> bool:
        return has_rule(f"-A {prefix}-NPR-", f"-s {ips['client']}/32", "-j MARK")

    await wait_until(client_allowed, 20, 0.1, message="no allow rule for the client")
    assert await reaches("client")
    assert not await reaches("other")


async def test_egress_deny_blocks_the_cluster_dns_until_a_rule_allows_it(
        cluster: Cluster, api: ApiClient, policy_env: dict[str, Any]) -> None:
    """The DNS add-on runs on the host (the bridge gateway) behind a selector-less Service: a
    pod reaches it through the proxy's DNAT, so the policy agent judges it on INPUT."""
    from controllers.endpointslice import EndpointSliceController
    from tests.e2e.hostdns import host_dns
    from tests.support import running_controllers

    ns, prefix = policy_env["ns"], policy_env["prefix"]
    async with running_controllers(api, EndpointSliceController), host_dns(cluster, api, ns) as dns:
        dns_ip, port = dns.ip, dns.port
        await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=busybox_pod(
            cluster, ns, "client", "touch /tmp/ready && exec sleep 86400", {"role": "client"}))
        name = f"kube-dns.{ns}.svc.cluster.local"

        async def resolves() -> bool:
            try:
                res = await exec_in_pod(api, ns, "client", ["sh", "-c", f"timeout 4 nslookup {name} {dns_ip}"])
            except errors.NotFound:  # the container is not running yet
                return False
            return res.exit_code == 0 and dns_ip in res.stdout

        await wait_until(resolves, 90, 0.5, message=f"no DNS answer without any policy:\n{cluster.logs()}")
        deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "deny-egress", "namespace": ns},
                "spec": {"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"]}}
        await api.request("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", json=deny)
        await wait_until(lambda: has_rule(f"-A {prefix}-NPOL", f"-j {prefix}-NPE-"), 20, 0.1,
                         message="no egress chain for the client")
        assert not await resolves()
        allow = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "allow-dns", "namespace": ns},
                 "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                          "egress": [{"ports": [{"protocol": "UDP", "port": port},
                                                {"protocol": "TCP", "port": port}]}]}}
        await api.request("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", json=allow)
        await wait_until(lambda: has_rule(f"-A {prefix}-NPP-", f"--dport {port}", "-j MARK"), 20, 0.1,
                         message="no allow rule for the DNS port")
        assert await resolves()
