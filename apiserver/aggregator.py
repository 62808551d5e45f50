"""The resource metrics API (metrics.k8s.io/v1beta1), proxied to the metrics add-on.

Decision (the issue allowed an aggregated APIService or a built-in group): the group is
advertised in discovery like a built-in one (machinery.models.AGGREGATED_KINDS: NodeMetrics,
PodMetrics, verbs get/list), so the real `kubectl top` finds it, and every request under
`/apis/metrics.k8s.io/v1beta1/...` is relayed, path and query unchanged, to the first ready
address of the Endpoints `kube-system/metrics-server` that the add-on registers for itself.
That is what Kubernetes' aggregator does for the APIService `v1beta1.metrics.k8s.io` with
`--enable-aggregator-routing` (endpoints, not the ClusterIP); kubelite has no APIService kind.

Contract: `routes() -> list[Route]`, mounted before the generic resource routes. Only GET is
served (the group's verbs); no ready endpoint or a backend that does not answer is 503
ServiceUnavailable worded as Kubernetes' ("the server is currently unable to handle the
request"); the backend's own answers (Status objects included) pass through.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apiserver import upstream
from apiserver.storage import keys
from machinery import errors
from machinery.models.metrics import METRICS_GROUP, METRICS_SERVICE, METRICS_VERSION

PREFIX = f"/apis/{METRICS_GROUP}/{METRICS_VERSION}"
BACKEND_TIMEOUT_S = 10.0


def backend_url(endpoints: dict[str, Any]) -> str | None:
    """`http://ADDRESS:PORT` of the first ready address of an Endpoints object, if any."""
    for subset in endpoints.get("subsets") or []:
        addrs = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if addrs and ports:
            ip = str(addrs[0].get("ip") or "")
            host = f"[{ip}]" if ":" in ip else ip
            return f"http://{host}:{int(ports[0].get('port') or 0)}"
    return None


def _unavailable(request: Request) -> errors.ServiceUnavailable:
    rest = request.path_params.get("path", "")
    resource = rest.split("/")[2] if rest.startswith("namespaces/") and rest.count("/") >= 2 else rest.split("/")[0]
    return errors.ServiceUnavailable(
        f"the server is currently unable to handle the request (get {resource}.{METRICS_GROUP})")


async def proxy(request: Request) -> Response:
    if request.method != "GET":
        raise errors.MethodNotAllowed(
            f"the server does not allow this method on the requested resource ({request.method})")
    ns, name = METRICS_SERVICE
    try:
        ep = dict(await request.app.state.ctx.storage.get(keys.object_key("endpoints", name, ns)))
    except errors.NotFound:
        raise _unavailable(request) from None
    base = backend_url(ep)
    if base is None:
        raise _unavailable(request)
    url = f"{base}{PREFIX}/{request.path_params.get('path', '')}"
    try:
        resp = await upstream.client(request.app).get(url, params=str(request.query_params),
                                                      headers={"Accept": "application/json"},
                                                      timeout=BACKEND_TIMEOUT_S)
    except httpx.HTTPError:
        raise _unavailable(request) from None
    return Response(content=resp.content, status_code=resp.status_code,
                    media_type=resp.headers.get("content-type", "application/json"))


def routes() -> list[BaseRoute]:
    return [Route(f"{PREFIX}/{{path:path}}", proxy, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
