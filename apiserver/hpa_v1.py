"""autoscaling/v1 HorizontalPodAutoscaler, served by converting to and from the stored v2 object
(machinery/hpaconvert.py), as Kubernetes serves both versions from one storage.

Contract: `routes(ctx) -> list[Route]`, mounted before the generic resource routes:
- `/apis/autoscaling/v1/horizontalpodautoscalers` GET (list, all namespaces);
- `/apis/autoscaling/v1/namespaces/NS/horizontalpodautoscalers` GET (list), POST (create);
- `.../NAME` GET, PUT, DELETE; `.../NAME/status` GET, PUT.
Bodies are converted to v2, handled by the generic handlers (defaults, validation, admission,
optimistic concurrency), and answers converted back. Not served for v1 (405, use v2): watch,
PATCH, deletecollection.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apiserver import handlers, handlers_delete
from apiserver.handlers_common import Ctx, decode_body, dry_run, media_type, read_body
from apiserver.responses import json_response
from machinery import errors
from machinery.hpaconvert import to_v1, to_v2
from machinery.models import HorizontalPodAutoscaler

BASE = "/apis/autoscaling/v1"
CLS = HorizontalPodAutoscaler


def _not_served(method: str) -> errors.MethodNotAllowed:
    return errors.MethodNotAllowed(f"{method} of autoscaling/v1 horizontalpodautoscalers is not served: use autoscaling/v2")


def routes(ctx: Ctx) -> list[BaseRoute]:
    async def body_of(request: Request) -> dict[str, Any]:
        raw = await read_body(request, ctx.config.max_body_bytes)
        body = decode_body(raw, media_type(request), max_bytes=ctx.config.max_body_bytes)
        if not isinstance(body, dict):
            raise errors.BadRequest("the body must be a HorizontalPodAutoscaler object")
        if body.get("apiVersion") not in (None, "autoscaling/v1"):
            raise errors.BadRequest(f"the API version in the data ({body.get('apiVersion')}) does not match the "
                                    "expected API version (autoscaling/v1)")
        return to_v2(body)

    async def _list(request: Request, ns: str | None) -> Response:
        if request.query_params.get("watch") in ("1", "true"):
            raise _not_served("watch")
        listed = await handlers.list_objects(ctx, CLS, ns, label_selector=request.query_params.get("labelSelector"),
                                             field_selector=request.query_params.get("fieldSelector"))
        listed = {**listed, "apiVersion": "autoscaling/v1", "items": [to_v1(o) for o in listed.get("items") or []]}
        return json_response(listed)

    async def all_namespaces(request: Request) -> Response:
        return await _list(request, None)

    async def collection(request: Request) -> Response:
        ns = request.path_params["ns"]
        if request.method == "GET":
            return await _list(request, ns)
        if request.method != "POST":
            raise _not_served(request.method)
        created = await handlers.create(ctx, CLS, ns, await body_of(request), dry_run=dry_run(request))
        return json_response(to_v1(created), status_code=201)

    async def item(request: Request) -> Response:
        ns, name = request.path_params["ns"], request.path_params["name"]
        sub = request.path_params.get("sub")
        if sub not in (None, "status"):
            raise errors.NotFound("the server could not find the requested resource")
        if request.method == "GET":
            return json_response(to_v1(await handlers.get(ctx, CLS, ns, name)))
        if request.method == "PUT":
            updated = await handlers.update(ctx, CLS, ns, name, await body_of(request), subresource=sub,
                                            dry_run=dry_run(request))
            return json_response(to_v1(updated))
        if request.method == "DELETE" and sub is None:
            raw = await read_body(request, ctx.config.max_body_bytes)
            body = decode_body(raw, media_type(request), max_bytes=ctx.config.max_body_bytes) if raw.strip() else None
            query = {k: v for k, v in request.query_params.items() if k in ("gracePeriodSeconds", "propagationPolicy")}
            opts = handlers_delete.DeleteOptions.parse(body, query, dry_run(request))
            out = await handlers_delete.delete(ctx, CLS, ns, name, opts)
            return json_response(to_v1(out) if out.get("kind") == "HorizontalPodAutoscaler" else out)
        raise _not_served(request.method)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route(f"{BASE}/horizontalpodautoscalers", all_namespaces, methods=["GET"]),
        Route(f"{BASE}/namespaces/{{ns}}/horizontalpodautoscalers", collection, methods=methods),
        Route(f"{BASE}/namespaces/{{ns}}/horizontalpodautoscalers/{{name}}", item, methods=methods),
        Route(f"{BASE}/namespaces/{{ns}}/horizontalpodautoscalers/{{name}}/{{sub}}", item, methods=methods),
    ]
