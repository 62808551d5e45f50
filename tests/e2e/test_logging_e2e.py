"""Cluster-level logging end to end on real Docker: a pod's lines, and the last words it prints
when it is deleted, are found by `kubelite logs --grep` after the pod and its log directory are
gone (log agent tailing the kubelet's files, log store published as kube-system/logstore,
reached through the API server's service proxy)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cleanup import Cleanup
from tests.e2e.conftest import Cluster, Proc
from tests.support import admin_request, free_port

pytestmark = pytest.mark.e2e
KUBELITE = str(Path(sys.executable).parent / "kubelite")


@dataclass
class LoggingStack:
    cluster: Cluster
    store: Proc
    agent: Proc
    store_url: str

    def kl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBELITE, "--kubeconfig", str(self.cluster.kubeconfig), *args], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "KUBELITE_DEBUG": ""})

    def logs(self) -> str:
        return f"--- agent\n{self.agent.tail()}\n--- store\n{self.store.tail()}\n{self.cluster.logs()}"


def start_logging(c: Cluster) -> tuple[LoggingStack, Cleanup]:
    """The log store on the pod bridge's gateway (published as kube-system/logstore) and one agent."""
    gateway = str(next(ipaddress.ip_network(c.pod_cidr).hosts()))
    port = free_port()
    py = sys.executable
    store = Proc([py, "-m", "addons.logstore", "--kubeconfig", str(c.kubeconfig_for("logstore")), "--listen", f"{gateway}:{port}",
                  "--publish-ip", gateway, "--db", str(c.tmp / "logstore" / "logs.db")], c.tmp / "logstore.log")
    agent = Proc([py, "-m", "addons.logagent", "--kubeconfig", str(c.kubeconfig_for("logagent")), "--node-name", c.node,
                  "--log-dir", str(c.log_dir), "--state-file", str(c.tmp / "logagent" / "offsets.json"),
                  "--poll-s", "0.2"], c.tmp / "logagent.log")
    steps = Cleanup()
    steps.add("stopping the log agent", agent.stop)
    steps.add("stopping the log store", store.stop)
    store.start()
    agent.start()
    return LoggingStack(c, store, agent, f"http://{gateway}:{port}"), steps


@pytest.fixture(scope="module")
def logging_stack(cluster: Cluster) -> Iterator[LoggingStack]:
    stack, steps = start_logging(cluster)
    failing = False
    try:
        yield stack
    except BaseException:
        failing = True
        raise
    finally:
        steps.run(failing=failing)


def _wait_grep(stack: LoggingStack, needle: str, *args: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        out = stack.kl("logs", "--grep", needle, *args)
        if out.returncode == 0 and needle in out.stdout:
            return out.stdout
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not found: {out.stdout!r} {out.stderr!r}\n{stack.logs()}")
        time.sleep(0.5)


def test_lines_of_a_deleted_pod_are_found_by_grep(logging_stack: LoggingStack) -> None:
    c = logging_stack.cluster
    token = uuid.uuid4().hex[:12]
    script = (f"trap 'echo last-words-{token}; exit 0' TERM; echo hello-{token}; echo other line; "
              "while true; do sleep 0.2; done")
    pod = c.pod("chatty", [{"name": "app", "image": "kubelite/busybox:latest", "command": ["sh", "-c", script]}],
                terminationGracePeriodSeconds=10)
    pod["metadata"]["labels"] = {"app": "web"}
    r = admin_request("POST", f"{c.server}/api/v1/namespaces/default/pods", json=pod, timeout=10)
    assert r.status_code == 201, r.text
    out = _wait_grep(logging_stack, f"hello-{token}", "--all-namespaces", "--since", "1h", "-l", "app=web")
    assert out == f"[default/chatty/app] hello-{token}\n"
    assert logging_stack.kl("logs", "--grep", f"hello-{token}", "-l", "app=db").stdout == ""

    assert admin_request("DELETE", f"{c.server}/api/v1/namespaces/default/pods/chatty", timeout=10).status_code == 200
    deadline = time.monotonic() + 60
    while admin_request("GET", f"{c.server}/api/v1/namespaces/default/pods/chatty", timeout=10).status_code != 404:
        assert time.monotonic() < deadline, c.logs()
        time.sleep(0.3)
    assert not any(c.log_dir.glob("default_chatty_*")), "the kubelet keeps the deleted pod's log directory"
    out = _wait_grep(logging_stack, token, "-A", "--since", "1h", "-l", "app=web", "--timestamps")
    lines = out.splitlines()
    assert [ln.split(" ", 1)[1] for ln in lines] == [f"[default/chatty/app] hello-{token}",
                                                     f"[default/chatty/app] last-words-{token}"], out
    assert lines[0] < lines[1]  # RFC3339Nano timestamps sort as text

