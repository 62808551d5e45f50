"""`rollout status|history|undo` and `set image` against a real rollout: a private etcd and
API server, the real controller-manager and scheduler, and two hollow nodes (no Docker).

Everything runs on its own etcd so the controllers never touch other tests' objects; every
process is stopped (process group SIGTERM, then SIGKILL) even when the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import EtcdProcess, admin_request

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KUBELITE = str(Path(sys.executable).parent / "kubelite")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture
def live(apiserver_factory: Callable[..., Any], tmp_path: Path) -> Iterator[Any]:
    with EtcdProcess() as etcd:
        server = apiserver_factory(etcd.url)
        kc = str(server.kubeconfig)
        argvs = {
            "controllers": ["-m", "controllers", "--kubeconfig", kc],
            "scheduler": ["-m", "scheduler", "--kubeconfig", kc],
            "hollow": ["-m", "kubelet", "--hollow", "--count", "2", "--prefix", f"ro{uuid.uuid4().hex[:5]}-",
                       "--run-delay-s", "0.2", "--kubeconfig", kc, "--delete-on-exit"],
        }
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for name, argv in argvs.items():
                with open(tmp_path / f"{name}.log", "wb") as log:
                    procs.append(subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True))
            yield server
        finally:
            for proc in reversed(procs):
                _stop(proc)


def kubelite(server: Any, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBELITE, "--kubeconfig", str(server.kubeconfig), "-n", "default", *args],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "KUBELITE_DEBUG": ""})


def test_real_rollout_status_history_and_undo(live: Any, tmp_path: Path) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "main", "image": "kubelite/busybox:1"}]}}}}
    r = admin_request("POST", f"{live.url}/apis/apps/v1/namespaces/default/deployments", json=body, timeout=10)
    assert r.status_code == 201, r.text

    def status_ok() -> list[str]:
        done = kubelite(live, "rollout", "status", "deployment/web", "--timeout", "60s")
        logs = "\n".join(p.read_text() for p in tmp_path.glob("*.log"))
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{logs[-3000:]}"
        lines = done.stdout.splitlines()
        assert lines[-1] == 'deployment "web" successfully rolled out'
        return lines

    status_ok()
    r2 = kubelite(live, "set", "image", "deployment/web", "main=kubelite/busybox:2")
    assert r2.returncode == 0, r2.stderr
    lines = status_ok()
    assert all(line.startswith(("Waiting for deployment", 'deployment "web"')) for line in lines)

    hist = kubelite(live, "rollout", "history", "deployment/web")
    assert [line.split()[0] for line in hist.stdout.splitlines()[2:]] == ["1", "2"], hist.stdout
    undo = kubelite(live, "rollout", "undo", "deployment/web")
    assert undo.stdout == "deployment.apps/web rolled back\n", undo.stderr
    status_ok()
    d = admin_request("GET", f"{live.url}/apis/apps/v1/namespaces/default/deployments/web", timeout=10).json()
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "kubelite/busybox:1"
    # The controller reuses revision 1's ReplicaSet and renumbers it as revision 3.
    hist = kubelite(live, "rollout", "history", "deployment/web")
    assert [line.split()[0] for line in hist.stdout.splitlines()[2:]] == ["2", "3"], hist.stdout
