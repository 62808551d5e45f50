"""The API server's ASGI application.

Contract: `create_app(config, *, extra_routers=(), storage=None, kinds=None) -> FastAPI`.
- Start-up connects the storage (`EtcdStorage.connect(config.etcd_servers)` unless one is
  given; etcd need not be up yet), then in the background, retrying until etcd answers:
  rebuilds the Service allocator from the stored Services, creates the initial namespaces and
  the `kubernetes` Service, and starts the watch caches of every kind. `/readyz` is 200 only
  once that finished and etcd answers; `/healthz` and `/livez` say the process serves.
- One routing table (the app's route list, see apiserver/routing.py and docs/APISERVER.md):
  plain routes run directly from it, FastAPI routes through FastAPI's stack, with the same
  answers and the same exception handling.
- `extra_routers` (FastAPI/Starlette routers, e.g. pods/log and pods/exec) are mounted before
  the generic resource routes, so they win for the paths they define. The WebSocket exec of
  kubectl (apiserver/exec_ws.py) is always mounted.
- `/openapi/v3[/GROUP-VERSION]` serve the OpenAPI v3 documents (apiserver/openapi.py) that
  kubectl's validation and `explain` read; `/docs` is a Swagger UI over them.
- Every request is authenticated first (apiserver/auth/authn.py, sources chosen from the
  config by apiserver/authn_setup.py); the UserInfo is in the scope under
  `auth.user.SCOPE_KEY` for both dispatch paths; no acceptable credential: 401 Status.
  `Impersonate-*` headers (kubectl --as) then replace that user, if it may impersonate
  (apiserver/auth/impersonation.py).
- Every error is a Status JSON (see responses.py). Shutdown closes the storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from functools import partial
from typing import Any, cast

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from apiserver import (
    access_reviews,
    aggregator,
    authn_reviews,
    exec_ws,
    hpa_v1,
    metrics,
    rbac_writes,
    upstream,
)
from apiserver.allocator import ServiceAllocator
from apiserver.audit import AuditLog, AuditPolicy
from apiserver.auth.authn import Authenticator, authenticate_request
from apiserver.auth.authz_runtime import Authorization, parse_modes
from apiserver.auth.impersonation import impersonate
from apiserver.auth.user import user_of
from apiserver.authn_setup import audiences, build_authenticator, build_signer
from apiserver.bootstrap import ensure_initial_objects, recover_allocator
from apiserver.config import ApiServerConfig
from apiserver.discovery import Discovery, version_info
from apiserver.handlers_common import Ctx
from apiserver.limits import Limits, LimitsConfig
from apiserver.openapi import OpenApi, docs_page
from apiserver.responses import error_response, install_error_handlers, json_response, log_rejected
from apiserver.routes import ApiRoutes
from apiserver.routing import Dispatcher
from apiserver.storage import EtcdStorage, Storage, keys
from apiserver.storage.encryption import EncryptionConfig
from machinery import errors, registry
from machinery.backoff import Backoff
from machinery.meta import Resource
from machinery.models.autoscaling import HorizontalPodAutoscalerV1
from machinery.models.metrics import AGGREGATED_KINDS

log = logging.getLogger(__name__)


class _NotConnected:
    """Placeholder storage until start-up connected the real one."""

    def __getattr__(self, name: str) -> Any:
        raise errors.ServiceUnavailable("the API server is starting", retry_after_s=1)


async def _start_background(ctx: Ctx, kinds: Sequence[type[Resource]]) -> None:
    backoff = Backoff(0.2, 5.0)
    while True:
        backoff_s = backoff.next()
        try:
            await recover_allocator(ctx)
            ctx.allocator_ready = True
            if ctx.config.bootstrap:
                await ensure_initial_objects(ctx)
                if ctx.authorization is not None and "RBAC" in ctx.authorization.modes:
                    await rbac_writes.reconcile(ctx)
            start = getattr(ctx.storage, "start_watch_caches", None)
            if start is not None:
                await start(sorted({keys.collection_prefix(c.PLURAL) for c in kinds}))
            ctx.ready = True
            log.info("API server ready")
            return
        except errors.ApiError as e:
            log.warning("start-up: %s; retrying in %.1fs", e, backoff_s)
        except Exception:
            log.exception("start-up failed; retrying in %.1fs", backoff_s)
        await asyncio.sleep(backoff_s)


async def _cancel(*tasks: asyncio.Task[None] | None) -> None:
    for t in tasks:
        if t is None:
            continue
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def _refuse(err: errors.ApiError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request authorization refused (a WebSocket is closed with policy violation)."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008, "reason": err.message[:120]})
        return
    log_rejected(scope.get("method", ""), scope.get("path", ""), err)
    await error_response(err)(scope, receive, send)


class _App(FastAPI):
    """FastAPI, with plain routes run straight from the routing table (see routing.py), behind
    the request filters: audit, limits, authorization (as Kubernetes' handler chain orders them:
    the audit log sees 429s and 403s)."""

    dispatcher: Dispatcher | None = None
    authorization: Authorization | None = None
    authenticator: Authenticator | None = None
    api_audiences: list[str] = []  # noqa: RUF012 - set once per app by create_app
    limits: Limits | None = None
    audit: AuditLog | None = None

    instrumented: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Prometheus first: every answer counts, refusals (429, 403) included.
        if self.instrumented and scope["type"] == "http":
            await metrics.instrument(scope, receive, send, self._chain)
        else:
            await self._chain(scope, receive, send)

    async def _chain(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Authentication first, once, for both ways a request is dispatched: the limits (per
        # user), the audit log and authorization all read the user it stores in the scope.
        if self.authenticator is not None and scope["type"] in ("http", "websocket"):
            try:
                user = await authenticate_request(self.authenticator, scope)
            except errors.ApiError as exc:  # e.g. etcd unreachable while checking a token
                await _refuse(exc, scope, receive, send)
                return
            if user is None:
                await _refuse(errors.Unauthorized("Unauthorized"), scope, receive, send)
                return
            refused = await impersonate(self.authorization, scope)
            if refused is not None:
                await _refuse(refused, scope, receive, send)
                return
        if scope["type"] in ("http", "websocket") and self.limits is not None:
            await self._filtered(scope, receive, send)
        else:
            await self._serve(scope, receive, send)

    async def _filtered(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.limits is not None
        record = self.audit.begin(scope) if self.audit is not None else None
        if record is not None:
            receive, send = record.wrap(receive, send)
        release = _nothing
        panicked = False
        try:
            refused, release = self.limits.enter(scope)
            if refused is None and self.authorization is not None:
                refused = await self.authorization.check(scope)
                if record is not None and user_of(cast(dict[str, Any], scope)) is not None:
                    record.authorized(refused is None, "" if refused is None else refused.message)
            if refused is not None:
                await _refuse(refused, scope, receive, send)
                return
            receive, send = self.limits.wrap_io(scope, receive, send)
            await self._serve(scope, receive, send)
        except BaseException:
            panicked = True
            raise
        finally:
            release()
            if record is not None:
                record.finish(panicked=panicked)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.dispatcher is not None and await self.dispatcher.handle(scope, receive, send):
            return
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if scope["type"] != "http":
                raise
            # Starlette's ServerErrorMiddleware already answered it (our handler: a logged 500
            # Status with Connection: close) and re-raises only so that servers log it; it is
            # logged once already.


def _install_filters(app: _App, config: ApiServerConfig) -> None:
    """The limits and the audit log of apiserver/limits.py and apiserver/audit.py."""
    app.limits = Limits(LimitsConfig(
        user_qps=config.user_qps, user_burst=config.user_burst, max_watches_per_user=config.max_watches_per_user,
        max_inflight=config.max_requests_inflight, max_mutating_inflight=config.max_mutating_requests_inflight,
        request_timeout_s=config.request_timeout_s))
    if config.audit_log_path:
        if not config.audit_policy_file:
            raise ValueError("--audit-log-path needs --audit-policy-file (as Kubernetes: no policy, no events)")
        app.audit = AuditLog(config.audit_log_path, AuditPolicy.load(config.audit_policy_file),
                             max_bytes=int(config.audit_log_maxsize_mb * 1024 * 1024),
                             backups=config.audit_log_maxbackup)


def _nothing() -> None:
    return None


def create_app(
    config: ApiServerConfig | None = None,
    *,
    extra_routers: Iterable[APIRouter] = (),
    storage: Storage | None = None,
    kinds: Sequence[type[Resource]] | None = None,
) -> FastAPI:
    config = config or ApiServerConfig()
    kind_list = list(kinds if kinds is not None else registry.ALL_KINDS)
    authorization = Authorization(parse_modes(config.authorization_mode))
    encryption = (EncryptionConfig.load(config.encryption_provider_config)
                  if config.encryption_provider_config else None)
    ctx = Ctx(storage=storage if storage is not None else _NotConnected(),
              allocator=ServiceAllocator(config.service_cluster_ip_range, config.service_node_port_range),
              config=config, authorization=authorization)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = storage is None
        if own:
            ctx.storage = await EtcdStorage.connect(
                config.etcd_servers, timeout_s=config.etcd_timeout_s,
                watch_cache_capacity=config.watch_cache_capacity,
                bookmark_interval_s=config.bookmark_interval_s, encryption=encryption)
        task = asyncio.create_task(_start_background(ctx, kind_list), name="apiserver start-up")
        authz_task = (asyncio.create_task(authorization.run(ctx.storage, partial(rbac_writes.aggregate, ctx)),
                                          name="authorization caches")
                      if authorization.uses_caches else None)
        try:
            yield
        finally:
            await _cancel(task, authz_task)
            await upstream.close(app)
            if own:
                await ctx.storage.close()
            log.info("API server stopped")

    app = _App(title="kubelite", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    install_error_handlers(app)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        if not ctx.ready:
            return error_response(errors.ServiceUnavailable("the API server is still starting"))
        if not await ctx.storage.healthy():
            return error_response(errors.ServiceUnavailable("etcd is not reachable"))
        return PlainTextResponse("ok")

    async def version(request: Request) -> Response:
        return json_response(version_info())

    openapi = OpenApi(kind_list)

    async def openapi_root(request: Request) -> Response:
        return json_response(openapi.root())

    async def openapi_doc(request: Request) -> Response:
        data = openapi.document(request.path_params["path"])
        if data is None:
            return error_response(errors.NotFound("the server could not find the requested resource"))
        # The hash in the URL pins the content, as Kubernetes' immutable caching does.
        cache = "public, immutable, max-age=31536000" if request.query_params.get("hash") else "no-cache"
        return Response(data, media_type="application/json", headers={"Cache-Control": cache})

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(openapi))

    app.add_route("/openapi/v3", openapi_root, methods=["GET"])
    app.add_route("/openapi/v3/{path:path}", openapi_doc, methods=["GET"])
    app.add_route("/docs", docs, methods=["GET"])
    for path in ("/healthz", "/livez"):
        app.add_route(path, healthz, methods=["GET"])
    app.add_route("/readyz", readyz, methods=["GET"])
    app.add_route("/version", version, methods=["GET"])
    app.add_route("/metrics", metrics.metrics_response, methods=["GET"])
    # kubectl exec's WebSocket upgrade (HTTP GET/POST on the same path stay with extra routers).
    app.include_router(exec_ws.router)
    for router in extra_routers:
        app.include_router(router)
    # metrics.k8s.io is advertised like a built-in group and relayed to the metrics add-on.
    # autoscaling/v1 HPAs are served by conversion (apiserver/hpa_v1.py), v2 stays preferred.
    discovery = Discovery([*kind_list, *registry.REVIEW_KINDS, *AGGREGATED_KINDS, HorizontalPodAutoscalerV1],
                          f"{config.bind_address}:{config.port}")
    app.router.routes.extend(access_reviews.routes(ctx))
    app.router.routes.extend(aggregator.routes())
    app.router.routes.extend(hpa_v1.routes(ctx))
    app.router.routes.extend(authn_reviews.routes())  # SelfSubjectReview (kubectl auth whoami)
    app.router.routes.extend(ApiRoutes(ctx, kind_list, discovery).routes())
    app.dispatcher = Dispatcher(app)
    app.instrumented = config.metrics
    app.authorization = authorization
    _install_filters(app, config)
    app.authenticator = build_authenticator(config, ctx)
    app.api_audiences = audiences(config)
    ctx.token_signer = build_signer(config)
    return app
