"""kubelite's pod verbs on a real kubelet, compared with the real kubectl doing the same: logs
across several pods (-l, --all-containers, --prefix, --tail, --timestamps, -f), cp and
port-forward. One cluster for the module; every wait polls for a condition with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Cluster, is_ready
from tests.support import admin_request

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
KUBELITE = str(BIN / "kubelite")
KUBECTL = str(BIN / "kubectl")
IMAGE = "kubelite/busybox:latest"


def _env(c: Cluster) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(c.kubeconfig), "KUBELITE_DEBUG": "", "HOME": str(c.tmp)}


def tool(c: Cluster, name: str, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    argv = [KUBELITE if name == "kubelite" else KUBECTL, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=_env(c))


def both(c: Cluster, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    return tool(c, "kubectl", *args), tool(c, "kubelite", *args)


def _talker(name: str, lines: int) -> dict[str, object]:
    script = f"for i in $(seq 1 {lines}); do echo {name}-$i; done; exec sleep 3600"
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", script]}


@pytest.fixture(scope="module")
def pods(cluster: Cluster) -> Cluster:
    """Two pods labelled app=talk (one with two containers and an init container), Ready."""
    specs = [cluster.pod("talk-a", [_talker("main", 12)]),
             cluster.pod("talk-b", [_talker("main", 3), _talker("side", 2)],
                         initContainers=[{"name": "init", "image": IMAGE, "command": ["sh", "-c", "echo init-1"]}])]
    for pod in specs:
        pod["metadata"]["labels"] = {"app": "talk"}
        r = admin_request("POST", f"{cluster.server}/api/v1/namespaces/default/pods", json=pod)
        assert r.status_code == 201, r.text
    deadline = time.monotonic() + 90
    while True:
        r = admin_request("GET", f"{cluster.server}/api/v1/namespaces/default/pods?labelSelector=app%3Dtalk")
        items = r.json()["items"]
        if len(items) == 2 and all(is_ready(p) for p in items):
            break
        assert time.monotonic() < deadline, cluster.logs()
        time.sleep(0.3)
    # the last lines are written before `sleep` starts: wait until the logs hold them
    deadline = time.monotonic() + 30
    while ("main-12" not in tool(cluster, "kubelite", "logs", "talk-a").stdout
           or "side-2" not in tool(cluster, "kubelite", "logs", "talk-b", "side").stdout):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return cluster


LOG_STEPS = [
    ("logs", "talk-b"),                                   # Defaulted container ... on stderr
    ("logs", "talk-b", "--all-containers", "--prefix"),
    ("logs", "-l", "app=talk"),                           # 10 lines per stream
    ("logs", "-l", "app=talk", "--tail", "2", "--prefix", "--all-containers"),
    ("logs", "-l", "app=nobody"),
    ("logs", "talk-a", "--tail", "3", "--since", "1h"),
    ("logs", "talk-b", "-c", "nope"),
]


def test_logs_across_pods_like_kubectl(pods: Cluster) -> None:
    for step in LOG_STEPS:
        want, got = both(pods, *step)
        # kubectl reads several streams from a Go map (random order): compare the lines as sets
        assert (got.returncode, sorted(got.stdout.splitlines()), sorted(got.stderr.splitlines())) == (
            want.returncode, sorted(want.stdout.splitlines()), sorted(want.stderr.splitlines())), step
        if "-l" not in step and "--all-containers" not in step:
            assert got.stdout == want.stdout, step
    want, got = both(pods, "logs", "talk-a", "--timestamps", "--tail", "1")
    assert got.stdout.split(" ", 1)[1] == want.stdout.split(" ", 1)[1] == "main-12\n"
    assert got.stdout.split(" ", 1)[0] == want.stdout.split(" ", 1)[0]  # the same recorded time


def _follow(c: Cluster, name: str, *args: str) -> subprocess.Popen[str]:
    argv = [KUBELITE if name == "kubelite" else KUBECTL, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(c),
                            start_new_session=True)


def test_logs_follow_several_pods_like_kubectl(pods: Cluster) -> None:
    argv = ("logs", "-f", "-l", "app=talk", "--all-containers", "--prefix", "--tail", "1")
    procs = {name: _follow(pods, name, *argv) for name in ("kubectl", "kubelite")}
    want_lines = {"[pod/talk-a/main] main-12", "[pod/talk-b/init] init-1", "[pod/talk-b/main] main-3",
                  "[pod/talk-b/side] side-2"}
    seen: dict[str, set[str]] = {name: set() for name in procs}
    try:
        for name, proc in procs.items():
            assert proc.stdout is not None
            deadline = time.monotonic() + 30
            while not want_lines <= seen[name]:
                line = proc.stdout.readline()
                assert line and time.monotonic() < deadline, (name, seen[name])
                seen[name].add(line.rstrip("\n"))
            assert proc.poll() is None  # still following
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=10)
    assert seen["kubelite"] == seen["kubectl"] == want_lines
    too_many = both(pods, "logs", "-f", "-l", "app=talk", "--all-containers", "--max-log-requests", "2")
    assert (too_many[1].returncode, too_many[1].stderr) == (too_many[0].returncode, too_many[0].stderr)
