"""`kubelite logs` / `exec` through the API server's kubelet proxy, on a real kubelet (e2e)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Cluster
from tests.support import admin_request

pytestmark = pytest.mark.e2e
KUBELITE = str(Path(sys.executable).parent / "kubelite")


def kl(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBELITE, "--kubeconfig", str(c.kubeconfig), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "KUBELITE_DEBUG": ""})


def test_cli_logs_and_exec_through_the_kubelet_proxy(cluster: Cluster) -> None:
    pod = cluster.pod("talker", [{"name": "c", "image": "kubelite/busybox:latest",
                                  "command": ["sh", "-c", "echo hello-1; echo hello-2; exec sleep 3600"]}])
    r = admin_request("POST", f"{cluster.server}/api/v1/namespaces/default/pods", json=pod)
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 60
    while True:
        out = kl(cluster, "logs", "talker")
        if out.returncode == 0 and "hello-2" in out.stdout:
            break
        assert time.monotonic() < deadline, out.stderr
        time.sleep(0.5)
    assert out.stdout.splitlines()[:2] == ["hello-1", "hello-2"]
    assert kl(cluster, "logs", "pod/talker", "--tail", "1").stdout == "hello-2\n"
    ex = kl(cluster, "exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (ex.returncode, ex.stdout) == (3, "out\n")
    assert "err" in ex.stderr and "command terminated with exit code 3" in ex.stderr
    bad = kl(cluster, "exec", "talker", "-c", "nope", "--", "true")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and bad.stderr.strip()
