"""Authentication: who sent a request, from its client certificate or bearer token.

Contract:
- `Authenticator(tokens=[...], anonymous_everywhere=False)`; `await a.authenticate(scope)
  -> UserInfo | None`. Order, as Kubernetes' union authenticator: the verified client
  certificate of the connection (CN = user, O = groups), then the `Authorization: Bearer`
  token offered to each `TokenAuthenticator` in turn (static token file, bootstrap tokens,
  ServiceAccount JWTs). Every authenticated user gets `system:authenticated` added.
  No credential, or a token nobody accepts: the anonymous user on the public paths
  (`ANONYMOUS_PATHS`: /healthz, /livez, /readyz and their sub-paths, /version; and GET of
  kube-public/cluster-info, kubeadm's discovery document), else None,
  which the app answers with a 401 `Unauthorized` Status (Kubernetes' wording). A present but
  invalid token is NOT downgraded to anonymous elsewhere either: 401.
- `anonymous_paths=False` (`--anonymous-auth=false`): no anonymous requests at all.
- `anonymous_everywhere=True` (an in-process app with no authenticator configured, e.g. unit
  tests' `create_app()`): every request without credentials is the anonymous user.
- The connection's certificate comes from the uvicorn protocol (apiserver/httpproto.py), which
  verified it against `--client-ca-file` during the TLS handshake and stored its subject once
  per connection under `PEER_KEY` in the scope's `state` dict: no per-request parsing.
- `authenticate_request(authenticator, scope)` also stores the result in the scope under
  `user.SCOPE_KEY` (what authorization and handlers read).
- Tokens and keys are never logged.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, Protocol

from apiserver.auth.user import ANONYMOUS_USER, AUTHENTICATED, SCOPE_KEY, UserInfo

# scope["state"][PEER_KEY]: (CN, (O, ...)) of the verified client certificate, or absent.
from machinery.tlspeer import PEER_KEY as PEER_KEY

ANONYMOUS_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
_ANONYMOUS_PREFIXES = ("/healthz/", "/livez/", "/readyz/", "/version/")
# kubeadm's token discovery: a joining machine reads the signed CA before it can trust the server
# (machinery/clusterinfo.py). GET only.
ANONYMOUS_GET_PATHS = frozenset({"/api/v1/namespaces/kube-public/configmaps/cluster-info"})


class TokenAuthenticator(Protocol):
    async def authenticate_token(self, token: str) -> UserInfo | None:
        """The user a bearer token stands for, or None when this authenticator does not know it."""
        ...


def with_authenticated(name: str, uid: str = "", groups: Sequence[str] = (),
                       extra: dict[str, tuple[str, ...]] | None = None) -> UserInfo:
    """A UserInfo whose groups end with system:authenticated (once), as Kubernetes adds it."""
    group_list = (*tuple(g for g in dict.fromkeys(groups) if g != AUTHENTICATED), AUTHENTICATED)
    return UserInfo(name, uid, group_list, extra or {})


def is_anonymous_path(path: str, method: str = "GET") -> bool:
    return (path in ANONYMOUS_PATHS or path.startswith(_ANONYMOUS_PREFIXES)
            or (method == "GET" and path in ANONYMOUS_GET_PATHS))


def bearer_token(scope: MutableMapping[str, Any]) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header ("" for an empty one), else None."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization" or name.lower() == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer":
                return str(token.strip())
            return None
    return None


class Authenticator:
    def __init__(self, tokens: Sequence[TokenAuthenticator] = (), *, anonymous_everywhere: bool = False,
                 anonymous_paths: bool = True) -> None:
        self.tokens = list(tokens)
        self.anonymous_everywhere = anonymous_everywhere
        self.anonymous_paths = anonymous_paths
        self._cert_users: dict[tuple[str, tuple[str, ...]], UserInfo] = {}

    def _from_certificate(self, scope: MutableMapping[str, Any]) -> UserInfo | None:
        state = scope.get("state")
        peer = state.get(PEER_KEY) if isinstance(state, dict) else None
        if not peer:
            return None
        user = self._cert_users.get(peer)
        if user is None:
            cn, orgs = peer
            if not cn:  # Kubernetes: a certificate without a CN authenticates nobody
                return None
            user = with_authenticated(cn, groups=orgs)
            if len(self._cert_users) < 10_000:
                self._cert_users[peer] = user
        return user

    async def authenticate(self, scope: MutableMapping[str, Any]) -> UserInfo | None:
        user = self._from_certificate(scope)
        if user is not None:
            return user
        token = bearer_token(scope)
        if token:
            for source in self.tokens:
                found = await source.authenticate_token(token)
                if found is not None:
                    return found
            return None  # a credential that nobody accepts: 401, never anonymous
        if self.anonymous_everywhere or (
                self.anonymous_paths and is_anonymous_path(scope.get("path", ""), scope.get("method", "GET"))):
            return ANONYMOUS_USER
        return None


async def authenticate_request(authenticator: Authenticator, scope: MutableMapping[str, Any]) -> UserInfo | None:
    user = await authenticator.authenticate(scope)
    if user is not None:
        scope[SCOPE_KEY] = user
    return user
