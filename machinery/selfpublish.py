"""Publish a host-run add-on as a Service without selector plus a user-written Endpoints object,
as the cluster DNS add-on does for kube-dns (one machine: the add-on runs as a process on the
host, bound to an address pods and the API server can reach).

Contract: `await ensure_published(client, namespace=, name=, ports=[(name, port)], ip=, labels=)`
creates the Service (ClusterIP allocated by the API server, TCP ports named as given, targetPort =
port) when missing and creates or corrects its Endpoints (`ip` with the same named ports).
Idempotent; concurrent publishers are fine (AlreadyExists is success).
"""

from __future__ import annotations

import logging
from typing import Any

from machinery import errors
from machinery.models import Endpoints, Service

log = logging.getLogger("selfpublish")


async def ensure_published(client: Any, *, namespace: str, name: str, ports: list[tuple[str, int]], ip: str,
                           labels: dict[str, str] | None = None) -> None:
    try:
        await client.get(Service, name, namespace=namespace)
    except errors.NotFound:
        svc = Service.from_dict({
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": p} for n, p in ports]}})
        try:
            await client.create(svc, namespace=namespace)
            log.info("created Service %s/%s", namespace, name)
        except errors.AlreadyExists:
            pass
    subsets: list[dict[str, Any]] = [{"addresses": [{"ip": ip}],
                                      "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}]
    try:
        current = await client.get(Endpoints, name, namespace=namespace)
    except errors.NotFound:
        body = {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "subsets": subsets}
        try:
            await client.create(Endpoints.from_dict(body), namespace=namespace)
        except errors.AlreadyExists:
            return
        log.info("published endpoints %s for %s/%s", ip, namespace, name)
        return
    if [s.to_dict() for s in current.subsets or []] != subsets:
        data = current.to_dict()
        data["subsets"] = subsets
        await client.replace(Endpoints.from_dict(data))
        log.info("updated endpoints of %s/%s to %s", namespace, name, ip)
