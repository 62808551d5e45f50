"""SubjectAccessReview, SelfSubjectAccessReview, LocalSubjectAccessReview (authorization.k8s.io/v1):
"may this user do this?", answered by the server's own authorizers (`kubectl auth can-i`).

Contract: `routes(ctx)` are plain routes for
  POST /apis/authorization.k8s.io/v1/subjectaccessreviews
  POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews
  POST /apis/authorization.k8s.io/v1/namespaces/NS/localsubjectaccessreviews
mounted before the generic resource routes. The body (JSON, YAML or protobuf) must carry
exactly one of spec.resourceAttributes / spec.nonResourceAttributes (422 otherwise); a
SubjectAccessReview needs spec.user or spec.groups; a LocalSubjectAccessReview's namespace
is the path's (a different spec.resourceAttributes.namespace is 422). A self review asks
about the requester (with no authentication configured, every request is served, so the
answer is allowed). The answer is the object with `status: {allowed, denied?, reason?}`,
201, nothing stored. Authorizing the review itself (create on the review resource) happened
before, like any request; the review is evaluated like a request, system:masters included,
without NodeRestriction (an admission step).
"""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apiserver.admission.validation import invalid_error, parse_object
from apiserver.auth.authz import Decision
from apiserver.auth.user import RequestAttributes, UserInfo, user_of
from apiserver.handlers_common import (
    JSON_TYPES,
    PROTOBUF_TYPES,
    YAML_TYPES,
    Ctx,
    decode_body,
    media_type,
    read_body,
)
from apiserver.responses import json_response
from machinery import errors
from machinery.meta import Resource
from machinery.models import LocalSubjectAccessReview, SelfSubjectAccessReview, SubjectAccessReview

Obj = dict[str, Any]
BASE = "/apis/authorization.k8s.io/v1"


def _attributes(user: UserInfo, spec: Obj, cls: type[Resource], name: str) -> RequestAttributes:
    res: Obj | None = spec.get("resourceAttributes")
    non: Obj | None = spec.get("nonResourceAttributes")
    if (res is None) == (non is None):
        raise invalid_error(cls, name, [{"reason": "FieldValueInvalid", "field": "spec.resourceAttributes",
                                         "message": "Invalid value: \"null\": exactly one of nonResourceAttributes "
                                                    "or resourceAttributes must be specified"}])
    if non is not None:
        return RequestAttributes(user=user, verb=str(non.get("verb") or ""), resource_request=False,
                                 path=str(non.get("path") or ""))
    assert res is not None
    return RequestAttributes(user=user, verb=str(res.get("verb") or ""), resource_request=True,
                             api_group=str(res.get("group") or ""), api_version=str(res.get("version") or ""),
                             resource=str(res.get("resource") or ""), subresource=str(res.get("subresource") or ""),
                             namespace=str(res.get("namespace") or ""), name=str(res.get("name") or ""))


def _user_of_spec(spec: Obj, cls: type[Resource], name: str) -> UserInfo:
    user, groups = str(spec.get("user") or ""), tuple(spec.get("groups") or ())
    if not user and not groups:
        raise invalid_error(cls, name, [{"reason": "FieldValueInvalid", "field": "spec.user,spec.groups",
                                         "message": "Invalid value: \"null\": at least one of user or group must "
                                                    "be specified"}])
    extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
    return UserInfo(user, uid=str(spec.get("uid") or ""), groups=groups, extra=extra)


class Reviews:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    async def _body(self, request: Request, cls: type[Resource]) -> Obj:
        raw = await read_body(request, self.ctx.config.max_body_bytes)
        data = decode_body(raw, media_type(request), allowed=(*JSON_TYPES, *YAML_TYPES, *PROTOBUF_TYPES),
                           max_bytes=self.ctx.config.max_body_bytes)
        if not isinstance(data, dict):
            raise errors.BadRequest(f"the body of a {cls.KIND} must be an object")
        model, causes = parse_object(cls, data)
        if model is None or causes:
            raise invalid_error(cls, "", causes)
        return model.to_dict()

    def _answer(self, obj: Obj, attrs: RequestAttributes | None) -> Response:
        authz = self.ctx.authorization
        if attrs is None or authz is None:
            decision, reason = Decision.ALLOW, "no authentication configured: every request is served"
        else:
            decision, reason = authz.authorize(attrs)
        status: Obj = {"allowed": decision is Decision.ALLOW}
        if decision is Decision.DENY:
            status["denied"] = True
        if reason:
            status["reason"] = reason
        obj["status"] = status
        obj.setdefault("metadata", {}).setdefault("creationTimestamp", None)
        return json_response(obj, 201)

    async def subject(self, request: Request) -> Response:
        obj = await self._body(request, SubjectAccessReview)
        spec = obj.get("spec") or {}
        user = _user_of_spec(spec, SubjectAccessReview, "")
        return self._answer(obj, _attributes(user, spec, SubjectAccessReview, ""))

    async def local(self, request: Request) -> Response:
        ns = request.path_params["namespace"]
        obj = await self._body(request, LocalSubjectAccessReview)
        spec = obj.get("spec") or {}
        res = spec.get("resourceAttributes")
        if res is not None:
            if res.get("namespace") and res["namespace"] != ns:
                raise invalid_error(LocalSubjectAccessReview, "", [{
                    "reason": "FieldValueInvalid", "field": "spec.resourceAttributes.namespace",
                    "message": f'Invalid value: "{res["namespace"]}": must match metadata.namespace'}])
            res["namespace"] = ns
        obj.setdefault("metadata", {})["namespace"] = ns
        user = _user_of_spec(spec, LocalSubjectAccessReview, "")
        return self._answer(obj, _attributes(user, spec, LocalSubjectAccessReview, ""))

    async def self_review(self, request: Request) -> Response:
        obj = await self._body(request, SelfSubjectAccessReview)
        spec = obj.get("spec") or {}
        user = user_of(cast(dict[str, Any], request.scope))
        attrs = _attributes(user or UserInfo(""), spec, SelfSubjectAccessReview, "")
        return self._answer(obj, attrs if user is not None else None)


def routes(ctx: Ctx) -> list[BaseRoute]:
    r = Reviews(ctx)
    return [
        Route(f"{BASE}/subjectaccessreviews", r.subject, methods=["POST"]),
        Route(f"{BASE}/selfsubjectaccessreviews", r.self_review, methods=["POST"]),
        Route(BASE + "/namespaces/{namespace}/localsubjectaccessreviews", r.local, methods=["POST"]),
    ]
