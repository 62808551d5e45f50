"""The kubelet API's authentication and authorization decisions (kubelet/auth.py): which
attributes a path asks for, the SubjectAccessReview and its cache, and the ASGI filter's
401/403/500 answers for HTTP and WebSocket scopes."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from kubelet.auth import (
    AuthFilter,
    Caller,
    KubeletAttributes,
    TokenWebhook,
    WebhookAuthorizer,
    attributes,
    caller,
    forbidden_message,
)
from machinery.tlspeer import PEER_KEY

Msg = MutableMapping[str, Any]


@pytest.mark.parametrize(("method", "path", "verb", "sub"), [
    ("GET", "/stats/summary", "get", "stats"),
    ("GET", "/stats", "get", "stats"),
    ("GET", "/metrics", "get", "metrics"),
    ("GET", "/metrics/cadvisor", "get", "metrics"),
    ("GET", "/logs/syslog", "get", "log"),
    ("POST", "/checkpoint/ns/p/c", "create", "checkpoint"),
    ("GET", "/containerLogs/default/p/c", "get", "proxy"),
    ("POST", "/exec/default/p/c", "create", "proxy"),
    ("GET", "/healthz", "get", "proxy"),
    ("HEAD", "/statsx", "get", "proxy"),  # a prefix of the name only is not the stats path
    ("PUT", "/run/ns/p/c", "update", "proxy"),
    ("PATCH", "/pods", "patch", "proxy"),
    ("DELETE", "/pods", "delete", "proxy"),
])
def test_attributes_as_kubernetes_maps_paths(method: str, path: str, verb: str, sub: str) -> None:
    assert attributes(method, path, "n1") == KubeletAttributes(verb=verb, node="n1", subresource=sub)


def test_caller_from_the_verified_certificate() -> None:
    assert caller({"state": {PEER_KEY: ("kube-apiserver-kubelet-client", ("system:masters",))}}) == Caller(
        "kube-apiserver-kubelet-client", ("system:masters", "system:authenticated"))
    assert caller({"state": {}}) is None
    assert caller({}) is None
    assert caller({"state": {PEER_KEY: ("", ())}}) is None  # no CN: no user


class FakeReviews:
    def __init__(self, allow: set[str]) -> None:
        self.allow = allow
        self.bodies: list[dict[str, Any]] = []
        self.fail = False

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        assert (method, path) == ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews")
        if self.fail:
            raise OSError("connection refused")
        body = kwargs["json"]
        self.bodies.append(body)
        attrs = body["spec"]["resourceAttributes"]
        return {"status": {"allowed": f'{body["spec"]["user"]}/{attrs["subresource"]}' in self.allow}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_webhook_asks_once_and_caches_allowed_longer_than_denied() -> None:
    reviews, clock = FakeReviews({"alice/stats"}), Clock()
    authz = WebhookAuthorizer(reviews, allowed_ttl_s=300, denied_ttl_s=30, clock=clock)
    alice = Caller("alice", ("dev", "system:authenticated"))
    stats, proxy = attributes("GET", "/stats/summary", "n1"), attributes("GET", "/containerLogs/a/b/c", "n1")
    assert await authz.allowed(alice, stats) is True
    assert await authz.allowed(alice, proxy) is False
    assert reviews.bodies[0]["spec"] == {
        "user": "alice", "groups": ["dev", "system:authenticated"],
        "resourceAttributes": {"verb": "get", "group": "", "version": "v1", "resource": "nodes",
                               "subresource": "stats", "name": "n1"}}
    assert await authz.allowed(alice, stats) and not await authz.allowed(alice, proxy)
    assert len(reviews.bodies) == 2  # both answers came from the cache
    clock.now += 31  # the denial expired, the grant did not
    reviews.allow.add("alice/proxy")
    assert await authz.allowed(alice, proxy) is True
    assert await authz.allowed(alice, stats) is True
    assert len(reviews.bodies) == 3
    clock.now += 300
    assert await authz.allowed(alice, stats) is True
    assert len(reviews.bodies) == 4


async def test_a_failed_review_is_not_cached() -> None:
    reviews = FakeReviews({"bob/proxy"})
    authz = WebhookAuthorizer(reviews, clock=Clock())
    bob, attrs = Caller("bob", ()), attributes("GET", "/exec/a/b/c", "n1")
    reviews.fail = True
    with pytest.raises(OSError):
        await authz.allowed(bob, attrs)
    reviews.fail = False
    assert await authz.allowed(bob, attrs) is True


class App:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Msg, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _call(flt: AuthFilter, scope: Msg) -> tuple[int, str]:
    sent: list[Msg] = []

    async def receive() -> Msg:
        return {"type": "http.request", "body": b""}

    async def send(msg: Msg) -> None:
        sent.append(msg)

    await flt(scope, receive, send)
    start = next(m for m in sent if m["type"].endswith("response.start"))
    body = b"".join(m.get("body", b"") for m in sent if m["type"].endswith("response.body"))
    return int(start["status"]), body.decode()


def _scope(path: str, peer: tuple[str, tuple[str, ...]] | None, *, client: str = "10.0.0.9",
           kind: str = "http", method: str = "GET") -> Msg:
    scope: Msg = {"type": kind, "path": path, "method": method, "client": (client, 5555),
                  "state": {PEER_KEY: peer} if peer else {}}
    if kind == "websocket":
        scope["extensions"] = {"websocket.http.response": {}}
    return scope


async def test_filter_answers_401_403_500_and_passes_the_authorized() -> None:
    app, reviews = App(), FakeReviews({"kube-apiserver-kubelet-client/proxy", "system:metrics-server/stats"})
    flt = AuthFilter(app, WebhookAuthorizer(reviews, clock=Clock()), "n1")
    assert await _call(flt, _scope("/containerLogs/a/b/c", None)) == (401, "Unauthorized")
    assert await _call(flt, _scope("/healthz", None)) == (401, "Unauthorized")  # not from loopback
    assert await _call(flt, _scope("/healthz", None, client="127.0.0.1")) == (200, "ok")
    assert await _call(flt, _scope("/stats/summary", None, client="127.0.0.1")) == (401, "Unauthorized")
    assert await _call(flt, _scope("/containerLogs/a/b/c", ("kube-apiserver-kubelet-client", ("system:masters",)))) == (
        200, "ok")
    metrics_server = ("system:metrics-server", ())
    assert await _call(flt, _scope("/stats/summary", metrics_server)) == (200, "ok")
    assert await _call(flt, _scope("/exec/a/b/c", metrics_server, method="POST")) == (
        403, "Forbidden (user=system:metrics-server, verb=create, resource=nodes, subresource(s)=[proxy])")
    # a refused WebSocket upgrade gets the same HTTP answer
    assert await _call(flt, _scope("/exec/a/b/c", None, kind="websocket")) == (401, "Unauthorized")
    assert (await _call(flt, _scope("/portforward/a/b", metrics_server, kind="websocket")))[0] == 403
    reviews.fail = True
    code, text = await _call(flt, _scope("/exec/a/b/c", ("someone", ()), method="POST"))
    assert code == 500 and text.startswith("Authorization error (user=someone")
    assert app.calls == 3  # healthz from loopback, the kubelet client, the metrics stats


def test_forbidden_wording() -> None:
    who = Caller("system:kube-proxy", ("system:authenticated",))
    assert forbidden_message(who, attributes("GET", "/metrics", "n")) == (
        "Forbidden (user=system:kube-proxy, verb=get, resource=nodes, subresource(s)=[metrics])")


class FakeTokenReviews:
    def __init__(self, users: dict[str, tuple[str, list[str]]]) -> None:
        self.users = users
        self.asked: list[str] = []
        self.fail = False

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        assert (method, path) == ("POST", "/apis/authentication.k8s.io/v1/tokenreviews")
        if self.fail:
            raise OSError("connection refused")
        token = kwargs["json"]["spec"]["token"]
        self.asked.append(token)
        if token not in self.users:
            return {"status": {"authenticated": False, "error": "invalid bearer token"}}
        name, groups = self.users[token]
        return {"status": {"authenticated": True, "user": {"username": name, "groups": groups}}}


async def test_token_webhook_reviews_and_caches_by_digest() -> None:
    reviews, clock = FakeTokenReviews({"good": ("system:serviceaccount:mon:prom", ["system:serviceaccounts"])}), Clock()
    tokens = TokenWebhook(reviews, ttl_s=120, clock=clock)
    who = await tokens.authenticate("good")
    assert who == Caller("system:serviceaccount:mon:prom", ("system:serviceaccounts", "system:authenticated"))
    assert await tokens.authenticate("bad") is None
    assert await tokens.authenticate("good") == who and await tokens.authenticate("bad") is None
    assert reviews.asked == ["good", "bad"]
    assert all("good" not in key and "bad" not in key for key in tokens._cache)  # digests, not tokens
    clock.now += 121
    assert await tokens.authenticate("good") == who
    assert reviews.asked == ["good", "bad", "good"]


async def test_filter_takes_a_certificate_first_then_a_bearer_token() -> None:
    app = App()
    reviews = FakeReviews({"system:serviceaccount:mon:prom/metrics", "kube-apiserver-kubelet-client/metrics"})
    tokens = FakeTokenReviews({"good": ("system:serviceaccount:mon:prom", [])})
    flt = AuthFilter(app, WebhookAuthorizer(reviews, clock=Clock()), "n1", tokens=TokenWebhook(tokens, clock=Clock()))

    def with_token(scope: Msg, token: str) -> Msg:
        scope["headers"] = [(b"authorization", f"Bearer {token}".encode())]
        return scope

    assert await _call(flt, with_token(_scope("/metrics", None), "good")) == (200, "ok")
    assert await _call(flt, with_token(_scope("/metrics", None), "bad")) == (401, "Unauthorized")
    assert await _call(flt, with_token(_scope("/stats/summary", None), "good")) == (
        403, "Forbidden (user=system:serviceaccount:mon:prom, verb=get, resource=nodes, subresource(s)=[stats])")
    # a verified certificate wins: no token review at all
    asked = len(tokens.asked)
    assert await _call(flt, with_token(_scope("/metrics", ("kube-apiserver-kubelet-client", ())), "bad")) == (200, "ok")
    assert len(tokens.asked) == asked
    tokens.fail = True  # the API server away: not authenticated
    assert await _call(flt, with_token(_scope("/metrics", None), "other")) == (401, "Unauthorized")
    no_webhook = AuthFilter(app, WebhookAuthorizer(reviews, clock=Clock()), "n1")
    assert await _call(no_webhook, with_token(_scope("/metrics", None), "good")) == (401, "Unauthorized")
