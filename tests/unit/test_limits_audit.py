"""Request limits (token bucket, watch cap, max-in-flight, masters exempt) and the audit policy
and log (levels, stages, rotation), without a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apiserver.audit import AuditLog, AuditPolicy
from apiserver.auth.authz import request_attributes
from apiserver.auth.user import SCOPE_KEY, UserInfo
from apiserver.limits import Limits, LimitsConfig, is_long_running
from machinery import errors


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def scope(path: str = "/api/v1/pods", method: str = "GET", query: str = "", user: UserInfo | None = None,
          ) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
                           "client": ("127.0.0.1", 5555), "headers": [(b"user-agent", b"test")]}
    if user is not None:
        out[SCOPE_KEY] = user
    return out


ALICE = UserInfo("alice", groups=("system:authenticated",))
ROOT = UserInfo("root", groups=("system:masters",))


def test_rate_limit_per_user_with_retry_after() -> None:
    clock = Clock()
    limits = Limits(LimitsConfig(user_qps=0.5, user_burst=2), clock=clock)
    for _ in range(2):
        err, release = limits.enter(scope(user=ALICE))
        assert err is None
        release()
    err, _ = limits.enter(scope(user=ALICE))
    assert isinstance(err, errors.TooManyRequests)
    assert err.retry_after_s == 2  # one token every 2 s
    assert limits.enter(scope(user=UserInfo("bob")))[0] is None  # buckets are per user
    assert limits.enter(scope(user=ROOT))[0] is None  # system:masters exempt
    clock.now_s += 2.0
    assert limits.enter(scope(user=ALICE))[0] is None


def test_watch_cap_and_inflight() -> None:
    limits = Limits(LimitsConfig(max_watches_per_user=1, max_inflight=1, max_mutating_inflight=1))
    watch = scope(query="watch=1", user=ALICE)
    assert is_long_running(watch)
    err, release_watch = limits.enter(watch)
    assert err is None
    err, _ = limits.enter(watch)
    assert isinstance(err, errors.TooManyRequests)
    assert "too many watches" in err.message
    release_watch()
    assert limits.enter(watch)[0] is None
    err, release_get = limits.enter(scope(user=ALICE))
    assert err is None
    err, _ = limits.enter(scope(user=UserInfo("bob")))
    assert isinstance(err, errors.TooManyRequests)
    assert err.message == "Too many requests, please try again later."
    err, release_post = limits.enter(scope(method="POST", user=UserInfo("bob")))  # counted apart
    assert err is None
    release_get()
    release_post()
    assert limits.enter(scope(user=UserInfo("bob")))[0] is None


POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]},
        {"level": "RequestResponse", "users": ["alice"], "verbs": ["create"]},
        {"level": "Request", "namespaces": ["team"]},
        {"level": "Metadata"},
    ]}


def test_policy_levels_first_match() -> None:
    policy = AuditPolicy.parse(POLICY)

    def level(method: str, path: str, user: UserInfo = ALICE) -> str:
        return policy.level_of(request_attributes(user, method, path))[0]

    assert level("GET", "/healthz") == "None"
    assert level("GET", "/readyz") == "None"
    assert level("POST", "/api/v1/namespaces/team/secrets") == "Metadata"
    assert level("POST", "/api/v1/namespaces/x/pods") == "RequestResponse"
    assert level("POST", "/api/v1/namespaces/team/pods", UserInfo("bob")) == "Request"
    assert level("GET", "/api/v1/pods", UserInfo("bob")) == "Metadata"
    with pytest.raises(ValueError, match="level"):
        AuditPolicy.parse({"kind": "Policy", "rules": [{"level": "Everything"}]})
    with pytest.raises(ValueError, match="kind Policy"):
        AuditPolicy.parse(["not", "a", "policy"])


def test_audit_log_lines_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(str(path), AuditPolicy.parse(POLICY), max_bytes=2000, backups=2)
    try:
        for i in range(12):
            record = log.begin(scope(f"/api/v1/namespaces/ns/pods/p{i}", "DELETE", user=UserInfo("bob", groups=("g",))))
            assert record is not None
            record.code = 200 if i % 2 else 404
            record.finish()
        assert log.begin(scope("/healthz", user=ALICE)) is None
    finally:
        log.close()
    assert (tmp_path / "audit.log.1").exists()
    assert (tmp_path / "audit.log.2").exists()
    assert not (tmp_path / "audit.log.3").exists()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    last = lines[-1]
    assert last["kind"] == "Event" and last["apiVersion"] == "audit.k8s.io/v1"
    assert last["stage"] == "ResponseComplete" and last["level"] == "Metadata" and last["verb"] == "delete"
    assert last["user"] == {"username": "bob", "groups": ["g"]}
    assert last["objectRef"] == {"resource": "pods", "namespace": "ns", "name": "p11", "apiVersion": "v1"}
    assert last["responseStatus"]["code"] == 200
    assert float(last["annotations"]["kubelite.io/latency-seconds"]) >= 0
    assert all(line["stage"] != "RequestReceived" for line in lines)  # omitted by the policy
