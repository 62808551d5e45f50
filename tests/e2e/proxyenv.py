"""What the proxy e2e tests share (Services, LoadBalancer Services, NetworkPolicy): a proxy of
the test's own, busybox pods that serve or idle, Services on a free ClusterIP, and the waits.

Contract:
- `guard_complete()`: the traffic guard (ARCHITECTURE.md "Guard first") is in place; tests skip
  when it is not and check it again before they send to a Service address.
- `running_proxy(cluster, ns, tag, kubeconfig, *flags)` (a context manager) runs
  `python -m proxy` watching only `ns`, with chains named `<tag><5 hex>` (its `prefix`) and short
  sync periods, logging to `<cluster.tmp>/<log_name>`; it yields `(prefix, process)`. On exit,
  even after a failure, the process group is stopped (tests.support.stop_process_group) and
  every chain of the prefix is removed (proxy.iptables.cleanup_all).
- `busybox_pod(cluster, ns, name, script, labels, ports=None)`: a pod (`BUSYBOX`, one
  container) running `sh -c script`, Ready once the script touched /tmp/ready (exec readiness probe, every second).
  `web_pod(cluster, ns, name, labels={"app": "web"})` is one that serves its own name at
  :8080/index.html (port name `http`) with busybox httpd.
- `await create_service(api, ns, name, **spec)`: a Service on a random ClusterIP of
  10.96.200-254.x (another one when the address is taken: 422 Invalid; 20 tries); `spec` is
  merged over `clusterIP` (e.g. type, selector, ports).
- `await wait_pods_ready(api, ns, names, timeout_s) -> {name: podIP}` once every named pod is
  Ready; `fetch(url)` is one GET's body, stripped, without proxies from the environment.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from machinery import errors
from machinery.client import ApiClient
from machinery.models import Service
from proxy.iptables import cleanup_all
from tests.e2e.conftest import ROOT, Cluster
from tests.support import stop_process_group, wait_until

BUSYBOX = "kubelite/busybox:latest"


def guard_complete() -> bool:
    try:
        from kubelet.network import guard_status

        return guard_status().complete
    except Exception:  # noqa: BLE001 - polled until the condition holds
        return False


@contextlib.contextmanager
def running_proxy(cluster: Cluster, ns: str, tag: str, kubeconfig: Path, *flags: str,
                  log_name: str = "proxy.log") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    prefix = f"{tag}{uuid.uuid4().hex[:5].upper()}"
    with open(cluster.tmp / log_name, "ab") as log:
        proxy = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--kubeconfig", str(kubeconfig), "--node-name", cluster.node,
             "--chain-prefix", prefix, "--namespace", ns, "--min-sync-period-s", "0.2", "--sync-period-s", "5",
             *flags], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield prefix, proxy
    finally:
        stop_process_group(proxy)
        cleanup_all(prefix)


def busybox_pod(cluster: Cluster, ns: str, name: str, script: str, labels: dict[str, str],
                ports: list[dict[str, Any]] | None = None, container_name: str = "main") -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": container_name, "image": BUSYBOX, "command": ["sh", "-c"], "args": [script],
        "readinessProbe": {"exec": {"command": ["test", "-e", "/tmp/ready"]}, "periodSeconds": 1}}
    if ports:
        container["ports"] = ports
    manifest = cluster.pod(name, [container])
    manifest["metadata"].update(namespace=ns, labels=labels)
    return manifest


def web_pod(cluster: Cluster, ns: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    # httpd without -f binds, then backgrounds: ready only once the port answers.
    script = (f"mkdir -p /www && echo {name} > /www/index.html && httpd -p 8080 -h /www && touch /tmp/ready"
              " && exec sleep 86400")
    return busybox_pod(cluster, ns, name, script, labels or {"app": "web"},
                       ports=[{"containerPort": 8080, "name": "http"}], container_name="web")


async def create_service(api: ApiClient, ns: str, name: str, **spec: Any) -> Service:
    for _ in range(20):
        body = {"metadata": {"name": name, "namespace": ns},
                "spec": {"clusterIP": f"10.96.{random.randrange(200, 255)}.{random.randrange(2, 254)}", **spec}}
        try:
            return await api.create(Service.from_dict(body), namespace=ns)
        except errors.Invalid:  # a taken ClusterIP: another one
            continue
    raise AssertionError("no free ClusterIP in 20 tries")


async def wait_pods_ready(api: ApiClient, ns: str, names: list[str], timeout_s: float = 90) -> dict[str, str]:
    ips: dict[str, str] = {}

    async def all_ready() -> bool:
        body = await api.request("GET", f"/api/v1/namespaces/{ns}/pods")
        ips.clear()
        for p in body["items"]:
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (p.get("status") or {}).get("conditions") or []):
                ips[p["metadata"]["name"]] = (p.get("status") or {}).get("podIP") or ""
        return set(names) <= set(ips)

    await wait_until(all_ready, timeout_s, 0.5, message=f"pods {names} not Ready")
    return {n: ips[n] for n in names}


def fetch(url: str) -> str:
    with httpx.Client(trust_env=False, timeout=3) as http:
        return http.get(url).text.strip()
