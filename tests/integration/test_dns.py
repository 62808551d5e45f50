"""Cluster DNS (`python -m addons.dns`) on 127.0.0.1:<free port> against the real API server,
queried over UDP and TCP with dnslib. Only loopback traffic."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from addons.dns.main import DNS_SERVICE, ensure_published
from machinery.client import ApiClient
from machinery.models import Endpoints, Service
from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


class DnsProcess:
    def __init__(self, kubeconfig: str, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kubelite-dns-"))
        self.log_path = self.dir / "dns.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "addons.dns", "--kubeconfig", kubeconfig, "--listen",
                 f"{host}:{self.port}", "--ttl-s", "5"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def query(self, name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
        packet = DNSRecord.question(name, qtype).send("127.0.0.1", self.port, tcp=tcp, timeout=2)
        return DNSRecord.parse(packet)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def dns(apiserver: Any, endpointslice_controller: object) -> Iterator[DnsProcess]:
    proc = DnsProcess(apiserver.kubeconfig)
    try:
        wait_for_server(proc)
        yield proc
    finally:
        proc.cleanup()


def wait_for_server(proc: DnsProcess) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"dns exited: {proc.log_path.read_text()[-2000:]}")
        try:
            if proc.query("cluster.local", "SOA").header.rcode == RCODE.NOERROR:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"dns not answering: {proc.log_path.read_text()[-2000:]}")


def ips(reply: DNSRecord, qtype: str = "A") -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr if QTYPE[rr.rtype] == qtype)


async def answers(dns: DnsProcess, name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
    return await asyncio.to_thread(dns.query, name, qtype, tcp=tcp)


def random_ip() -> str:
    return f"10.96.{random.randrange(200, 255)}.{random.randrange(2, 254)}"


async def create_service(client: ApiClient, namespace: str, name: str, **spec: Any) -> Service:
    for _ in range(20):
        body = {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterIP": random_ip(), **spec}}
        if spec.get("clusterIP") or spec.get("type") == "ExternalName":
            body["spec"] = {**spec}
        try:
            return await client.create(Service.from_dict(body), namespace=namespace)
        except Exception as exc:
            if "Invalid" not in type(exc).__name__ or "clusterIP" in spec:
                raise
    raise AssertionError("no free ClusterIP")


async def test_service_records_follow_the_api(dns: DnsProcess, api_client: ApiClient, namespace: str) -> None:
    fqdn = f"web.{namespace}.svc.cluster.local"
    assert (await answers(dns, fqdn)).header.rcode == RCODE.NXDOMAIN
    svc = await create_service(api_client, namespace, "web",
                               ports=[{"name": "http", "port": 80, "protocol": "TCP"}])
    assert svc.spec is not None
    cip = svc.spec.clusterIP

    async def resolves() -> bool:
        return ips(await answers(dns, fqdn)) == [cip]

    await wait_until(resolves, timeout_s=10)
    over_tcp = await answers(dns, fqdn, tcp=True)
    assert ips(over_tcp) == [cip] and over_tcp.header.aa == 1
    srv = await answers(dns, f"_http._tcp.web.{namespace}.svc.cluster.local", "SRV")
    assert [str(rr.rdata) for rr in srv.rr] == [f"0 100 80 {fqdn}."]
    assert (await answers(dns, "example.com")).header.rcode == RCODE.REFUSED  # never forwarded
    await api_client.delete(Service, "web", namespace=namespace)

    async def gone() -> bool:
        return bool((await answers(dns, fqdn)).header.rcode == RCODE.NXDOMAIN)

    await wait_until(gone, timeout_s=10)


async def test_headless_pod_hostnames_and_external_name(dns: DnsProcess, api_client: ApiClient,
                                                        namespace: str) -> None:
    await create_service(api_client, namespace, "db", clusterIP="None",
                         ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])
    await api_client.create(Endpoints.from_dict({
        "metadata": {"name": "db", "namespace": namespace},
        "subsets": [{"addresses": [{"ip": "10.244.250.5", "hostname": "db-0"}, {"ip": "10.244.250.6"}],
                     "notReadyAddresses": [{"ip": "10.244.250.7", "hostname": "db-2"}],
                     "ports": [{"name": "pg", "port": 15432, "protocol": "TCP"}]}]}), namespace=namespace)
    await create_service(api_client, namespace, "ext", type="ExternalName", externalName="db.example.invalid")
    base = f"db.{namespace}.svc.cluster.local"

    async def headless() -> bool:
        return ips(await answers(dns, base)) == ["10.244.250.5", "10.244.250.6"]

    await wait_until(headless, timeout_s=10)
    assert ips(await answers(dns, f"db-0.{base}")) == ["10.244.250.5"]
    assert (await answers(dns, f"db-2.{base}")).header.rcode == RCODE.NXDOMAIN  # not ready
    srv = await answers(dns, f"_pg._tcp.{base}", "SRV")
    assert sorted(str(rr.rdata) for rr in srv.rr) == [f"0 50 15432 10-244-250-6.{base}.",
                                                      f"0 50 15432 db-0.{base}."]
    cname = await answers(dns, f"ext.{namespace}.svc.cluster.local")
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in cname.rr] == [("CNAME", "db.example.invalid.")]


async def test_publish_kube_dns_service_without_selector(api_client: ApiClient, namespace: str) -> None:
    for _ in range(20):
        cip = random_ip()
        try:
            await ensure_published(api_client, cluster_ip=cip, ip="10.244.0.1", port=10053, namespace=namespace)
            break
        except Exception as exc:
            if "Invalid" not in type(exc).__name__:
                raise
    svc = await api_client.get(Service, DNS_SERVICE, namespace=namespace)
    assert svc.spec is not None and svc.spec.selector is None and svc.spec.clusterIP == cip
    assert [(p.name, p.port, p.protocol) for p in svc.spec.ports or []] == [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
    # Idempotent, and a moved server corrects the Endpoints.
    await ensure_published(api_client, cluster_ip=cip, ip="10.244.0.1", port=10054, namespace=namespace)
    ep = await api_client.get(Endpoints, DNS_SERVICE, namespace=namespace)
    assert ep.subsets is not None
    assert [a.ip for a in ep.subsets[0].addresses or []] == ["10.244.0.1"]
    assert sorted((p.name, p.port, p.protocol) for p in ep.subsets[0].ports or []) == [
        ("dns", 10054, "UDP"), ("dns-tcp", 10054, "TCP")]


def test_waits_for_its_listen_address_and_stops_cleanly(apiserver: Any) -> None:
    import time

    # An address no interface has (TEST-NET-2): binding fails, nothing is ever sent to it.
    proc = DnsProcess(apiserver.kubeconfig, host="198.51.100.77")
    try:
        deadline = time.monotonic() + 15
        while "cannot listen on 198.51.100.77" not in proc.log_path.read_text():
            assert proc.proc.poll() is None, proc.log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, proc.log_path.read_text()[-2000:]
            time.sleep(0.1)
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(timeout=10) == 0
    finally:
        proc.cleanup()
