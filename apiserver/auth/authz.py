"""Authorization: what a request asks (RequestAttributes), who decides, and the 403.

Contract (as Kubernetes' RequestInfoFactory, union authorizer and responsewriters.Forbidden):
- `request_attributes(user, method, path, query)` derives the attributes from the request
  alone, for both dispatch paths (plain routes and FastAPI ones): `/api/v1/...` and
  `/apis/GROUP/VERSION/...` with at least a resource are resource requests (verb from the
  method: GET get/list/watch (`watch=true` or a legacy `/watch/` path), POST create, PUT
  update, PATCH patch, DELETE delete/deletecollection; a list/watch whose fieldSelector is
  `metadata.name=X` carries name X; `namespaces/NS` sets namespace NS, and `status` and
  `finalize` after it are the namespace's subresources); anything else is a non-resource
  request with the lower-case HTTP verb and the path.
- An `Authorizer` answers `authorize(attrs) -> (Decision, reason)`; `Union` asks each in
  order and stops at the first ALLOW or DENY (NO_OPINION goes on), as `--authorization-mode
  Node,RBAC` does. `system:masters` is allowed before any authorizer is asked.
- `forbidden(attrs, reason)` is the 403 worded as Kubernetes words it:
  `pods "p" is forbidden: User "u" cannot get resource "pods" in API group "" in the
  namespace "ns"[: reason]`, `... at the cluster scope`, `forbidden: User "u" cannot get path
  "/x"`; details {name, group, kind = resource}.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import parse_qsl

from apiserver.auth.user import MASTERS, RequestAttributes, UserInfo
from machinery import errors

_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


class Authorizer(Protocol):
    def authorize(self, attrs: RequestAttributes) -> tuple[Decision, str]: ...


def _true(value: str) -> bool:
    return value.lower() in ("1", "true")


def request_attributes(user: UserInfo, method: str, path: str, query: str | bytes = b"") -> RequestAttributes:
    """What the request asks for (see the module docstring)."""
    raw_query = query.decode("latin-1") if isinstance(query, bytes) else query
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    parts = [p for p in path.split("/") if p]
    non_resource = RequestAttributes(user=user, verb=method.lower(), resource_request=False, path=path)
    if not parts or parts[0] not in ("api", "apis"):
        return non_resource
    if parts[0] == "api":
        group, rest = "", parts[1:]
    else:
        if len(parts) < 3:
            return non_resource
        group, rest = parts[1], parts[2:]
    if len(rest) < 2:
        return non_resource  # /api/v1, /apis/G/V: discovery
    version, rest = rest[0], rest[1:]
    verb = _METHOD_VERBS.get(method.upper(), method.lower())
    if rest[0] == "watch":
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if not rest:
        return non_resource
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    if not name and verb == "get":
        verb = "watch" if _true(params.get("watch", "")) else "list"
    if not name and verb in ("list", "watch"):
        for term in params.get("fieldSelector", "").split(","):
            key, sep, value = term.partition("=")
            value = value.removeprefix("=").strip()
            if sep and key.strip() == "metadata.name" and value and "/" not in value:
                name = value
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestAttributes(user=user, verb=verb, resource_request=True, api_group=group, api_version=version,
                             resource=resource, subresource=subresource, namespace=namespace, name=name, path=path)


class AlwaysAllow:
    def authorize(self, attrs: RequestAttributes) -> tuple[Decision, str]:
        return Decision.ALLOW, ""


class AlwaysDeny:
    def authorize(self, attrs: RequestAttributes) -> tuple[Decision, str]:
        return Decision.NO_OPINION, "Everything is forbidden."


class Union:
    """`--authorization-mode A,B`: the first ALLOW or DENY wins; system:masters always passes."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = list(authorizers)

    def authorize(self, attrs: RequestAttributes) -> tuple[Decision, str]:
        if MASTERS in attrs.user.groups:
            return Decision.ALLOW, ""
        reasons = []
        for authorizer in self.authorizers:
            decision, reason = authorizer.authorize(attrs)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "\n".join(reasons)


def forbidden_message(attrs: RequestAttributes) -> str:
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = (f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope")
    return f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'


def forbidden(attrs: RequestAttributes, reason: str = "") -> errors.Forbidden:
    """The 403 of a denied request, worded as Kubernetes' responsewriters.ForbiddenStatusError."""
    detail = forbidden_message(attrs) + (f": {reason}" if reason else "")
    if not attrs.resource_request or not attrs.resource:
        return errors.Forbidden(f"forbidden: {detail}", name=attrs.name or None, kind=attrs.resource or None)
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    prefix = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    return errors.Forbidden(f"{prefix} is forbidden: {detail}", name=attrs.name or None, kind=attrs.resource,
                            group=attrs.api_group or None)
