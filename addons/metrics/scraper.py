"""One scrape of every node's kubelet into the MetricsStore.

Contract: `Scraper(client, store, http, timeout_s=5.0)`; `await scraper.scrape_once()` lists
the Nodes and the Pods (two API list calls), GETs `/stats/summary` from each node's kubelet
concurrently over HTTPS (InternalIP, else Hostname, and `status.daemonEndpoints.kubeletEndpoint.Port`,
default 10250, the address the API server's kubelet proxy uses; `http` verifies the kubelets'
serving certificates and presents the add-on's client certificate, `kubelet_tls(...)`: the
kubelet authorizes it for nodes/stats), and feeds the store: the node
entry, and each pod that the API still lists (its labels from the API, for label selectors).
A kubelet that does not answer (a hollow node has no HTTP endpoint; a node that is down) is
skipped and counted in `failures`; its objects keep their last metrics until they are gone
from the API. Returns the number of nodes scraped.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

import httpx

from addons.metrics.store import MetricsStore
from machinery.client import KubeClient
from machinery.models import Node, Pod

log = logging.getLogger("metrics.scraper")
DEFAULT_KUBELET_PORT = 10250


def kubelet_url(node: dict[str, Any]) -> str | None:
    status = node.get("status") or {}
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addrs.get("InternalIP") or addrs.get("Hostname")
    if not host:
        return None
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{int(port)}"


def kubelet_tls(kubeconfig: str | None, *, ca_file: str | None = None, cert_file: str | None = None,
                key_file: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """How the scraper calls kubelets (metrics-server's --kubelet-certificate-authority,
    --kubelet-client-certificate/-key, --kubelet-insecure-tls): by default the kubeconfig's
    cluster CA verifies the kubelets and its client certificate is presented to them."""
    from machinery.kubeconfig import load_kubeconfig, ssl_context

    cfg = load_kubeconfig(kubeconfig)
    cert = cert_file or cfg.cert_file
    return ssl_context(ca_file or cfg.ca_file, cert, key_file or cert_file or cfg.key_file,
                       verify=not insecure)


class Scraper:
    def __init__(self, client: KubeClient, store: MetricsStore, http: httpx.AsyncClient, *,
                 timeout_s: float = 5.0) -> None:
        self.client, self.store, self.http, self.timeout_s = client, store, http, timeout_s
        self.failures = 0
        self.scrapes = 0

    async def _summary(self, name: str, url: str) -> dict[str, Any] | None:
        try:
            resp = await self.http.get(f"{url}/stats/summary", timeout=self.timeout_s)
            resp.raise_for_status()
            return dict(resp.json())
        except (httpx.HTTPError, ValueError) as exc:
            self.failures += 1
            log.debug("kubelet of %s at %s: %s", name, url, exc)
            return None

    async def scrape_once(self) -> int:
        nodes = [n.to_dict() for n in (await self.client.list(Node)).items]
        pods = {(p.namespace or "", p.name or ""): p for p in (await self.client.list(Pod)).items}
        targets = [(n["metadata"]["name"], kubelet_url(n), (n["metadata"].get("labels") or {})) for n in nodes]
        summaries = await asyncio.gather(*(self._summary(name, url) for name, url, _ in targets if url))
        reachable = [t for t in targets if t[1]]
        at_s = time.time()
        done = 0
        for (name, _, labels), summary in zip(reachable, summaries, strict=True):
            if summary is None:
                continue
            done += 1
            self.store.update_node(name, dict(labels), summary.get("node") or {}, at_s)
            for entry in summary.get("pods") or []:
                ref = entry.get("podRef") or {}
                pod = pods.get((ref.get("namespace") or "", ref.get("name") or ""))
                if pod is None or (pod.uid and ref.get("uid") and pod.uid != ref.get("uid")):
                    continue
                self.store.update_pod(pod.namespace or "", pod.name or "", dict(pod.metadata.labels or {}), entry, at_s)
        self.store.retain({t[0] for t in targets}, set(pods))
        self.scrapes += 1
        return done
