"""Who is asking, and what they ask: the two shapes authentication and authorization share.

Contract (as Kubernetes' user.Info and authorizer.Attributes):
- `UserInfo(name, uid, groups, extra)`: the authenticated identity. Every authenticated user
  is also in `system:authenticated`; the anonymous user is `system:anonymous` in
  `system:unauthenticated`. Client certificates give CN = name and O = groups; ServiceAccount
  tokens give `system:serviceaccount:NS:NAME` in `system:serviceaccounts` and
  `system:serviceaccounts:NS`; kubelets are `system:node:NODE` in `system:nodes`.
- The authentication step stores the UserInfo in the ASGI scope under `SCOPE_KEY`
  (`scope["state"]` is not used: the fast path bypasses Starlette's Request state).
- `RequestAttributes`: what authorization decides on, derived from the request's route:
  resource requests carry verb (get, list, watch, create, update, patch, delete,
  deletecollection), api_group ("" for core), resource, subresource, namespace, name;
  non-resource requests carry `path` and the HTTP verb in lower case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCOPE_KEY = "kubelite.user"

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
MASTERS = "system:masters"


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_anonymous(self) -> bool:
        return self.name == ANONYMOUS


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))


def user_of(scope: dict[str, Any]) -> UserInfo | None:
    """The identity authentication stored for this request, if any."""
    user = scope.get(SCOPE_KEY)
    return user if isinstance(user, UserInfo) else None


@dataclass(frozen=True)
class RequestAttributes:
    user: UserInfo
    verb: str
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
