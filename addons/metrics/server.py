"""The metrics add-on's HTTP API: metrics.k8s.io/v1beta1 as metrics-server serves it.

Contract (`create_app(store) -> Starlette`; the API server relays these paths unchanged):
- `GET /apis/metrics.k8s.io/v1beta1/nodes[?labelSelector=]` -> NodeMetricsList;
  `.../nodes/NAME` -> NodeMetrics (404 Status when unknown).
- `GET /apis/metrics.k8s.io/v1beta1/pods[?labelSelector=&fieldSelector=]` (all namespaces),
  `.../namespaces/NS/pods[...]` -> PodMetricsList; `.../namespaces/NS/pods/NAME` -> PodMetrics.
  fieldSelector supports metadata.name / metadata.namespace.
- History for the dashboard (kubelite's own, read-only, same prefix so it goes through the API
  server with the caller's credentials): `.../nodes/NAME/history` and
  `.../namespaces/NS/pods/NAME/history` -> `{kind: MetricsHistory, apiVersion, metadata {name,
  namespace}, points: [{timestamp, cpuNanoCores, memoryBytes}]}`, oldest first, the last
  `--history-s` seconds (15 min by default) at the scrape interval.
- `/healthz` -> ok. Bad selectors are 400 Status.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from addons.metrics.store import API_VERSION, MetricsStore
from machinery.selectors import LabelSelector, parse_field_selector, parse_label_selector

PREFIX = f"/apis/{API_VERSION}"


def _status(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": message, "reason": reason, "code": code}, status_code=code)


def _selectors(request: Request) -> tuple[LabelSelector, Any] | Response:
    try:
        labels = parse_label_selector(request.query_params.get("labelSelector", ""))
        fields = parse_field_selector(request.query_params.get("fieldSelector", ""))
    except ValueError as exc:
        return _status(400, "BadRequest", f"invalid selector: {exc}")
    return labels, fields


def _list(kind: str, items: list[tuple[dict[str, str], dict[str, Any]]], request: Request) -> Response:
    sel = _selectors(request)
    if isinstance(sel, Response):
        return sel
    labels, fields = sel
    chosen = [m for lab, m in items if labels.matches(lab) and fields.matches(m)]
    return JSONResponse({"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": chosen})


def create_app(store: MetricsStore) -> Starlette:
    async def nodes(request: Request) -> Response:
        return _list("NodeMetrics", store.nodes(), request)

    async def node(request: Request) -> Response:
        name = request.path_params["name"]
        m = store.node_metrics(name)
        return JSONResponse(m) if m is not None else _status(404, "NotFound", f'nodemetrics.metrics.k8s.io "{name}" not found')

    async def pods(request: Request) -> Response:
        return _list("PodMetrics", store.pods(request.path_params.get("ns")), request)

    async def pod(request: Request) -> Response:
        ns, name = request.path_params["ns"], request.path_params["name"]
        m = store.pod_metrics(ns, name)
        return JSONResponse(m) if m is not None else _status(404, "NotFound", f'podmetrics.metrics.k8s.io "{name}" not found')

    async def history(request: Request) -> Response:
        ns, name = request.path_params.get("ns"), request.path_params["name"]
        points = store.history_of("pod" if ns else "node", ns, name)
        if points is None:
            what = "podmetrics" if ns else "nodemetrics"
            return _status(404, "NotFound", f'{what}.metrics.k8s.io "{name}" not found')
        meta = {"name": name, **({"namespace": ns} if ns else {})}
        return JSONResponse({"kind": "MetricsHistory", "apiVersion": API_VERSION, "metadata": meta, "points": points})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/healthz", healthz), Route(f"{PREFIX}/nodes", nodes), Route(f"{PREFIX}/nodes/{{name}}", node),
        Route(f"{PREFIX}/nodes/{{name}}/history", history), Route(f"{PREFIX}/pods", pods),
        Route(f"{PREFIX}/namespaces/{{ns}}/pods", pods), Route(f"{PREFIX}/namespaces/{{ns}}/pods/{{name}}", pod),
        Route(f"{PREFIX}/namespaces/{{ns}}/pods/{{name}}/history", history),
    ])
