"""Audit log and request limits on a real API server: a tiny per-user rate limit answers 429
with Retry-After (and the client library retries through it), a second watch over the
per-user cap is 429, and the audit log holds one JSON line per request with user, verb,
resource, namespace, name, code and latency, rotated by size."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdProcess

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/readyz", "/healthz*"]
- level: RequestResponse
  resources: [{group: "", resources: ["configmaps"]}]
- level: Metadata
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServerProcess, Path]]:
    d = tmp_path_factory.mktemp("audit")
    (d / "policy.yaml").write_text(POLICY)
    with EtcdProcess(name="kubelite-limits") as etcd:
        server = ApiServerProcess(etcd.url, extra_args=(
            "--audit-policy-file", str(d / "policy.yaml"), "--audit-log-path", str(d / "audit.log"),
            "--audit-log-maxsize", "0.02", "--audit-log-maxbackup", "3",
            "--user-qps", "5", "--user-burst", "5", "--max-watches-per-user", "1",
            # the limits are under test, not RBAC: a non-master user that may read configmaps
            "--authorization-mode", "AlwaysAllow"))
        try:
            server.start()
            yield server, d / "audit.log"
        finally:
            server.cleanup()


def audit_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted(path.parent.glob(path.name + "*")):
        out += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return out


def test_rate_limit_429_with_retry_after(limited: tuple[ApiServerProcess, Path]) -> None:
    # As system:kube-scheduler: system:masters (the admin certificate) is exempt from the limits.
    server, _ = limited
    codes = []
    with server.http_sync(timeout=10.0, user="scheduler") as http:
        deadline = time.monotonic() + 20
        while 429 not in codes and time.monotonic() < deadline:
            codes.append((r := http.get("/api/v1/namespaces/default/configmaps")).status_code)
        assert codes[-1] == 429, codes
        assert int(r.headers["Retry-After"]) >= 1
        status = r.json()
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "TooManyRequests", 429)
        assert status["details"]["retryAfterSeconds"] >= 1
        time.sleep(int(r.headers["Retry-After"]))
        assert http.get("/api/v1/namespaces/default/configmaps").status_code == 200


def test_watch_cap_per_user(limited: tuple[ApiServerProcess, Path]) -> None:
    server, _ = limited
    time.sleep(1.5)  # refill the bucket the previous test emptied
    with server.http_sync(timeout=10.0, user="scheduler") as http, \
            http.stream("GET", "/api/v1/namespaces/default/configmaps", params={"watch": "1"}) as first:
        assert first.status_code == 200
        second = http.get("/api/v1/namespaces/default/pods", params={"watch": "1", "timeoutSeconds": "1"})
        assert second.status_code == 429, second.text
        assert "too many watches" in second.json()["message"]
    time.sleep(1.5)
    with server.http_sync(timeout=10.0, user="scheduler") as http:
        deadline = time.monotonic() + 10
        while (r := http.get("/api/v1/namespaces/default/pods", params={"watch": "1", "timeoutSeconds": "1"})
               ).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.3)  # the closed watch's slot is released when the server notices
        assert r.status_code == 200


def test_audit_lines_and_rotation(limited: tuple[ApiServerProcess, Path]) -> None:
    server, path = limited
    time.sleep(1.5)
    with server.http_sync(timeout=10.0, user="scheduler") as http:
        body = {"metadata": {"name": "audited"}, "data": {"k": "v"}}
        for _ in range(50):
            r = http.post("/api/v1/namespaces/default/configmaps", json=body)
            if r.status_code != 429:
                break
            time.sleep(0.3)
        assert r.status_code == 201, r.text
        for _ in range(40):  # enough lines to rotate a 20 KB file
            http.get("/api/v1/namespaces/default/configmaps/audited")
            time.sleep(0.2)
    deadline = time.monotonic() + 10
    while not (lines := [x for x in audit_lines(path) if x.get("verb") == "create"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    create = lines[-1]
    assert create["stage"] == "ResponseComplete" and create["level"] == "RequestResponse"
    assert create["objectRef"] == {"resource": "configmaps", "namespace": "default", "apiVersion": "v1"}
    assert create["responseStatus"]["code"] == 201
    assert create["requestObject"]["data"] == {"k": "v"}
    assert create["responseObject"]["metadata"]["name"] == "audited"
    assert float(create["annotations"]["kubelite.io/latency-seconds"]) > 0
    everything = audit_lines(path)
    assert any(x["responseStatus"]["code"] == 429 and x["responseStatus"].get("reason") == "TooManyRequests"
               for x in everything)
    gets = [x for x in everything if x["verb"] == "get" and x.get("objectRef", {}).get("name") == "audited"]
    assert gets and all(x["user"]["username"] for x in gets)
    assert not any(x["requestURI"].startswith("/readyz") for x in everything)  # level None
    assert Path(str(path) + ".1").exists(), "the audit log was not rotated"
