# mypy: disable-error-code="union-attr,arg-type,no-untyped-call"
# (the official client: its models are optional everywhere; dict bodies work as in its docs)
"""ReplicationController against a real API server, etcd and controller-manager, with the official
Python client (create, status right after create, scale through /scale, cascade delete with its
pods, `create_from_yaml` of a file mixing RC, Service and Deployment) and the real kubectl
(`scale rc`, table columns, `describe rc`)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, utils

from tests.integration.conftest import ApiServerProcess
from tests.integration.test_controllers import ControllerManagerProcess
from tests.support import delete_namespace_now, wait_until_sync

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def controller_manager(apiserver: ApiServerProcess) -> Iterator[ControllerManagerProcess]:
    cm = ControllerManagerProcess(apiserver.kubeconfig).start()
    try:
        yield cm
    finally:
        cm.cleanup()


@pytest.fixture
def k8s(apiserver: ApiServerProcess) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def ns(k8s: client.ApiClient, apiserver: ApiServerProcess) -> Iterator[str]:
    name = f"rc-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(k8s).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        delete_namespace_now(apiserver.url, name)


def _rc(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest",
                                                           "command": ["sleep", "3600"]}]}}}}


def _owned_pods(core: client.CoreV1Api, ns: str, uid: str) -> list[Any]:
    return [p for p in core.list_namespaced_pod(ns).items
            if not p.metadata.deletion_timestamp
            and any(r.uid == uid and r.controller for r in p.metadata.owner_references or [])]


def _kubectl(apiserver: ApiServerProcess, tmp: Path, ns: str) -> Callable[..., str]:
    env = {**os.environ, "KUBECONFIG": str(apiserver.kubeconfig), "HOME": str(tmp)}

    def run(*args: str) -> str:
        res = subprocess.run([str(KUBECTL), "--cache-dir", str(tmp / "cache"), "-n", ns, *args],
                             capture_output=True, text=True, env=env, timeout=60)
        assert res.returncode == 0, f"kubectl {' '.join(args)}: {res.stdout}{res.stderr}"
        return res.stdout

    return run


def test_rc_created_scaled_and_deleted_with_its_pods(
        controller_manager: ControllerManagerProcess, k8s: client.ApiClient, ns: str,
        apiserver: ApiServerProcess, tmp_path: Path) -> None:
    core = client.CoreV1Api(k8s)
    rc = core.create_namespaced_replication_controller(ns, _rc("web", 2))
    # Defaults as Kubernetes: selector and labels from the template; a status right away.
    assert rc.spec.selector == {"app": "web"} and rc.metadata.labels == {"app": "web"}
    assert rc.status is not None and rc.status.replicas == 0
    uid = rc.metadata.uid
    wait_until_sync(lambda: len(_owned_pods(core, ns, uid)) == 2, timeout_s=30,
                    message=f"2 pods not created:\n{controller_manager.log_text()[-2000:]}")
    pod = _owned_pods(core, ns, uid)[0]
    assert pod.metadata.name.startswith("web-") and pod.metadata.owner_references[0].kind == "ReplicationController"
    wait_until_sync(lambda: core.read_namespaced_replication_controller(
        "web", ns).status.replicas == 2, timeout_s=30)

    scale = core.patch_namespaced_replication_controller_scale("web", ns, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"
    wait_until_sync(lambda: len(_owned_pods(core, ns, uid)) == 4, timeout_s=30)

    if KUBECTL.exists():
        kubectl = _kubectl(apiserver, tmp_path, ns)
        assert kubectl("scale", "rc", "web", "--replicas=1").strip() == "replicationcontroller/web scaled"
        wait_until_sync(lambda: len(_owned_pods(core, ns, uid)) == 1, timeout_s=30)
        wait_until_sync(lambda: core.read_namespaced_replication_controller(
            "web", ns).status.replicas == 1, timeout_s=30)
        header, row = kubectl("get", "rc", "-o", "wide").splitlines()[:2]
        assert header.split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
        assert row.split()[:4] == ["web", "1", "1", "0"] and row.split()[-1] == "app=web"
        manifest = tmp_path / "rc.yaml"
        manifest.write_text("apiVersion: v1\nkind: ReplicationController\nmetadata: {name: applied}\n"
                            "spec:\n  replicas: 1\n  template:\n    metadata: {labels: {app: applied}}\n"
                            "    spec: {containers: [{name: c, image: kubelite/busybox:latest}]}\n")
        assert kubectl("apply", "-f", str(manifest)).strip() == "replicationcontroller/applied created"
        manifest.write_text(manifest.read_text().replace("replicas: 1", "replicas: 2"))
        assert kubectl("apply", "-f", str(manifest)).strip() == "replicationcontroller/applied configured"
        assert core.read_namespaced_replication_controller("applied", ns).spec.replicas == 2
        described = kubectl("describe", "rc", "web")
        assert "Replicas:" in described and "1 current / 1 desired" in described
        assert "Selector:" in described and "app=web" in described

    kubelite = [str(ROOT / ".venv" / "bin" / "kubelite"), "--kubeconfig", str(apiserver.kubeconfig), "-n", ns]
    res = subprocess.run([*kubelite, "scale", "rc/web", "--replicas", "2"], capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout.strip()) == (0, "replicationcontroller/web scaled"), res.stderr
    wait_until_sync(lambda: len(_owned_pods(core, ns, uid)) == 2, timeout_s=30)
    wait_until_sync(lambda: core.read_namespaced_replication_controller("web", ns).status.replicas == 2, timeout_s=30)
    res = subprocess.run([*kubelite, "describe", "rc", "web"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "2 current / 2 desired" in res.stdout and "app=web" in res.stdout, res.stdout
    assert "0 Running / 2 Waiting" in res.stdout  # no kubelet here: the pods stay Pending
    res = subprocess.run([*kubelite, "get", "rc"], capture_output=True, text=True, timeout=60)
    assert res.stdout.splitlines()[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]

    core.delete_namespaced_replication_controller("web", ns)  # background cascade: the GC deletes the pods
    wait_until_sync(lambda: not _owned_pods(core, ns, uid), timeout_s=30,
                    message=f"pods left:\n{controller_manager.log_text()[-2000:]}")
    assert "web" not in {rc.metadata.name for rc in core.list_namespaced_replication_controller(ns).items}


def test_create_from_yaml_mixing_rc_service_and_deployment(
        controller_manager: ControllerManagerProcess, k8s: client.ApiClient, ns: str, tmp_path: Path) -> None:
    manifest = tmp_path / "mixed.yaml"
    manifest.write_text("""\
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: c, image: kubelite/busybox:latest, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: modern}
spec:
  replicas: 1
  selector: {matchLabels: {app: modern}}
  template:
    metadata: {labels: {app: modern}}
    spec:
      containers: [{name: c, image: kubelite/busybox:latest, command: [sleep, "3600"]}]
""")
    created = utils.create_from_yaml(k8s, str(manifest), namespace=ns)
    kinds = [obj.kind for group in created for obj in group]
    assert kinds == ["ReplicationController", "Service", "Deployment"]
    core, apps = client.CoreV1Api(k8s), client.AppsV1Api(k8s)
    rc = core.read_namespaced_replication_controller("legacy", ns)
    svc = core.read_namespaced_service("legacy", ns)
    assert svc.spec.cluster_ip and svc.status.load_balancer is not None
    assert apps.read_namespaced_deployment("modern", ns).status is not None
    wait_until_sync(lambda: len(_owned_pods(core, ns, rc.metadata.uid)) == 2, timeout_s=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        labels = [p.metadata.labels.get("app") for p in core.list_namespaced_pod(ns).items]
        if labels.count("modern") == 1:
            break
        time.sleep(0.2)
    assert labels.count("modern") == 1 and labels.count("legacy") == 2
