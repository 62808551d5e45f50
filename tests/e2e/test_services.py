"""Services end to end on real Docker: 3 busybox httpd pods (kubelet) -> Endpoints and
EndpointSlices (the two controllers, run in this process) -> iptables
(`python -m proxy`) -> answers from the host and from inside a pod; a readiness failure takes a
pod out of the Service.

Traffic safety: nothing is sent unless the guard (kubelet.network) is complete; the proxy runs
with a random chain prefix and only for this test's namespace; every packet goes to a ClusterIP
of this test that the proxy DNATs to this test's pods on the cluster's own bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controllers.endpoints import EndpointsController
from controllers.endpointslice import EndpointSliceController
from machinery.client import ApiClient
from machinery.models import Pod, Service
from machinery.podlogs import exec_in_pod
from tests.e2e.conftest import Cluster
from tests.e2e.proxyenv import (
    BUSYBOX,
    create_service,
    fetch,
    guard_complete,
    running_proxy,
    wait_pods_ready,
    web_pod,
)
from tests.support import running_controllers, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def services_env(cluster: Cluster, api: ApiClient) -> AsyncIterator[dict[str, Any]]:
    if not guard_complete():
        pytest.skip("the traffic guard is not installed: no traffic to service IPs")
    ns = f"svc-{uuid.uuid4().hex[:6]}"
    await api.request("POST", "/api/v1/namespaces", json={"metadata": {"name": ns}})
    async with running_controllers(api, EndpointsController, EndpointSliceController):
        with running_proxy(cluster, ns, "KLE", cluster.kubeconfig_for("kube-proxy")) as (prefix, proxy):
            yield {"ns": ns, "prefix": prefix, "proxy": proxy}


def programmed(prefix: str, ns: str, endpoints: int = 3) -> bool:
    """The proxy's rules for `ns/web` with `endpoints` endpoints are in the kernel: SEP chains in
    nat, the hooks, and no "has no endpoints" REJECT left in filter."""
    nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    filt = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    return (nat.count(f"-A {prefix}-SEP-") >= 2 * endpoints and f'"{prefix} service portals"' in nat
            and f"{ns}/web:http has no endpoints" not in filt)


async def test_service_balances_from_host_and_pod_and_follows_readiness(
        cluster: Cluster, api: ApiClient, services_env: dict[str, Any]) -> None:
    ns, prefix = services_env["ns"], services_env["prefix"]
    names = ["web-a", "web-b", "web-c"]
    for name in names:
        await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=web_pod(cluster, ns, name))
    # The in-pod check runs from a pod that is not a backend (backends calling their own Service:
    # test_every_backend_calls_its_own_service).
    client = web_pod(cluster, ns, "client", labels={"app": "client"})
    await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=client)
    svc = await make_web_service(api, ns)
    assert svc.spec is not None
    url = f"http://{svc.spec.clusterIP}/index.html"

    def rules() -> str:
        return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout

    async def three_endpoints() -> bool:
        return programmed(prefix, ns)

    await wait_until(three_endpoints, 90, 0.5, message=f"no 3 endpoints in iptables:\n{cluster.logs()}")
    seen = {await asyncio.to_thread(fetch, url) for _ in range(40)}
    assert seen == set(names)  # random balancing reached every pod (miss chance (2/3)^40 each)
    await wait_pods_ready(api, ns, ["client"], timeout_s=60)
    from_pod = await exec_in_pod(api, ns, "client", ["sh", "-c", f"timeout 4 wget -q -O- {url}"])
    assert from_pod.exit_code == 0 and from_pod.stdout.strip() in names, from_pod
    # web-b fails its readiness probe: out of the Service within about one probe period + a sync.
    await exec_in_pod(api, ns, "web-b", ["rm", "/tmp/ready"])

    async def b_gone() -> bool:
        return rules().count(f"-A {prefix}-SEP-") == 4

    await wait_until(b_gone, 15, 0.2, message="unready pod still in the rules")
    # The Service's EndpointSlice followed: web-b listed, not ready (what the proxy read).
    slices = await api.request("GET", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                               params={"labelSelector": "kubernetes.io/service-name=web"})
    conds = {e["targetRef"]["name"]: e["conditions"]["ready"] for s in slices["items"] for e in s.get("endpoints") or []}
    assert conds == {"web-a": True, "web-b": False, "web-c": True}
    seen = {await asyncio.to_thread(fetch, url) for _ in range(30)}
    assert seen == {"web-a", "web-c"}


async def make_web_service(api: ApiClient, ns: str) -> Service:
    """A ClusterIP Service `web` (app=web, port 80 -> http) on a random free IP of 10.96.200-254."""
    return await create_service(api, ns, "web", selector={"app": "web"},
                                ports=[{"name": "http", "port": 80, "targetPort": "http"}])


async def test_every_backend_calls_its_own_service(
        cluster: Cluster, api: ApiClient, services_env: dict[str, Any]) -> None:
    """Hairpin: each of the 3 backends calls the Service 100 times; the proxy picks the caller
    itself for about a third of them, which needs hairpin mode on its bridge port and the SEP
    chain's masquerade (source == chosen endpoint). 0 failures allowed."""
    ns, prefix = services_env["ns"], services_env["prefix"]
    names = ["web-a", "web-b", "web-c"]
    for name in names:
        await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=web_pod(cluster, ns, name))
    svc = await make_web_service(api, ns)
    assert svc.spec is not None
    url = f"http://{svc.spec.clusterIP}/index.html"
    await wait_pods_ready(api, ns, names)

    def three_endpoints() -> bool:
        return programmed(prefix, ns)

    await wait_until(three_endpoints, 90, 0.5, message=f"no 3 endpoints in iptables:\n{cluster.logs()}")
    # One exec per backend: 100 calls in a row, print who answered each time, stop at the first failure.
    script = (f"for i in $(seq 100); do timeout 4 wget -q -O- {url} || {{ echo FAIL $i; exit 1; }}; done")
    for name in names:
        res = await exec_in_pod(api, ns, name, ["sh", "-c", script])
        answers = res.stdout.split()
        assert res.exit_code == 0 and len(answers) == 100, (name, res.exit_code, res.stdout[-300:], res.stderr)
        assert set(answers) <= set(names)
        assert name in answers, f"{name} was never picked for itself in 100 calls: {set(answers)}"


