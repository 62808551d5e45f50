"""`python -m addons.metrics`: the resource metrics add-on (kubelite's metrics-server).

Contract:
- Every `--scrape-interval-s` (default 15 s, metrics-server's resolution) scrapes every node's
  kubelet `/stats/summary` over HTTPS with its client certificate (addons/metrics/scraper.py) into an in-memory store with a short
  history (addons/metrics/store.py), and serves metrics.k8s.io/v1beta1 over HTTP on
  `--bind-address:--port` (addons/metrics/server.py; `--port 0` picks a free one).
- Publishes itself, level-triggered on every round, as the Service `kube-system/metrics-server`
  (headless, no selector) with an Endpoints object pointing at `--advertise-address:PORT`; the
  API server relays `/apis/metrics.k8s.io/v1beta1/...` to that address (apiserver/aggregator.py),
  so `kubectl top` and `kubelite top` work through the API server.
- Survives the API server and kubelets going away (a failed round is logged and retried next
  interval). SIGTERM/SIGINT stop it; the Endpoints object is removed on a clean exit so the
  API server answers 503 at once rather than timing out on a dead address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from typing import Any

import httpx
import uvicorn

from addons.metrics.scraper import Scraper, kubelet_tls
from addons.metrics.server import create_app
from addons.metrics.store import MetricsStore
from machinery import errors
from machinery.client import ApiClient, KubeClient
from machinery.logsetup import setup_logging
from machinery.models import Endpoints, Service
from machinery.models.metrics import METRICS_SERVICE

log = logging.getLogger("metrics")


def endpoints_subsets(ip: str, port: int) -> list[dict[str, Any]]:
    return [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]


async def ensure_published(client: KubeClient, *, ip: str, port: int) -> None:
    """Create kube-system/metrics-server (headless Service + Endpoints) or fix its Endpoints."""
    ns, name = METRICS_SERVICE
    try:
        await client.get(Service, name, namespace=ns)
    except errors.NotFound:
        svc = Service.from_dict({"metadata": {"name": name, "namespace": ns, "labels": {"k8s-app": "metrics-server"}},
                                 "spec": {"clusterIP": "None", "ports": [{"name": "https", "port": 443,
                                                                          "protocol": "TCP", "targetPort": port}]}})
        with contextlib.suppress(errors.AlreadyExists):
            await client.create(svc, namespace=ns)
    subsets = endpoints_subsets(ip, port)
    try:
        current = await client.get(Endpoints, name, namespace=ns)
    except errors.NotFound:
        with contextlib.suppress(errors.AlreadyExists):
            await client.create(Endpoints.from_dict({"metadata": {"name": name, "namespace": ns}, "subsets": subsets}),
                                namespace=ns)
            log.info("published %s/%s at %s:%d", ns, name, ip, port)
        return
    if [s.to_dict() for s in current.subsets or []] != subsets:
        data = current.to_dict()
        data["subsets"] = subsets
        await client.replace(Endpoints.from_dict(data))
        log.info("updated %s/%s to %s:%d", ns, name, ip, port)


async def loop_forever(client: KubeClient, scraper: Scraper, *, ip: str, port: int, interval_s: float,
                       register: bool) -> None:
    while True:
        try:
            if register:
                await ensure_published(client, ip=ip, port=port)
            await scraper.scrape_once()
        except (errors.ApiError, httpx.HTTPError, OSError) as exc:
            log.warning("metrics round failed: %s; next in %.0fs", exc, interval_s)
        except Exception:
            log.exception("metrics round failed; next in %.0fs", interval_s)
        await asyncio.sleep(interval_s)


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.bind_address, args.port))
    port = sock.getsockname()[1]
    store = MetricsStore(history_s=args.history_s)
    client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent="kubelite-metrics")
    tls = kubelet_tls(args.kubeconfig, ca_file=args.kubelet_certificate_authority,
                      cert_file=args.kubelet_client_certificate, key_file=args.kubelet_client_key,
                      insecure=args.kubelet_insecure_tls)
    http = httpx.AsyncClient(trust_env=False, timeout=5.0, verify=tls)
    scraper = Scraper(client, store, http)
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning", lifespan="off"))
    ip = args.advertise_address or args.bind_address
    tasks = [asyncio.create_task(server.serve(sockets=[sock]), name="http"),
             asyncio.create_task(loop_forever(client, scraper, ip=ip, port=port, interval_s=args.scrape_interval_s,
                                              register=args.register), name="scrape")]
    log.info("metrics add-on serving on %s:%d (scrape every %.0fs)", args.bind_address, port, args.scrape_interval_s)
    await stop.wait()
    server.should_exit = True
    tasks[1].cancel()
    with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
    if args.register:
        ns, name = METRICS_SERVICE
        with contextlib.suppress(errors.ApiError, httpx.HTTPError, OSError):
            await asyncio.wait_for(client.delete(Endpoints, name, namespace=ns), timeout=3)
    await http.aclose()
    await client.aclose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m addons.metrics", description="kubelite resource metrics add-on")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="HTTP port (0 = a free one)")
    p.add_argument("--advertise-address", default=None, help="address published in the Endpoints (default: bind)")
    p.add_argument("--scrape-interval-s", type=float, default=15.0)
    p.add_argument("--history-s", type=float, default=900.0, help="how much history to keep per node and pod")
    p.add_argument("--kubelet-certificate-authority", default=None,
                   help="CA of the kubelets' serving certificates (default: the kubeconfig's CA)")
    p.add_argument("--kubelet-client-certificate", default=None,
                   help="client certificate presented to kubelets (default: the kubeconfig's)")
    p.add_argument("--kubelet-client-key", default=None)
    p.add_argument("--kubelet-insecure-tls", action="store_true",
                   help="do not verify the kubelets' serving certificates")
    p.add_argument("--no-register", dest="register", action="store_false",
                   help="do not publish kube-system/metrics-server")
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
