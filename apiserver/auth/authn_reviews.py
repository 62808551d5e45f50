"""SelfSubjectReview (authentication.k8s.io/v1): "who am I?", behind `kubectl auth whoami`.

Contract: `routes()` are plain routes for `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`
(and v1beta1, which older kubectl versions fall back to), mounted before the generic resource
routes. The request body is not needed (a SelfSubjectReview has no spec) and is not read, so
any encoding kubectl picks works. The answer (201, nothing stored) is the review with
`status.userInfo: {username, uid?, groups, extra?}` of the authenticated requester (the anonymous
user when the server has no authenticator configured).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apiserver.auth.user import ANONYMOUS_USER, SCOPE_KEY, UserInfo
from apiserver.responses import json_response
from machinery.meta import now_rfc3339

BASE = "/apis/authentication.k8s.io"


def user_info_json(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    found = scope.get(SCOPE_KEY)
    user = found if isinstance(found, UserInfo) else ANONYMOUS_USER
    info: dict[str, Any] = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    info["groups"] = list(user.groups)
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


def routes() -> list[BaseRoute]:
    def endpoint(version: str) -> Any:
        async def review(request: Request) -> Response:
            return json_response({"kind": "SelfSubjectReview", "apiVersion": f"authentication.k8s.io/{version}",
                                  "metadata": {"creationTimestamp": now_rfc3339()},
                                  "status": {"userInfo": user_info_json(request.scope)}}, 201)
        return review

    return [Route(f"{BASE}/{v}/selfsubjectreviews", endpoint(v), methods=["POST"]) for v in ("v1", "v1beta1")]
