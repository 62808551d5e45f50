"""Impersonation: `kubectl --as USER --as-group G --as-uid U`, as Kubernetes' WithImpersonation filter.

Contract: `await impersonate(authorization, scope)` runs after authentication, before the
request's own authorization.
- Without `Impersonate-*` headers it does nothing (None).
- With them, the authenticated user must be allowed the verb `impersonate` on each thing asked
  for: `users` NAME, or `serviceaccounts` NAME in NAMESPACE for `system:serviceaccount:NS:NAME`;
  `groups` NAME (one check per `Impersonate-Group` header); `uids` UID and
  `userextras/KEY` VALUE (`Impersonate-Uid`, `Impersonate-Extra-KEY`; API group
  authentication.k8s.io). The first refusal is a 403 worded as Kubernetes does (`users "jane"
  is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster
  scope`). Groups, uid or extras without `Impersonate-User`: 400.
- Allowed: the scope's user becomes the impersonated one, whose groups are those asked for (a
  ServiceAccount without explicit groups gets `system:serviceaccounts` and
  `system:serviceaccounts:NS`) plus `system:authenticated` (`system:unauthenticated` for
  `system:anonymous`); the headers are removed from the scope, so nothing downstream (handlers,
  proxies to kubelets or Services) sees them.
- `authorization` None (no authorizer configured) allows every impersonation, as AlwaysAllow.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, cast
from urllib.parse import unquote

from apiserver.auth.authz import Decision, forbidden
from apiserver.auth.authz_runtime import Authorization
from apiserver.auth.user import (
    ANONYMOUS,
    AUTHENTICATED,
    SCOPE_KEY,
    UNAUTHENTICATED,
    RequestAttributes,
    UserInfo,
    user_of,
)
from machinery import errors

USER, GROUP, UID, EXTRA = b"impersonate-user", b"impersonate-group", b"impersonate-uid", b"impersonate-extra-"
SA_PREFIX = "system:serviceaccount:"
AUTH_GROUP = "authentication.k8s.io"


def _asked(scope: MutableMapping[str, Any]) -> tuple[str | None, list[str], str | None, dict[str, list[str]]] | None:
    user: str | None = None
    groups: list[str] = []
    uid: str | None = None
    extra: dict[str, list[str]] = {}
    found = False
    for raw_name, raw_value in scope.get("headers") or ():
        name = bytes(raw_name).lower()
        if not name.startswith(b"impersonate-"):
            continue
        found = True
        value = bytes(raw_value).decode("latin-1").strip()
        if name == USER:
            user = value
        elif name == GROUP:
            groups.append(value)
        elif name == UID:
            uid = value
        elif name.startswith(EXTRA):
            # Kubernetes: the key is percent-decoded and lower-cased (header names are case-blind).
            extra.setdefault(unquote(name[len(EXTRA):].decode("latin-1")).lower(), []).append(value)
    return (user, groups, uid, extra) if found else None


def _check(authorization: Authorization | None, attrs: RequestAttributes) -> errors.ApiError | None:
    if authorization is None:
        return None
    decision, reason = authorization.authorize(attrs)
    return None if decision is Decision.ALLOW else forbidden(attrs, reason)


async def impersonate(authorization: Authorization | None, scope: MutableMapping[str, Any]) -> errors.ApiError | None:
    asked = _asked(scope)
    if asked is None:
        return None
    user_name, groups, uid, extra = asked
    requester = user_of(cast(dict[str, Any], scope))
    if requester is None:
        return errors.Unauthorized("Unauthorized")
    if not user_name:
        what = [f"groups {groups}" if groups else "", f"uid {uid!r}" if uid else "",
                f"extra {sorted(extra)}" if extra else ""]
        return errors.BadRequest(f"requested {', '.join(w for w in what if w)} without impersonating a user")
    if authorization is not None and authorization.uses_caches and not authorization.synced():
        await authorization.wait_synced()

    def attrs(resource: str, name: str, *, group: str = "", namespace: str = "", sub: str = "") -> RequestAttributes:
        return RequestAttributes(requester, "impersonate", True, api_group=group, resource=resource,
                                 subresource=sub, namespace=namespace, name=name)

    checks: list[RequestAttributes] = []
    sa_namespace = ""
    if user_name.startswith(SA_PREFIX) and user_name.count(":") == 3:
        sa_namespace, sa_name = user_name[len(SA_PREFIX):].split(":", 1)
        checks.append(attrs("serviceaccounts", sa_name, namespace=sa_namespace))
    else:
        checks.append(attrs("users", user_name))
    checks += [attrs("groups", g) for g in groups]
    if uid:
        checks.append(attrs("uids", uid, group=AUTH_GROUP))
    for key, values in extra.items():
        checks += [attrs("userextras", v, group=AUTH_GROUP, sub=key) for v in values]
    for check in checks:
        refused = _check(authorization, check)
        if refused is not None:
            return refused

    if sa_namespace and not groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}"]
    implied = UNAUTHENTICATED if user_name == ANONYMOUS else AUTHENTICATED
    all_groups = (*dict.fromkeys(g for g in groups if g != implied), implied)
    scope[SCOPE_KEY] = UserInfo(user_name, uid or "", all_groups, {k: tuple(v) for k, v in extra.items()})
    scope["headers"] = [(n, v) for n, v in scope.get("headers") or () if not bytes(n).lower().startswith(b"impersonate-")]
    return None
