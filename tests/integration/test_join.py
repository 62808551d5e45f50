"""`kubelite token create --print-join-command` and `kubelite join --dry-run` against the real
API server: the token is stored as a bootstrap-token Secret, and join's preflight accepts it
and refuses a wrong or unknown one (before anything is started)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import admin_request

pytestmark = pytest.mark.integration
KUBELITE = str(Path(sys.executable).parent / "kubelite")


def kubelite(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBELITE, *args], env={**os.environ, "KUBECONFIG": str(server.kubeconfig)},
                          capture_output=True, text=True, timeout=60, check=False)


def test_token_create_and_join_preflight(apiserver: Any, tmp_path: Path) -> None:
    out = kubelite(apiserver, "token", "create", "--print-join-command", "--ttl-s", "600")
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    assert words[:2] == ["kubelite", "join"] and words[words.index("--server") + 1] == apiserver.url
    token = words[words.index("--token") + 1]
    token_id, token_secret = token.split(".")
    secret = admin_request("GET", f"{apiserver.url}/api/v1/namespaces/kube-system/secrets/bootstrap-token-{token_id}").json()
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert base64.b64decode(secret["data"]["token-secret"]).decode() == token_secret

    # Port 10250 may belong to a kubelet of another test on this machine: ignored here, by name.
    base = ["join", "--server", apiserver.url, "--node-name", "joiner", "--home", str(tmp_path), "--dry-run",
            "--ignore-preflight-errors", "Port-10250"]
    ok = kubelite(apiserver, *base, "--token", token)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "[preflight] Token: ok" in ok.stdout and "[preflight] ClockSkew: ok" in ok.stdout
    assert "nothing started" in ok.stdout and not (tmp_path / "run").exists()

    wrong = kubelite(apiserver, *base, "--token", f"{token_id}.{'0' * 16}")
    assert wrong.returncode == 1 and "does not match" in wrong.stderr, wrong.stderr
    unknown = kubelite(apiserver, *base, "--token", "zzzzzz.0123456789abcdef")
    assert unknown.returncode == 1 and "unknown to the cluster" in unknown.stderr
    malformed = kubelite(apiserver, *base, "--token", "nope")
    assert malformed.returncode == 1 and "invalid token" in malformed.stderr and "Traceback" not in malformed.stderr


def test_join_refuses_an_unreachable_api_server(tmp_path: Path) -> None:
    out = subprocess.run([KUBELITE, "join", "--server", "http://127.0.0.1:9", "--token", "abcdef.0123456789abcdef",
                          "--home", str(tmp_path), "--dry-run", "--ignore-preflight-errors", "all"],
                         capture_output=True, text=True, timeout=60, check=False)
    # "all" turns every failed check into a warning, as kubeadm's flag does: nothing passes silently.
    assert "[WARNING API server]" in out.stdout, out.stdout + out.stderr
