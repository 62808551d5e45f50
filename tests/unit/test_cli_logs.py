"""`logs` and `exec` verbs over machinery.podlogs, against the fake clientset
(tests/unit/fake_client.py) with answers for the pods' log and exec subresources."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from cli import logs as logs_mod
from cli import logs_multi
from cli.main import app
from tests.unit.fake_client import FakeClient


def _pod(name: str, *containers: str, namespace: str = "default", init: tuple[str, ...] = (),
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"containers": [{"name": c, "image": "img"} for c in containers],
                     "initContainers": [{"name": c, "image": "img"} for c in init]}}


def _log(pod: dict[str, Any], params: dict[str, Any], body: Any) -> str:
    container = params.get("container")
    return "one\ntwo\n" if container in (None, "c1") else f"{container}-1\n{container}-2"


def _follow(pod: dict[str, Any], params: dict[str, Any]) -> list[str]:
    name = pod["metadata"]["name"]
    return [line if name == "web" else f"{name}-{line}" for line in ("a", "b")]


def raw_calls(fake: FakeClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, params) of the raw requests; a streamed GET's method is STREAM."""
    return [(c.kind if c.verb == "request" else "STREAM", c.name, c.params) for c in fake.calls
            if c.verb in ("request", "stream")]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    for pod in (_pod("web", "c1", namespace="ns1"), _pod("web", "c1"),
                _pod("two", "app", "side", init=("setup",), labels={"a": "b"}), _pod("one", "app", labels={"a": "b"})):
        client.store(pod)
    client.answer("GET", "log", _log)
    client.answer("POST", "exec", lambda pod, params, body: {"stdout": "out\n", "stderr": "err\n", "exitCode": 3})
    client.stream("log", _follow)
    monkeypatch.setattr(logs_mod, "open_client", lambda g: (client, g.namespace or "default"))
    monkeypatch.setattr(logs_multi, "open_client", lambda g: (client, g.namespace or "default"))
    return client


def test_logs_prints_lines_with_the_query_kubectl_sends(fake: FakeClient) -> None:
    r = CliRunner().invoke(app, ["logs", "pod/web", "-n", "ns1", "-c", "c1", "--tail", "5", "--since", "2m",
                                 "--timestamps", "-p"])
    assert (r.exit_code, r.stdout) == (0, "one\ntwo\n"), r.stderr
    assert raw_calls(fake)[0][:2] == ("GET", "/api/v1/namespaces/ns1/pods/web")  # the pod first, as kubectl
    method, path, params = raw_calls(fake)[1]
    assert (method, path) == ("GET", "/api/v1/namespaces/ns1/pods/web/log")
    assert params is not None and params["container"] == "c1" and params["tailLines"] == 5
    assert params["sinceSeconds"] == 120 and params["timestamps"] == "true" and params["previous"] == "true"
    r = CliRunner().invoke(app, ["logs", "web", "-f"])
    assert (r.exit_code, r.stdout) == (0, "a\nb\n")
    assert raw_calls(fake)[-1][0] == "STREAM" and (raw_calls(fake)[-1][2] or {}).get("follow") == "true"


def test_exec_passes_output_and_exit_code(fake: FakeClient) -> None:
    r = CliRunner().invoke(app, ["exec", "web", "-c", "c1", "--", "sh", "-c", "exit 3"])
    assert r.exit_code == 3
    assert r.stdout == "out\n"
    assert r.stderr == "err\ncommand terminated with exit code 3\n"
    method, path, params = raw_calls(fake)[-1]
    assert (method, path) == ("POST", "/api/v1/namespaces/default/pods/web/exec")
    assert params is not None and params["command"] == ["sh", "-c", "exit 3"] and params["container"] == "c1"
    r = CliRunner().invoke(app, ["exec", "web"])
    assert r.exit_code == 1 and "at least one command" in r.stderr


def test_selector_reads_every_pod_with_ten_lines_each_and_prefixes(fake: FakeClient) -> None:
    r = CliRunner().invoke(app, ["logs", "-l", "a=b", "--prefix"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "[pod/one/app] app-1\n[pod/one/app] app-2[pod/two/app] app-1\n[pod/two/app] app-2"
    assert r.stderr == 'Defaulted container "app" out of: app, side, setup (init)\n'
    logs = [c for c in raw_calls(fake) if c[1].endswith("/log")]
    assert all((p or {}).get("tailLines") == 10 for _, _, p in logs)
    r = CliRunner().invoke(app, ["logs", "-l", "a=b", "--all-containers", "--tail", "-1"])
    read = [(c[1].split("/")[-2], (c[2] or {}).get("container"), (c[2] or {}).get("tailLines"))
            for c in raw_calls(fake)[len(logs) + 1:] if c[1].endswith("/log")]
    assert read == [("one", "app", None), ("two", "setup", None), ("two", "app", None), ("two", "side", None)]


def test_follow_several_streams_at_once_within_max_log_requests(fake: FakeClient) -> None:
    r = CliRunner().invoke(app, ["logs", "-l", "a=b", "-f", "--all-containers", "--prefix"])
    assert r.exit_code == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(f"[pod/{p}/{c}] {p}-{x}" for p, c in
                                                   (("one", "app"), ("two", "setup"), ("two", "app"), ("two", "side"))
                                                   for x in "ab")
    too_many = CliRunner().invoke(app, ["logs", "-l", "a=b", "-f", "--all-containers", "--max-log-requests", "3"])
    assert too_many.exit_code == 1
    assert too_many.stderr == ("error: you are attempting to follow 4 log streams, but maximum allowed concurrency "
                               "is 3, use --max-log-requests to increase the limit\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["logs"], "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'."),
    (["logs", "web", "-l", "a=b"], "error: only a selector (-l) or a POD name is allowed"),
    (["logs", "web", "-c", "x", "--all-containers"],
     "error: --all-containers=true should not be specified with container name x"),
    (["logs", "web", "--since", "1m", "--since-time", "2026-01-01T00:00:00Z"],
     "error: at most one of `sinceTime` or `sinceSeconds` may be specified"),
    (["logs", "web", "--tail", "-2"], "error: --tail must be greater than or equal to -1"),
    (["logs", "nope"], 'error: error from server (NotFound): pods "nope" not found in namespace "default"'),
    (["logs", "web", "-c", "zz"], "error: container zz is not valid for pod web out of: c1"),
])
def test_usage_errors_read_like_kubectl(fake: FakeClient, argv: list[str], message: str) -> None:
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == message
