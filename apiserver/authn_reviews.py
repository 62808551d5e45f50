"""SelfSubjectReview (authentication.k8s.io/v1): "who am I?", behind `kubectl auth whoami`; and
TokenReview: "whose token is this?".

Contract: `routes()` are plain routes for `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`
(and v1beta1, which older kubectl versions fall back to), mounted before the generic resource
routes. The request body is not needed (a SelfSubjectReview has no spec) and is not read, so
any encoding kubectl picks works. The answer (201, nothing stored) is the review with
`status.userInfo: {username, uid?, groups, extra?}` of the authenticated requester (the anonymous
user when the server has no authenticator configured).

`POST /apis/authentication.k8s.io/v1/tokenreviews` (authorized like any create: Kubernetes'
`system:auth-delegator` role grants it): `spec.token` is given to the server's own token
authenticators (static tokens, bootstrap tokens, ServiceAccount JWTs), never to client
certificates. The answer (201, nothing stored) has `status.authenticated`, and when true
`status.user` and `status.audiences` (the server's API audiences, or those of `spec.audiences`
it accepts); a token nobody accepts is `authenticated: false` with `error`, as Kubernetes. A
body without `spec.token` is 400 (`token is required for TokenReview in authentication`, as
Kubernetes). The spec comes back as sent (token included, as Kubernetes); the token is never logged.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apiserver.auth.user import ANONYMOUS_USER, SCOPE_KEY, UserInfo
from apiserver.handlers_common import JSON_TYPES, PROTOBUF_TYPES, YAML_TYPES, decode_body, media_type
from apiserver.responses import json_response
from machinery import errors
from machinery.meta import now_rfc3339

BASE = "/apis/authentication.k8s.io"


def user_info_json(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    found = scope.get(SCOPE_KEY)
    return _user_json(found if isinstance(found, UserInfo) else ANONYMOUS_USER)


def _user_json(user: UserInfo) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    info["groups"] = list(user.groups)
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


async def token_review(request: Request) -> Response:
    raw = await request.body()
    data = decode_body(raw, media_type(request), allowed=(*JSON_TYPES, *YAML_TYPES, *PROTOBUF_TYPES),
                       max_bytes=len(raw) + 1)
    spec = (data.get("spec") if isinstance(data, dict) else None) or {}
    token = spec.get("token") if isinstance(spec, dict) else None
    if not isinstance(token, str) or not token:
        raise errors.BadRequest("token is required for TokenReview in authentication")  # Kubernetes' words
    wanted = [a for a in spec.get("audiences") or [] if isinstance(a, str)]
    authenticator = getattr(request.app, "authenticator", None)
    server_audiences = list(getattr(request.app, "api_audiences", None) or [])
    user = None
    if authenticator is not None:
        for source in authenticator.tokens:
            user = await source.authenticate_token(token)
            if user is not None:
                break
    audiences = [a for a in wanted if a in server_audiences] if wanted else server_audiences
    status: dict[str, Any]
    if user is None:
        status = {"authenticated": False, "user": {}, "error": "[invalid bearer token]"}
    elif wanted and not audiences:
        status = {"authenticated": False, "user": {},
                  "error": f"token audiences {server_audiences} is invalid for the target audiences {wanted}"}
    else:
        status = {"authenticated": True, "user": _user_json(user), "audiences": audiences}
    return json_response({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                          "metadata": {"creationTimestamp": None},
                          "spec": spec, "status": status}, 201)


def routes() -> list[BaseRoute]:
    def endpoint(version: str) -> Any:
        async def review(request: Request) -> Response:
            return json_response({"kind": "SelfSubjectReview", "apiVersion": f"authentication.k8s.io/{version}",
                                  "metadata": {"creationTimestamp": now_rfc3339()},
                                  "status": {"userInfo": user_info_json(request.scope)}}, 201)
        return review

    return [*(Route(f"{BASE}/{v}/selfsubjectreviews", endpoint(v), methods=["POST"]) for v in ("v1", "v1beta1")),
            Route(f"{BASE}/v1/tokenreviews", token_review, methods=["POST"])]
