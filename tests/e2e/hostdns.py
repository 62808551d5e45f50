"""The cluster DNS add-on as `kubelite up` runs it, for one e2e test: `python -m addons.dns` on the
host at the pod bridge's gateway (its own identity, kube-dns), published in the test's namespace
as a selector-less `kube-dns` Service with a free virtual IP whose Endpoints point at it.

Contract: `async with host_dns(cluster, api, ns) as dns:` -> `dns.gateway`, `dns.port` (where it
listens) and `dns.ip` (the Service's cluster IP pods query); the process is stopped on exit."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from addons.dns.main import ensure_published
from machinery.client import ApiClient
from tests.e2e.conftest import ROOT, Cluster
from tests.support import free_port, stop_process_group


@dataclass(frozen=True)
class HostDns:
    gateway: str
    port: int
    ip: str


@asynccontextmanager
async def host_dns(cluster: Cluster, api: ApiClient, ns: str) -> AsyncIterator[HostDns]:
    gateway = cluster.pod_cidr.rsplit(".", 1)[0] + ".1"
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - a daemon for the test's duration
        [sys.executable, "-m", "addons.dns", "--kubeconfig", str(cluster.kubeconfig_for("kube-dns")),
         "--listen", f"{gateway}:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ip = ""
        for _ in range(20):  # a random virtual IP; another test may hold the one drawn
            ip = f"10.96.{random.randrange(200, 255)}.{random.randrange(2, 254)}"
            try:
                await ensure_published(api, cluster_ip=ip, ip=gateway, port=port, namespace=ns)
                break
            except Exception as exc:
                if "Invalid" not in type(exc).__name__:
                    raise
        yield HostDns(gateway, port, ip)
    finally:
        stop_process_group(proc, 10.0)
