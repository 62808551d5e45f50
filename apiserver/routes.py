"""URL routing of the resource API, generated from the registry of kinds.

Contract: `ApiRoutes(ctx, kinds).routes()` returns Starlette routes for `/api`, `/api/...`,
`/apis`, `/apis/...` that resolve, per request, Kubernetes' path grammar
    /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUBRESOURCE]]
    /apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME[/SUBRESOURCE]]
    /api/v1/watch/... (legacy watch paths)
against the kinds (a dict lookup, no per-kind regexes) and call the generic handlers. Unknown
kinds, names and subresources are 404 Status, wrong verbs 405 Status. Discovery documents live
on the short paths. Routers mounted before these (e.g. pods/log, pods/exec) take precedence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apiserver import handlers, handlers_delete, handlers_patch, handlers_sub, tables, tokenrequest
from apiserver.auth.csr import prepare_csr_create
from apiserver.auth.user import user_of
from apiserver.discovery import Discovery, aggregated_type
from apiserver.fieldvalidation import FieldValidation
from apiserver.handlers_common import (
    JSON_TYPES,
    PROTOBUF_TYPES,
    YAML_TYPES,
    Ctx,
    ResourceClass,
    decode_body,
    dry_run,
    flag,
    int_param,
    media_type,
    object_body,
    read_body,
    resource_version_param,
)
from apiserver.patch import APPLY_PATCH
from apiserver.responses import dumps, json_response
from apiserver.watch import watch_response
from machinery import errors
from machinery.meta import Resource

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_SERVED_SUBRESOURCES = {"status", "scale", "binding", "finalize", "eviction", "token", "approval"}


@dataclass(frozen=True)
class Target:
    cls: ResourceClass
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


def _not_found() -> errors.NotFound:
    return errors.NotFound("the server could not find the requested resource")


def _not_allowed(method: str) -> errors.MethodNotAllowed:
    return errors.MethodNotAllowed(f"the server does not allow this method on the requested resource ({method})")


class ApiRoutes:
    def __init__(self, ctx: Ctx, kinds: Iterable[type[Resource]], discovery: Discovery) -> None:
        self.ctx = ctx
        self.kinds: dict[tuple[str, str, str], type[Resource]] = {
            (c.GROUP, c.VERSION, c.PLURAL): c for c in kinds}
        self.discovery = discovery

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api", self.api_versions, methods=["GET"]),
            Route("/apis", self.group_list, methods=["GET"]),
            Route("/api/{path:path}", self.core, methods=_METHODS),
            Route("/apis/{path:path}", self.grouped, methods=_METHODS),
        ]

    # --- discovery -------------------------------------------------------------------------------

    async def api_versions(self, request: Request) -> Response:
        return self._discovery_root(request, core=True)

    async def group_list(self, request: Request) -> Response:
        return self._discovery_root(request, core=False)

    def _discovery_root(self, request: Request, *, core: bool) -> Response:
        ct = aggregated_type(request.headers.get("accept", ""))
        if ct is not None:
            doc = self.discovery.aggregated_list(core=core, content_type=ct)
            return Response(dumps(doc), media_type=None, headers={"Content-Type": ct})
        return json_response(self.discovery.api_versions if core else self.discovery.group_list)

    async def core(self, request: Request) -> Response:
        parts = [p for p in request.path_params["path"].split("/") if p]
        if not parts:
            return await self.api_versions(request)
        version, rest = parts[0], parts[1:]
        if not rest:
            doc = self.discovery.resource_list("", version)
            if doc is None or request.method != "GET":
                raise _not_found()
            return json_response(doc)
        return await self._resource(request, "", version, rest)

    async def grouped(self, request: Request) -> Response:
        parts = [p for p in request.path_params["path"].split("/") if p]
        if not parts:
            return await self.group_list(request)
        if len(parts) <= 2:
            doc = (self.discovery.group(parts[0]) if len(parts) == 1
                   else self.discovery.resource_list(parts[0], parts[1]))
            if doc is None or request.method != "GET":
                raise _not_found()
            return json_response(doc)
        return await self._resource(request, parts[0], parts[1], parts[2:])

    # --- resolution ----------------------------------------------------------------------------

    def _kind(self, group: str, version: str, plural: str) -> ResourceClass:
        cls = self.kinds.get((group, version, plural))
        if cls is None:
            raise _not_found()
        return cls

    def resolve(self, group: str, version: str, rest: list[str]) -> tuple[Target, bool]:
        """(target, legacy watch path) for the path segments after the group version."""
        legacy_watch = bool(rest) and rest[0] == "watch"
        if legacy_watch:
            rest = rest[1:]
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, plural, tail = rest[1], rest[2], rest[3:]
            if (group, version, "namespaces") in self.kinds and plural in ("status", "finalize") and not tail:
                # namespaces/NAME/status and namespaces/NAME/finalize
                return Target(self._kind(group, version, "namespaces"), None, ns, plural), legacy_watch
            if group == "" and plural == "bindings" and not tail:
                return Target(self._kind(group, version, "pods"), ns, None, "binding"), legacy_watch
            cls = self._kind(group, version, plural)
            if not cls.NAMESPACED or len(tail) > 2:
                raise _not_found()
            return Target(cls, ns, *tail), legacy_watch
        if not rest or len(rest) > 3:
            raise _not_found()
        cls = self._kind(group, version, rest[0])
        if cls.NAMESPACED and len(rest) > 1:
            raise _not_found()
        return Target(cls, None, *rest[1:]), legacy_watch

    # --- dispatch ------------------------------------------------------------------------------

    async def _resource(self, request: Request, group: str, version: str, rest: list[str]) -> Response:
        target, legacy_watch = self.resolve(group, version, rest)
        method = request.method
        if target.subresource is not None:
            return await self._subresource(request, target)
        if target.name is None:
            if method == "GET":
                if legacy_watch or flag(request, "watch"):
                    return await watch_response(self.ctx, target.cls, target.namespace, request)
                return await self._list(request, target)
            if target.cls.NAMESPACED and target.namespace is None:
                raise _not_allowed(method)
            if method == "POST":
                fv = FieldValidation.from_request(request)
                body = object_body(target.cls, await self._body(request))
                fv.check(target.cls, body)
                if target.cls.KIND == "CertificateSigningRequest":  # the requester, from authentication
                    prepare_csr_create(body, user_of(request.scope))  # type: ignore[arg-type]
                obj = await handlers.create(self.ctx, target.cls, target.namespace, body, dry_run=dry_run(request))
                return fv.add_headers(json_response(obj, 201))
            if method == "DELETE":
                opts = await self._delete_options(request)
                q = request.query_params
                out = await handlers_delete.delete_collection(
                    self.ctx, target.cls, target.namespace, opts,
                    label_selector=q.get("labelSelector"), field_selector=q.get("fieldSelector"))
                return json_response(out)
            raise _not_allowed(method)
        name = target.name
        if method == "GET":
            obj = await handlers.get(self.ctx, target.cls, target.namespace, name)
            if tables.table_request(request):
                meta = {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")}
                return json_response(tables.to_table(target.cls, [obj], meta, include=tables.include_object(request)))
            return json_response(obj)
        if method == "PUT":
            fv = FieldValidation.from_request(request)
            body = object_body(target.cls, await self._body(request))
            fv.check(target.cls, body)
            obj = await handlers.update(self.ctx, target.cls, target.namespace, name, body, dry_run=dry_run(request))
            return fv.add_headers(json_response(obj))
        if method == "PATCH":
            return await self._patch(request, target)
        if method == "DELETE":
            opts = await self._delete_options(request)
            return json_response(await handlers_delete.delete(self.ctx, target.cls, target.namespace, name, opts))
        raise _not_allowed(method)

    async def _subresource(self, request: Request, target: Target) -> Response:
        sub, cls, method, name = target.subresource, target.cls, request.method, target.name
        if sub not in _SERVED_SUBRESOURCES or (sub not in cls.SUBRESOURCES and not (
                sub == "binding" and cls.KIND == "Pod")):
            raise _not_found()
        if sub == "binding":
            if method != "POST":
                raise _not_allowed(method)
            status = await handlers_sub.bind(self.ctx, cls, target.namespace or "default", name,
                                             await self._body(request))
            return json_response(status, 201)
        assert name is not None
        if sub == "eviction":
            if method != "POST":
                raise _not_allowed(method)
            return json_response(await handlers_sub.evict(
                self.ctx, cls, target.namespace or "default", name, await self._body(request),
                dry_run=dry_run(request)), 201)
        if sub == "token":  # serviceaccounts/token: a TokenRequest (apiserver/tokenrequest.py)
            return await self._token_request(request, target.namespace or "default", name)
        if sub == "finalize":
            if method != "PUT":
                raise _not_allowed(method)
            body = object_body(cls, await self._body(request))
            return json_response(await handlers.finalize_namespace(self.ctx, cls, name, body, dry_run=dry_run(request)))
        if sub == "scale":
            if method == "GET":
                return json_response(await handlers_sub.get_scale(self.ctx, cls, target.namespace, name))
            if method in ("PUT", "PATCH"):
                ct = media_type(request) if method == "PATCH" else None
                raw = await read_body(request, self.ctx.config.max_body_bytes)
                body = decode_body(raw, ct if ct is not None else media_type(request),
                                   max_bytes=self.ctx.config.max_body_bytes)
                return json_response(await handlers_sub.write_scale(
                    self.ctx, cls, target.namespace, name, body, content_type=ct, dry_run=dry_run(request)))
            raise _not_allowed(method)
        # status
        if method == "GET":
            return json_response(await handlers.get(self.ctx, cls, target.namespace, name))
        if method == "PUT":
            fv = FieldValidation.from_request(request)
            body = object_body(cls, await self._body(request))
            fv.check(cls, body)
            return fv.add_headers(json_response(await handlers.update(
                self.ctx, cls, target.namespace, name, body, subresource="status", dry_run=dry_run(request))))
        if method == "PATCH":
            return await self._patch(request, target)
        raise _not_allowed(method)

    # --- helpers -------------------------------------------------------------------------------

    async def _token_request(self, request: Request, namespace: str, name: str) -> Response:
        if request.method != "POST":
            raise _not_allowed(request.method)
        return json_response(await tokenrequest.create_token(
            self.ctx, self.ctx.token_signer, namespace, name, await self._body(request)), 201)

    async def _body(self, request: Request) -> object:
        raw = await read_body(request, self.ctx.config.max_body_bytes)
        return decode_body(raw, media_type(request), allowed=(*JSON_TYPES, *YAML_TYPES, *PROTOBUF_TYPES),
                           max_bytes=self.ctx.config.max_body_bytes)

    async def _patch(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        ct = media_type(request)
        if ct not in handlers_patch.PATCH_CONTENT_TYPES:
            raise handlers_patch.unsupported(ct)
        fv = FieldValidation.from_request(request)
        raw = await read_body(request, self.ctx.config.max_body_bytes)
        body = decode_body(raw, ct, max_bytes=self.ctx.config.max_body_bytes)
        if ct == APPLY_PATCH:
            fv.check(target.cls, body)
            obj, code = await handlers_patch.apply(
                self.ctx, target.cls, target.namespace, target.name, body,
                field_manager=request.query_params.get("fieldManager"), subresource=target.subresource,
                dry_run=dry_run(request))
            return fv.add_headers(json_response(obj, code))
        obj = await handlers_patch.patch(self.ctx, target.cls, target.namespace, target.name, ct, body,
                                         subresource=target.subresource, dry_run=dry_run(request),
                                         check_fields=fv.check)
        return fv.add_headers(json_response(obj))

    async def _list(self, request: Request, target: Target) -> Response:
        q = request.query_params
        rv = resource_version_param(request)
        exact = rv if q.get("resourceVersionMatch") == "Exact" else None
        out = await handlers.list_objects(
            self.ctx, target.cls, target.namespace, label_selector=q.get("labelSelector"),
            field_selector=q.get("fieldSelector"), limit=int_param(request, "limit"),
            continue_token=q.get("continue"), exact_rv=exact or None,
            cached=q.get("resourceVersion") == "0" and not q.get("continue"))
        if tables.table_request(request):
            return json_response(tables.to_table(target.cls, out["items"], out["metadata"],
                                                 include=tables.include_object(request)))
        return json_response(out)

    async def _delete_options(self, request: Request) -> handlers_delete.DeleteOptions:
        raw = await read_body(request, self.ctx.config.max_body_bytes)
        body = (decode_body(raw, media_type(request), max_bytes=self.ctx.config.max_body_bytes)
                if raw.strip() else None)
        query = {k: v for k, v in request.query_params.items()
                 if k in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents")}
        return handlers_delete.DeleteOptions.parse(body, query, dry_run(request))
