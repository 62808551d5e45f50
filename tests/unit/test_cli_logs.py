"""`logs` and `exec` verbs over machinery.podlogs, against a recording fake client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import logs as logs_mod
from cli.main import app


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.calls.append((method, path, params))
        if path.endswith("/log"):
            return "one\ntwo\n"
        return {"stdout": "out\n", "stderr": "err\n", "exitCode": 3}

    async def stream_lines(self, path: str, *, params: dict[str, Any] | None = None) -> AsyncIterator[str]:
        self.calls.append(("STREAM", path, params))
        for line in ("a", "b"):
            yield line


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(logs_mod, "open_client", lambda g: (client, g.namespace or "default"))
    return client


def test_logs_prints_lines_with_the_query_kubectl_sends(fake: FakeClient) -> None:
    r = CliRunner().invoke(app, ["logs", "pod/web", "-n", "ns1", "-c", "c1", "--tail", "5", "--since", "2m",
                                 "--timestamps", "-p"])
    assert (r.exit_code, r.stdout) == (0, "one\ntwo\n"), r.stderr
    method, path, params = fake.calls[0]
    assert (method, path) == ("GET", "/api/v1/namespaces/ns1/pods/web/log")
    assert params is not None and params["container"] == "c1" and params["tailLines"] == 5
    assert params["sinceSeconds"] == 120 and params["timestamps"] == "true" and params["previous"] == "true"
    r = CliRunner().invoke(app, ["logs", "web", "-f"])
    assert (r.exit_code, r.stdout) == (0, "a\nb\n")
    assert fake.calls[-1][0] == "STREAM" and (fake.calls[-1][2] or {}).get("follow") == "true"


def test_exec_passes_output_and_exit_code(fake: FakeClient) -> None:
    r = CliRunner().invoke(app, ["exec", "web", "-c", "c1", "--", "sh", "-c", "exit 3"])
    assert r.exit_code == 3
    assert r.stdout == "out\n"
    assert r.stderr == "err\ncommand terminated with exit code 3\n"
    method, path, params = fake.calls[0]
    assert (method, path) == ("POST", "/api/v1/namespaces/default/pods/web/exec")
    assert params is not None and params["command"] == ["sh", "-c", "exit 3"] and params["container"] == "c1"
    r = CliRunner().invoke(app, ["exec", "web"])
    assert r.exit_code == 1 and "at least one command" in r.stderr
