"""The real proxy process (`python -m proxy`) against a real API server, checked in the kernel's
iptables; the endpoints controller against the same server; and one real traffic test into a
network namespace this test creates (only when the traffic guard is installed).

Every proxy here runs with a random `--chain-prefix` and `--namespace <the test's namespace>`,
so it can never touch (or shadow) the chains of a cluster running on this machine; teardown
removes the chains even when the process was killed or the test failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controllers.base import ControllerContext
from controllers.endpoints import EndpointsController
from machinery.client import ApiClient
from machinery.events import ClientSink, EventRecorder
from machinery.informer import InformerFactory
from machinery.models import Endpoints, NetworkPolicy, Pod, Service
from proxy.iptables import cleanup_all
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("iptables-restore") is None or os.geteuid() != 0,
                                reason="needs root and iptables")


def nat() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout


def drop_output_hook(prefix: str) -> None:
    subprocess.run(["iptables", "-w", "5", "-t", "nat", "-D", "OUTPUT", "-m", "comment", "--comment",
                    f"{prefix} service portals", "-j", f"{prefix}-SERVICES"], check=True)


def filt() -> str:
    return subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout


class ProxyProcess:
    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.prefix = f"KLT{uuid.uuid4().hex[:5].upper()}"
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.dir = Path(tempfile.mkdtemp(prefix="kubelite-proxy-"))
        self.log_path = self.dir / "proxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "proxy", "--kubeconfig", self.kubeconfig, "--node-name", "n1",
                 "--chain-prefix", self.prefix, "--namespace", self.namespace,
                 "--min-sync-period-s", "0.1", "--sync-period-s", "2", "--health-check-bind-address", "127.0.0.1"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def signal(self, sig: int, timeout_s: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout_s)
        self.proc = None
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def our_lines(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if self.prefix in line]

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        cleanup_all(self.prefix)  # whatever the process left behind
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def proxy(apiserver: Any, namespace: str, endpointslice_controller: object) -> Iterator[ProxyProcess]:
    p = ProxyProcess(apiserver.kubeconfig, namespace)
    try:
        p.start()
        yield p
    finally:
        p.cleanup()
        assert not p.our_lines(nat() + filt()), "proxy chains left behind"


async def create_service(client: ApiClient, namespace: str, name: str, **spec: Any) -> Service:
    """A Service at a random ClusterIP high in the range (unlikely to be a running cluster's)."""
    for _ in range(20):
        ip = f"10.96.{random.randrange(200, 255)}.{random.randrange(2, 254)}"
        body = {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterIP": ip, **spec}}
        try:
            return await client.create(Service.from_dict(body), namespace=namespace)
        except Exception as exc:  # taken: try another
            if "Invalid" not in type(exc).__name__:
                raise
    raise AssertionError("no free ClusterIP found")


async def put_endpoints(client: ApiClient, namespace: str, name: str, ips: list[str], port: int,
                        port_name: str = "http") -> None:
    subsets = [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": port_name, "port": port}]}] if ips else None
    try:
        current = await client.get(Endpoints, name, namespace=namespace)
    except Exception:  # noqa: BLE001 - polled until the condition holds
        body = {"metadata": {"name": name, "namespace": namespace}, "subsets": subsets}
        await client.create(Endpoints.from_dict(body), namespace=namespace)
        return
    data = current.to_dict()
    data["subsets"] = subsets
    if subsets is None:
        data.pop("subsets", None)
    await client.replace(Endpoints.from_dict(data))


async def wait_rules(predicate: Any, proxy: ProxyProcess, timeout_s: float = 10.0) -> None:
    try:
        await wait_until(lambda: predicate(nat(), filt()), timeout_s=timeout_s, interval_s=0.05)
    except AssertionError:
        raise AssertionError(f"rules not as expected; proxy log:\n{proxy.log_text()[-3000:]}") from None


async def test_rules_follow_services_and_endpoints(proxy: ProxyProcess, api_client: ApiClient,
                                                   namespace: str) -> None:
    svc = await create_service(api_client, namespace, "web", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    assert svc.spec is not None and svc.spec.clusterIP
    cip = svc.spec.clusterIP
    # No endpoints yet: a REJECT in the filter table, no nat chain for it.
    await wait_rules(lambda n, f: any(f"-d {cip}/32" in x and "REJECT" in x for x in proxy.our_lines(f)), proxy)
    # Hooks in place (inserted right after the first restore).
    hook = f"-A PREROUTING -m comment --comment \"{proxy.prefix} service portals\""
    await wait_rules(lambda n, f: any(x.startswith(hook) for x in n.splitlines()), proxy)
    await put_endpoints(api_client, namespace, "web", ["10.244.250.2", "10.244.250.3"], 8080)
    started = time.monotonic()
    await wait_rules(lambda n, f: "--to-destination 10.244.250.3:8080" in n and "10.244.250.2:8080" in n, proxy)
    took = time.monotonic() - started
    lines = proxy.our_lines(nat())
    assert any(f"-d {cip}/32" in x and f"-j {proxy.prefix}-SVC-" in x for x in lines)
    assert any("--probability 0.5" in x for x in lines)
    assert not any(f"-d {cip}/32" in x and "REJECT" in x for x in proxy.our_lines(filt()))
    assert took < 5.0
    # One endpoint goes: its SEP chain is deleted, the other stays.
    await put_endpoints(api_client, namespace, "web", ["10.244.250.3"], 8080)
    await wait_rules(lambda n, f: "10.244.250.2:8080" not in n and "10.244.250.3:8080" in n, proxy)
    seps = {x.split()[0][1:] for x in proxy.our_lines(nat()) if x.startswith(f":{proxy.prefix}-SEP-")}
    assert len(seps) == 1
    # The Service goes: nothing of it remains.
    await api_client.delete(Service, "web", namespace=namespace)
    await wait_rules(lambda n, f: cip not in n and cip not in f and f":{proxy.prefix}-SVC-" not in n, proxy)


async def test_sigkill_keeps_rules_restart_repairs_sigterm_removes(proxy: ProxyProcess, api_client: ApiClient,
                                                                    namespace: str) -> None:
    await create_service(api_client, namespace, "web", type="NodePort",
                         ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    await put_endpoints(api_client, namespace, "web", ["10.244.250.2"], 8080)
    output_hook = f"-A OUTPUT -m comment --comment \"{proxy.prefix} service portals\""
    # Hooks are inserted right after the first restore: wait for them too.
    await wait_rules(lambda n, f: "10.244.250.2:8080" in n and output_hook in n, proxy)
    assert any(f"-A {proxy.prefix}-NODEPORTS" in x for x in nat().splitlines())
    assert proxy.signal(signal.SIGKILL) != 0
    assert "10.244.250.2:8080" in nat()  # SIGKILL: the rules stay (traffic keeps flowing)
    await put_endpoints(api_client, namespace, "web", ["10.244.250.7"], 8080)
    # Someone also deletes a hook while the proxy is down: the restart must put it back.
    drop_output_hook(proxy.prefix)
    proxy.start()
    await wait_rules(lambda n, f: "10.244.250.7:8080" in n and "10.244.250.2:8080" not in n
                     and output_hook in n, proxy)
    hooks = [x for x in nat().splitlines() if x.startswith(("-A PREROUTING", "-A OUTPUT", "-A POSTROUTING"))
             and proxy.prefix in x]
    assert len(hooks) == 3  # re-inserted once, never duplicated
    assert len([x for x in proxy.our_lines(nat()) if x.startswith(f":{proxy.prefix}-SEP-")]) == 1
    assert proxy.signal(signal.SIGTERM) == 0
    assert proxy.our_lines(nat() + filt()) == []


# -- the endpoints controller against the real API server ----------------------------------------

@pytest.fixture
async def endpoints_controller(api_client: ApiClient) -> AsyncIterator[EndpointsController]:
    factory = InformerFactory(api_client)
    ctrl = EndpointsController(ControllerContext(client=api_client, factory=factory,
                                                 recorder=EventRecorder(ClientSink(api_client), component="test", background=False), workers=2))
    await factory.start()
    await factory.wait_synced(timeout_s=10)
    task = asyncio.create_task(ctrl.run())
    try:
        yield ctrl
    finally:
        ctrl.shutdown()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await factory.stop()


async def make_pod(client: ApiClient, namespace: str, name: str, ip: str, *, ready: bool) -> None:
    body = {"metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "kubelite/busybox:latest",
                                                        "ports": [{"name": "web", "containerPort": 8080}]}]}}
    await client.create(Pod.from_dict(body), namespace=namespace)
    await set_ready(client, namespace, name, ip, ready)


async def set_ready(client: ApiClient, namespace: str, name: str, ip: str, ready: bool) -> None:
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await client.patch(Pod, name, {"status": status}, namespace=namespace, subresource="status")


async def test_pods_to_endpoints_to_rules(proxy: ProxyProcess, api_client: ApiClient, namespace: str,
                                          endpoints_controller: EndpointsController) -> None:
    await create_service(api_client, namespace, "web", selector={"app": "web"},
                         ports=[{"name": "http", "port": 80, "targetPort": "web"}])
    await make_pod(api_client, namespace, "a", "10.244.250.11", ready=True)
    await make_pod(api_client, namespace, "b", "10.244.250.12", ready=False)

    async def endpoints() -> Endpoints | None:
        try:
            return await api_client.get(Endpoints, "web", namespace=namespace)
        except Exception:  # noqa: BLE001 - polled until the condition holds
            return None

    async def ready_ips(want: list[str], not_ready: list[str] | None = None) -> bool:
        ep = await endpoints()
        if ep is None:
            return False
        got = sorted(a.ip for s in (ep.subsets or []) for a in s.addresses or [])
        unready = sorted(a.ip for s in (ep.subsets or []) for a in s.notReadyAddresses or [])
        return got == want and (not_ready is None or unready == not_ready)

    await wait_until(lambda: ready_ips(["10.244.250.11"], ["10.244.250.12"]), timeout_s=10)
    ep = await endpoints()
    assert ep is not None and ep.subsets
    assert ep.subsets[0].ports and ep.subsets[0].ports[0].port == 8080  # named targetPort resolved
    await wait_rules(lambda n, f: "10.244.250.11:8080" in n and "10.244.250.12" not in n, proxy)
    # Readiness flips (what the kubelet writes after probes): the rules follow within the sync period.
    started = time.monotonic()
    await set_ready(api_client, namespace, "a", "10.244.250.11", False)
    await set_ready(api_client, namespace, "b", "10.244.250.12", True)
    await wait_rules(lambda n, f: "10.244.250.12:8080" in n and "10.244.250.11" not in n, proxy)
    assert time.monotonic() - started < 5.0
    # Terminating pods leave at once.
    await api_client.delete(Pod, "b", namespace=namespace, grace_period_s=30)
    await wait_until(lambda: ready_ips([]), timeout_s=10)


# -- real traffic: host -> ClusterIP -> a server in a network namespace of our own ----------------

def guard_ok() -> bool:
    try:
        from kubelet.network import guard_status
    except ImportError:
        return False
    try:
        return guard_status().complete
    except Exception:  # noqa: BLE001 - polled until the condition holds
        return False


@pytest.fixture
def netns_server() -> Iterator[tuple[str, int]]:
    """A TCP server answering its name, in a netns reached over a veth pair (10.244.25x.0/30)."""
    if shutil.which("ip") is None:
        pytest.skip("no ip command")
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"klt-{tag}", f"klh{tag}", f"kln{tag}"
    octet = random.randrange(240, 254)
    host_ip, ns_ip = f"10.244.{octet}.1", f"10.244.{octet}.2"
    server: subprocess.Popen[bytes] | None = None

    def run(*args: str) -> None:
        subprocess.run(list(args), check=True, capture_output=True, timeout=10)

    try:
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        run("ip", "link", "set", ns_if, "netns", ns)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        run("ip", "link", "set", host_if, "up")
        run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        run("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        code = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                f"s.bind(('{ns_ip}',8080));s.listen(16)\n"
                "while True:\n c,a=s.accept();c.sendall(b'hello from netns '+a[0].encode());c.close()\n")
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:  # the server listens and the fresh veth carries packets (direct, no NAT)
            try:
                assert connect(ns_ip, 8080).startswith("hello from netns")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield ns_ip, 8080
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def connect(ip: str, port: int) -> str:
    with socket.create_connection((ip, port), timeout=3) as s:
        return s.recv(100).decode()


async def test_host_traffic_through_cluster_ip(proxy: ProxyProcess, api_client: ApiClient, namespace: str,
                                               netns_server: tuple[str, int]) -> None:
    if not guard_ok():
        pytest.skip("the traffic guard (kubelet.network.ensure_guard) is not installed: no traffic to 10.96/16")
    ns_ip, port = netns_server
    svc = await create_service(api_client, namespace, "web", ports=[{"name": "http", "port": 80}])
    assert svc.spec is not None and svc.spec.clusterIP
    cip = svc.spec.clusterIP
    await put_endpoints(api_client, namespace, "web", [ns_ip], port)
    # The hooks too: a SYN sent before them would be tracked un-NATed for the whole connection.
    await wait_rules(lambda n, f: f"{ns_ip}:{port}" in n and f"-A OUTPUT -m comment --comment \"{proxy.prefix} "
                     in n and f"-j {proxy.prefix}-SERVICES" in f, proxy)
    answer = await asyncio.to_thread(connect, cip, 80)
    # Off-cluster source (the host): masqueraded to the veth address on the way in.
    assert answer.startswith("hello from netns 10.244."), answer
    await put_endpoints(api_client, namespace, "web", [], port)
    await wait_rules(lambda n, f: f"{ns_ip}:{port}" not in n, proxy)
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.to_thread(connect, cip, 80)  # REJECT: refused at once, not a hang
    assert time.monotonic() - started < 1.0


# -- the NetworkPolicy agent in the same process ---------------------------------------------------

async def test_network_policy_chains_follow_policies_and_pods(proxy: ProxyProcess, api_client: ApiClient,
                                                              namespace: str) -> None:
    await make_pod(api_client, namespace, "db", "10.244.250.21", ready=True)
    body = {"metadata": {"name": "client", "namespace": namespace, "labels": {"role": "client"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}
    await api_client.create(Pod.from_dict(body), namespace=namespace)
    await api_client.patch(Pod, "client", {"status": {"phase": "Running", "podIP": "10.244.250.22"}},
                           namespace=namespace, subresource="status")
    p = proxy.prefix
    forward_hook = f'-A FORWARD -m comment --comment "{p} network policies" -j {p}-NPOL'
    await wait_rules(lambda n, f: f":{p}-NPOL" in f and forward_hook in f, proxy)
    # The hook is above every rule that could accept a forwarded packet first (Docker's).
    forward = [x for x in filt().splitlines() if x.startswith("-A FORWARD")]
    first_accept = next((i for i, x in enumerate(forward) if x.endswith(("-j ACCEPT", "-j DOCKER"))), len(forward))
    assert forward.index(forward_hook) < first_accept
    deny = {"metadata": {"name": "deny", "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}}}
    await api_client.create(NetworkPolicy.from_dict(deny), namespace=namespace)
    await wait_rules(lambda n, f: any("-d 10.244.250.21/32" in x and f"-j {p}-NPI-" in x for x in proxy.our_lines(f)),
                     proxy)
    allow = {"metadata": {"name": "allow", "namespace": namespace}, "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": [{"port": 8080}]}]}}
    await api_client.create(NetworkPolicy.from_dict(allow), namespace=namespace)
    await wait_rules(lambda n, f: any("-s 10.244.250.22/32" in x and "MARK" in x for x in proxy.our_lines(f)), proxy)
    # The client's label goes: it is no longer a peer.
    await api_client.patch(Pod, "client", {"metadata": {"labels": {"role": None}}}, namespace=namespace)
    await wait_rules(lambda n, f: not any("10.244.250.22" in x for x in proxy.our_lines(f)), proxy)
    await api_client.delete(NetworkPolicy, "deny", namespace=namespace)
    await api_client.delete(NetworkPolicy, "allow", namespace=namespace)
    await wait_rules(lambda n, f: not any(f"{p}-NPI-" in x for x in proxy.our_lines(f)), proxy)
    # Clean exit: the policy hooks and chains go too (the fixture checks nothing is left).
    assert proxy.signal(signal.SIGTERM) == 0
    assert proxy.our_lines(filt()) == []


# -- healthCheckNodePort: allocated by the API server, served by the proxy --------------------------

async def test_health_check_node_port_allocated_and_served(proxy: ProxyProcess, api_client: ApiClient,
                                                           namespace: str) -> None:
    svc = await create_service(api_client, namespace, "lb", type="LoadBalancer", externalTrafficPolicy="Local",
                               ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    assert svc.spec is not None and svc.spec.healthCheckNodePort
    hc = svc.spec.healthCheckNodePort
    assert 30000 <= hc <= 32767 and hc != (svc.spec.ports or [])[0].nodePort

    async def put(node: str) -> None:
        subsets = [{"addresses": [{"ip": "10.244.250.31", "nodeName": node}], "ports": [{"name": "http", "port": 8080}]}]
        try:
            current = await api_client.get(Endpoints, "lb", namespace=namespace)
        except Exception:  # noqa: BLE001 - first time: create it
            body = {"metadata": {"name": "lb", "namespace": namespace}, "subsets": subsets}
            await api_client.create(Endpoints.from_dict(body), namespace=namespace)
            return
        data = current.to_dict()
        data["subsets"] = subsets
        await api_client.replace(Endpoints.from_dict(data))

    async def answer() -> tuple[int, dict[str, Any]] | None:
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
                r = await http.get(f"http://127.0.0.1:{hc}/healthz")
        except httpx.HTTPError:
            return None
        return r.status_code, r.json()

    await put("n1")  # the proxy's own node
    await wait_until(lambda: _is(answer(), 200), timeout_s=15, interval_s=0.1)
    got = await answer()
    assert got == (200, {"service": {"namespace": namespace, "name": "lb"}, "localEndpoints": 1,
                         "serviceProxyHealthy": True})
    await put("n2")  # endpoints elsewhere only: this node would drop external traffic
    await wait_until(lambda: _is(answer(), 503), timeout_s=15, interval_s=0.1)
    # Local -> Cluster: the port is released (field cleared) and the listener closes.
    patched = await api_client.patch(Service, "lb", {"spec": {"externalTrafficPolicy": "Cluster"}},
                                     namespace=namespace)
    assert patched.spec is not None and patched.spec.healthCheckNodePort is None
    await wait_until(lambda: _is(answer(), None), timeout_s=15, interval_s=0.1)


async def _is(pending: Any, status: int | None) -> bool:
    got = await pending
    return (got is None) if status is None else (got is not None and got[0] == status)
