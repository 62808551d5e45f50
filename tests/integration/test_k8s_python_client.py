# mypy: disable-error-code="union-attr"
"""The official `kubernetes` Python client works against kubelite unchanged: CRUD of pods,
services, deployments and namespaces, strategic-merge patches (its default), and watch."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.integration.conftest import ApiServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def k8s(apiserver: ApiServerProcess) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def k8s_ns(k8s: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(k8s)
    name = f"k8s-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)
        ns = core.read_namespace(name)
        ns.spec.finalizers = []
        core.replace_namespace_finalize(name, ns)


def pod(name: str, image: str = "kubelite/busybox:latest") -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "k"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image=image,
                                                             command=["sleep", "3600"])]))


def test_pods_crud_and_patch(k8s: client.ApiClient, k8s_ns: str) -> None:
    core = client.CoreV1Api(k8s)
    created = core.create_namespaced_pod(k8s_ns, pod("p1"))
    assert created.metadata.uid and created.status.phase == "Pending"
    assert [p.metadata.name for p in core.list_namespaced_pod(k8s_ns).items] == ["p1"]
    assert core.list_namespaced_pod(k8s_ns, label_selector="app=other").items == []
    got = core.read_namespaced_pod("p1", k8s_ns)
    assert got.spec.containers[0].image == "kubelite/busybox:latest"
    patched = core.patch_namespaced_pod("p1", k8s_ns, {"metadata": {"labels": {"extra": "1"}},
                                                      "spec": {"containers": [{"name": "app", "image": "img:2"}]}})
    assert patched.metadata.labels == {"app": "k", "extra": "1"}
    assert patched.spec.containers[0].image == "img:2" and patched.spec.containers[0].command == ["sleep", "3600"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(k8s_ns, pod("p1"))
    assert e.value.status == 409
    core.delete_namespaced_pod("p1", k8s_ns)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("p1", k8s_ns)
    assert e.value.status == 404


def test_services_and_deployments(k8s: client.ApiClient, k8s_ns: str) -> None:
    core, apps = client.CoreV1Api(k8s), client.AppsV1Api(k8s)
    svc = core.create_namespaced_service(k8s_ns, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port=8080)])))
    assert svc.spec.cluster_ip.startswith("10.96.")
    assert [s.metadata.name for s in core.list_namespaced_service(k8s_ns).items] == ["web"]
    core.delete_namespaced_service("web", k8s_ns)

    labels = {"app": "web"}
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                              spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="i")]))))
    created = apps.create_namespaced_deployment(k8s_ns, dep)
    assert created.metadata.generation == 1 and created.spec.strategy.type == "RollingUpdate"
    patched = apps.patch_namespaced_deployment("web", k8s_ns, {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4 and patched.metadata.generation == 2
    scale = apps.read_namespaced_deployment_scale("web", k8s_ns)
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", k8s_ns, {"spec": {"replicas": 1}})
    assert apps.read_namespaced_deployment("web", k8s_ns).spec.replicas == 1
    assert [d.metadata.name for d in apps.list_deployment_for_all_namespaces().items if
            d.metadata.namespace == k8s_ns] == ["web"]
    apps.delete_namespaced_deployment("web", k8s_ns)
    assert apps.list_namespaced_deployment(k8s_ns).items == []


def test_namespaces(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pyclient-ns")))
    assert ns.status.phase == "Active"
    core.delete_namespace("pyclient-ns")
    assert core.read_namespace("pyclient-ns").status.phase == "Terminating"
    ns = core.read_namespace("pyclient-ns")
    ns.spec.finalizers = []
    core.replace_namespace_finalize("pyclient-ns", ns)
    with pytest.raises(ApiException) as e:
        core.read_namespace("pyclient-ns")
    assert e.value.status == 404


def test_watch_stream(k8s: client.ApiClient, k8s_ns: str) -> None:
    core = client.CoreV1Api(k8s)
    seen: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    w = watch.Watch()

    def run() -> None:
        try:
            for ev in w.stream(core.list_namespaced_pod, k8s_ns, timeout_seconds=15):
                obj: Any = ev["object"]
                seen.append((ev["type"], obj.metadata.name))
                if ev["type"] == "DELETED":
                    w.stop()
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(0.5)
    core.create_namespaced_pod(k8s_ns, pod("w1"))
    core.patch_namespaced_pod("w1", k8s_ns, {"metadata": {"labels": {"changed": "yes"}}})
    core.delete_namespaced_pod("w1", k8s_ns)
    t.join(timeout=20)
    assert not errors, errors
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