async def test_cluster_dns_from_a_pod_through_the_dns_service(
        cluster: Cluster, api: ApiClient, services_env: dict[str, Any]) -> None:
    """The one-machine DNS design: the server on the host at the pod bridge's gateway, published
    as a selector-less Service whose Endpoints point at it; a pod queries the Service IP."""
    from addons.dns.main import DNS_SERVICE
    from tests.e2e.hostdns import host_dns

    ns, prefix = services_env["ns"], services_env["prefix"]
    async with host_dns(cluster, api, ns) as dns:
        gateway, port, dns_ip = dns.gateway, dns.port, dns.ip
        svc = await create_service(api, ns, "target", ports=[{"name": "http", "port": 80}])
        assert svc.spec is not None
        await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=web_pod(cluster, ns, "client"))

        def has_dns_rules() -> bool:
            text = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
            return (f"--to-destination {gateway}:{port}" in text and f"{prefix}-SVC" in text
                    and f'"{prefix} service portals"' in text)

        await wait_until(has_dns_rules, 30, 0.2, message="kube-dns rules never appeared")
        out: dict[str, Any] = {}

        async def resolved() -> bool:
            res = await exec_in_pod(api, ns, "client",
                                    ["sh", "-c", f"timeout 4 nslookup target.{ns}.svc.cluster.local {dns_ip}"])
            out["res"] = res
            return res.exit_code == 0 and svc.spec is not None and str(svc.spec.clusterIP) in res.stdout

        await wait_until(resolved, 60, 0.5, message=f"pod could not resolve through {DNS_SERVICE}: {out}")


