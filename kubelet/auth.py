"""Who may call the kubelet's HTTPS API: authentication and authorization as Kubernetes' kubelet.

Contract:
- Authentication, in Kubernetes' order: x509 client certificates (the TLS handshake verifies a
  presented certificate against the client CA, `--client-ca-file`, default the kubeconfig's
  cluster CA, and machinery.tlspeer puts its subject in the scope: CN = user, O = groups, plus
  `system:authenticated`), then bearer tokens checked by a TokenReview to the API server
  (`TokenWebhook`, `--authentication-token-webhook`, answers cached 2 minutes by the token's
  SHA-256, as the kubelet's webhook cache). Neither: 401 `Unauthorized` (anonymous authentication
  is off, as kubeadm configures kubelets); a certificate of another CA never gets past the handshake.
- `attributes(method, path, node) -> KubeletAttributes`: Kubernetes' mapping
  (pkg/kubelet/server/auth.go): verb from the method (GET/HEAD get, POST create, PUT update,
  PATCH patch, DELETE delete), resource `nodes`, name = this node, subresource `stats` for
  /stats..., `metrics` for /metrics..., `log` for /logs..., `checkpoint` for /checkpoint...,
  `proxy` for everything else (containerLogs, exec, attach, portforward, healthz, pods, run).
- `WebhookAuthorizer(client, node, allowed_ttl_s=300, denied_ttl_s=30, clock=time.monotonic)`:
  asks the API server with a SubjectAccessReview (as the kubelet's own identity, which the
  system:node role may create) and caches each (user, groups, verb, subresource) answer: allowed
  5 minutes, denied 30 seconds (the kubelet's cacheAuthorizedTTL / cacheUnauthorizedTTL). A
  review that fails (API server away) is not cached and the request gets 500 "Authorization
  error". `AlwaysAllow` admits every authenticated user (`--authorization-mode AlwaysAllow`).
- `AuthFilter(app, authorizer, node)`: the ASGI middleware doing both, for HTTP and WebSocket
  scopes (a refused WebSocket upgrade gets the same HTTP answer). Answers are the kubelet's plain
  text: `Unauthorized` (401), `Forbidden (user=U, verb=V, resource=nodes, subresource(s)=[S])`
  (403). Only a loopback peer may call /healthz without a certificate (`open_healthz`), the
  kubelet's healthz port being 127.0.0.1-only in Kubernetes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from machinery.tlspeer import PEER_KEY

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

AUTHENTICATED = "system:authenticated"
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_SUBRESOURCES = (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/checkpoint", "checkpoint"))
_LOOPBACK = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class KubeletAttributes:
    verb: str
    node: str
    subresource: str
    resource: str = "nodes"


@dataclass(frozen=True)
class Caller:
    user: str
    groups: tuple[str, ...]


def _is_subpath(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def attributes(method: str, path: str, node: str) -> KubeletAttributes:
    verb = _VERBS.get(method.upper(), "")
    sub = next((name for prefix, name in _SUBRESOURCES if _is_subpath(path, prefix)), "proxy")
    return KubeletAttributes(verb=verb, node=node, subresource=sub)


def caller(scope: Scope) -> Caller | None:
    peer = (scope.get("state") or {}).get(PEER_KEY)
    if not peer or not peer[0]:
        return None
    cn, orgs = peer
    return Caller(user=str(cn), groups=(*(str(o) for o in orgs), AUTHENTICATED))


def bearer_token(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or ():
        if bytes(key).lower() == b"authorization":
            kind, _, token = bytes(value).decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return str(token.strip())
    return None


def forbidden_message(who: Caller, attrs: KubeletAttributes) -> str:
    return (f"Forbidden (user={who.user}, verb={attrs.verb}, resource={attrs.resource}, "
            f"subresource(s)=[{attrs.subresource}])")


class Authorizer(Protocol):
    async def allowed(self, who: Caller, attrs: KubeletAttributes) -> bool: ...


class AlwaysAllow:
    async def allowed(self, who: Caller, attrs: KubeletAttributes) -> bool:
        return True


class ReviewClient(Protocol):
    async def request(self, method: str, path: str, **kwargs: Any) -> Any: ...


class WebhookAuthorizer:
    """SubjectAccessReviews to the API server, answers cached per caller and attributes."""

    def __init__(self, client: ReviewClient, *, allowed_ttl_s: float = 300.0, denied_ttl_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 4096) -> None:
        self.client = client
        self.allowed_ttl_s, self.denied_ttl_s = allowed_ttl_s, denied_ttl_s
        self.clock = clock
        self.max_entries = max_entries
        self._cache: dict[tuple[Caller, KubeletAttributes], tuple[bool, float]] = {}
        self.reviews = 0

    def review_body(self, who: Caller, attrs: KubeletAttributes) -> dict[str, Any]:
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": who.user, "groups": list(who.groups),
                         "resourceAttributes": {"verb": attrs.verb, "group": "", "version": "v1",
                                                "resource": attrs.resource, "subresource": attrs.subresource,
                                                "name": attrs.node}}}

    async def allowed(self, who: Caller, attrs: KubeletAttributes) -> bool:
        key = (who, attrs)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        self.reviews += 1
        answer = await self.client.request("POST", SAR_PATH, json=self.review_body(who, attrs))
        ok = bool((answer.get("status") or {}).get("allowed"))
        if len(self._cache) >= self.max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
        self._cache[key] = (ok, now + (self.allowed_ttl_s if ok else self.denied_ttl_s))
        return ok


class TokenWebhook:
    """Bearer tokens checked by TokenReview (the API server's authenticators decide), cached."""

    def __init__(self, client: ReviewClient, *, ttl_s: float = 120.0, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 4096) -> None:
        self.client, self.ttl_s, self.clock, self.max_entries = client, ttl_s, clock, max_entries
        self._cache: dict[str, tuple[Caller | None, float]] = {}
        self.reviews = 0

    async def authenticate(self, token: str) -> Caller | None:
        key = hashlib.sha256(token.encode()).hexdigest()  # the token itself is never kept
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        self.reviews += 1
        answer = await self.client.request("POST", TOKEN_REVIEW_PATH, json={
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        status = answer.get("status") or {}
        who: Caller | None = None
        user = status.get("user") or {}
        if status.get("authenticated") and user.get("username"):
            groups = [str(g) for g in user.get("groups") or []]
            if AUTHENTICATED not in groups:
                groups.append(AUTHENTICATED)
            who = Caller(user=str(user["username"]), groups=tuple(groups))
        if len(self._cache) >= self.max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
        self._cache[key] = (who, now + self.ttl_s)
        return who


async def _answer(scope: Scope, send: Send, code: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "websocket":
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": code, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AuthFilter:
    def __init__(self, app: ASGIApp, authorizer: Authorizer, node: str, *, tokens: TokenWebhook | None = None,
                 open_healthz: bool = True) -> None:
        self.app, self.authorizer, self.node, self.open_healthz = app, authorizer, node, open_healthz
        self.tokens = tokens

    async def _token_caller(self, scope: Scope) -> Caller | None:
        token = bearer_token(scope) if self.tokens is not None else None
        if token is None or self.tokens is None:
            return None
        try:
            return await self.tokens.authenticate(token)
        except Exception as exc:  # noqa: BLE001 - the API server away: not authenticated (401), say why
            log.warning("token review failed: %s", exc)
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path") or "/")
        who = caller(scope) or await self._token_caller(scope)
        if who is None:
            client = scope.get("client") or ("", 0)
            if self.open_healthz and path == "/healthz" and client[0] in _LOOPBACK:
                await self.app(scope, receive, send)
                return
            await _answer(scope, send, 401, "Unauthorized")
            return
        method = "GET" if scope["type"] == "websocket" else str(scope.get("method") or "GET")
        attrs = attributes(method, path, self.node)
        try:
            ok = await self.authorizer.allowed(who, attrs)
        except Exception as exc:  # noqa: BLE001 - the API server away or refusing: deny, say why
            log.warning("authorizing %s %s for %s failed: %s", method, path, who.user, exc)
            await _answer(scope, send, 500, f"Authorization error (user={who.user}, verb={attrs.verb}, "
                                             f"resource={attrs.resource}, subresource(s)=[{attrs.subresource}])")
            return
        if not ok:
            await _answer(scope, send, 403, forbidden_message(who, attrs))
            return
        await self.app(scope, receive, send)
