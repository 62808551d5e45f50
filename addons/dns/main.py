"""`python -m addons.dns`: the cluster DNS server process, and its kube-dns Service.

Contract:
- Watches Services and EndpointSlices (machinery informers; slices indexed by Service) and answers from those caches
  (`records.resolve`), on UDP and TCP at every `--listen HOST:PORT` (repeatable). It starts
  answering only once both caches have synced (before that a lookup would say NXDOMAIN for
  names that exist).
- `--publish-ip IP` (the design for one machine): the server runs on the host, bound to an
  address pods can reach (the pod bridge's gateway), and publishes itself as the Service
  `kube-system/kube-dns` at `--service-ip` (default 10.96.0.10), WITHOUT a selector, ports
  `dns` 53/UDP and `dns-tcp` 53/TCP, plus a user-written Endpoints object pointing at
  `IP:<listen port>`; the proxy then DNATs 10.96.0.10:53 to it. `ensure_published` is
  idempotent: it creates what is missing and corrects a drifted Endpoints object.
- A listen address that does not exist yet (the bridge gateway before the kubelet made the
  pod network) is retried with backoff (0.5 s doubling to 10 s) instead of exiting.
- SIGTERM/SIGINT stop it cleanly; the published objects stay (a restart reuses them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from addons.dns.records import Zone
from addons.dns.server import DnsServer
from machinery import errors
from machinery.backoff import Backoff
from machinery.client import ApiClient
from machinery.endpointslices import SERVICE_INDEX, service_index
from machinery.informer import InformerFactory
from machinery.logsetup import setup_logging
from machinery.models import Endpoints, EndpointSlice, Service

log = logging.getLogger("dns")

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"


def dns_service(cluster_ip: str, namespace: str = DNS_NAMESPACE) -> Service:
    return Service.from_dict({
        "metadata": {"name": DNS_SERVICE, "namespace": namespace,
                     "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": cluster_ip, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
    })


def dns_endpoints_subsets(ip: str, port: int) -> list[dict[str, Any]]:
    return [{"addresses": [{"ip": ip}], "ports": [{"name": "dns", "port": port, "protocol": "UDP"},
                                                  {"name": "dns-tcp", "port": port, "protocol": "TCP"}]}]


async def ensure_published(client: Any, *, cluster_ip: str, ip: str, port: int,
                           namespace: str = DNS_NAMESPACE) -> None:
    """Create <namespace>/kube-dns (Service + Endpoints) or fix its Endpoints."""
    # Look first: creating an existing Service with a fixed clusterIP is 422 "already
    # allocated" (as in Kubernetes), not 409.
    try:
        await client.get(Service, DNS_SERVICE, namespace=namespace)
    except errors.NotFound:
        try:
            await client.create(dns_service(cluster_ip, namespace), namespace=namespace)
            log.info("created Service %s/%s at %s", namespace, DNS_SERVICE, cluster_ip)
        except errors.AlreadyExists:
            pass  # a concurrent publisher won
    subsets = dns_endpoints_subsets(ip, port)
    try:
        current = await client.get(Endpoints, DNS_SERVICE, namespace=namespace)
    except errors.NotFound:
        body = {"metadata": {"name": DNS_SERVICE, "namespace": namespace}, "subsets": subsets}
        await client.create(Endpoints.from_dict(body), namespace=namespace)
        log.info("published endpoints %s:%d for %s", ip, port, DNS_SERVICE)
        return
    if [s.to_dict() for s in current.subsets or []] != subsets:
        data = current.to_dict()
        data["subsets"] = subsets
        await client.replace(Endpoints.from_dict(data))
        log.info("updated endpoints of %s to %s:%d", DNS_SERVICE, ip, port)


def _hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


async def _start_when_possible(zone: Zone, host: str, port: int, stop: asyncio.Event) -> DnsServer:
    """Bind, retrying while the address does not exist yet: the pod bridge's gateway appears
    only once the kubelet has created the pod network."""
    backoff = Backoff(0.5, 10.0)
    while True:
        delay_s = backoff.next()
        server = DnsServer(zone)
        try:
            await server.start(host, port)
            return server
        except OSError as exc:
            await server.close()
            log.warning("cannot listen on %s:%d yet (%s); retrying in %.1fs", host, port, exc, delay_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay_s)
        if stop.is_set():
            raise SystemExit(0)


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent="kubelite-dns")
    factory = InformerFactory(client)
    services = factory.informer(Service)
    slices = factory.informer(EndpointSlice)
    slices.add_index(SERVICE_INDEX, service_index)
    zone = Zone(service=lambda ns, name: services.get(f"{ns}/{name}"),
                endpoints=lambda ns, name: slices.by_index(SERVICE_INDEX, f"{ns}/{name}"),
                domain=args.cluster_domain, ttl_s=args.ttl_s)
    servers: list[DnsServer] = []
    await factory.start()
    try:
        await factory.wait_synced()
        for host, port in args.listen:
            servers.append(await _start_when_possible(zone, host, port, stop))
        if args.publish_ip:
            await ensure_published(client, cluster_ip=args.service_ip, ip=args.publish_ip, port=servers[0].port)
        await stop.wait()
    finally:
        for server in servers:
            await server.close()
        await factory.stop()
        with contextlib.suppress(Exception):
            await client.aclose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m addons.dns", description="kubelite cluster DNS")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--listen", type=_hostport, action="append", default=None,
                   help="HOST:PORT to serve UDP+TCP on (repeatable; default 127.0.0.1:10053)")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--ttl-s", type=int, default=30)
    p.add_argument("--publish-ip", default=None,
                   help="publish kube-system/kube-dns with endpoints at this IP and the first listen port")
    p.add_argument("--service-ip", default="10.96.0.10")
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)
    args.listen = args.listen or [("127.0.0.1", 10053)]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    asyncio.run(run(args))