class UdpResponder:
    """A UDP server inside a pod's network namespace (the sandbox's, joined with setns from a
    thread of this process: busybox has no UDP server) answering every datagram with `name`."""

    def __init__(self, pid: int, name: str, port: int) -> None:
        self.name, self.port = name, port
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
        self.thread.start()
        if not self.ready.wait(10) or self.error is not None:
            raise AssertionError(f"UDP responder in pid {pid} did not start: {self.error}")

    def _run(self, pid: int) -> None:
        from kubelet.podnet import _setns

        try:
            _setns(f"/proc/{pid}/ns/net")
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", self.port))
            sock.settimeout(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        with sock:
            while not self.stop.is_set():
                try:
                    _, peer = sock.recvfrom(512)
                except TimeoutError:
                    continue
                with contextlib.suppress(OSError):  # the pod's interface may be gone already
                    sock.sendto(self.name.encode(), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def sandbox_pid(cluster: Cluster, ns: str, pod: str) -> int:
    for ctr in cluster.docker_containers(**{"io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.name": pod,
                                            "io.kubelite.kind": "sandbox"}):
        ctr.reload()
        if ctr.attrs["State"]["Running"]:
            return int(ctr.attrs["State"]["Pid"])
    raise AssertionError(f"no running sandbox for {ns}/{pod}")


async def test_udp_client_reaches_the_new_backend_after_its_backend_is_deleted(
        cluster: Cluster, api: ApiClient, services_env: dict[str, Any]) -> None:
    """A client sending from one source port keeps its conntrack entry alive; when its backend
    is deleted, the proxy deletes that entry so the next datagrams reach the other backend."""
    ns = services_env["ns"]
    sleeper = cluster.pod("udp-a", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "86400"]}])
    sleeper["metadata"].update(namespace=ns, labels={"app": "udp"})
    await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=sleeper)
    await wait_pods_ready(api, ns, ["udp-a"])
    responders = [UdpResponder(await asyncio.to_thread(sandbox_pid, cluster, ns, "udp-a"), "udp-a", 9000)]
    svc = await create_service(api, ns, "udp", selector={"app": "udp"},
                               ports=[{"name": "u", "port": 9000, "protocol": "UDP", "targetPort": 9000}])
    assert svc.spec is not None
    target = (str(svc.spec.clusterIP), 9000)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(0.3)
    try:
        def ask() -> str:
            assert guard_complete()
            try:
                client.sendto(b"who", target)  # EPERM while the Service's REJECT is in place
                return client.recv(512).decode()
            except OSError:  # TimeoutError included
                return ""

        async def answers(name: str) -> bool:
            return await asyncio.to_thread(ask) == name

        def flows() -> str:
            return subprocess.run(["conntrack", "-L", "-p", "udp", "--dport", "9000"], capture_output=True,
                                  text=True).stdout

        try:
            await wait_until(lambda: answers("udp-a"), 60, 0.1)
        except AssertionError:
            raise AssertionError(f"no answer from udp-a; flows:\n{flows()}\n{cluster.logs()}") from None
        second = cluster.pod("udp-b", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "86400"]}])
        second["metadata"].update(namespace=ns, labels={"app": "udp"})
        await api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=second)
        await wait_pods_ready(api, ns, ["udp-b"])
        responders.append(UdpResponder(await asyncio.to_thread(sandbox_pid, cluster, ns, "udp-b"), "udp-b", 9000))

        def two_endpoints() -> bool:
            nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
            return sum(f"{ns}/udp:u" in line and "-j DNAT" in line for line in nat.splitlines()) == 2

        await wait_until(two_endpoints, 30, 0.2, message="udp-b never joined the Service")
        # The flow stays on udp-a (its conntrack entry is refreshed by every datagram).
        assert {await asyncio.to_thread(ask) for _ in range(10)} == {"udp-a"}
        await api.delete(Pod, "udp-a", namespace=ns, grace_period_s=0)
        await wait_until(lambda: answers("udp-b"), 30, 0.1, message=f"the client never reached udp-b:\n{cluster.logs()}")
        assert {await asyncio.to_thread(ask) for _ in range(5)} == {"udp-b"}
    finally:
        client.close()
        for r in responders:
            r.close()
