# mypy: disable-error-code="union-attr"
"""The official `kubernetes` Python client works against kubelite unchanged: CRUD of pods,
services, deployments and namespaces, strategic-merge patches (its default, with kubectl's
directives), JSON and merge patches, server-side apply, dryRun, fieldValidation, and watch
with resume from a resourceVersion."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import ApiServerProcess
from tests.support import admin_request, delete_namespace_now

pytestmark = pytest.mark.integration


@pytest.fixture
def k8s(apiserver: ApiServerProcess) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def k8s_ns(k8s: client.ApiClient, apiserver: ApiServerProcess) -> Iterator[str]:
    core = client.CoreV1Api(k8s)
    name = f"k8s-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        delete_namespace_now(apiserver.url, name)  # no namespace controller here


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
        except BaseException as e:  # noqa: BLE001 - surfaced by the assertion below
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


def test_patch_types_json_merge_and_server_side_apply(k8s: client.ApiClient, k8s_ns: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(k8s_ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cm", labels={"a": "1"}), data={"x": "1", "y": "2"}))
    # JSON patch (what `kubectl rollout undo` sends): a list of operations.
    k8s.set_default_header("Content-Type", "application/json-patch+json")
    try:
        out = core.patch_namespaced_config_map("cm", k8s_ns, [
            {"op": "replace", "path": "/data/x", "value": "10"}, {"op": "remove", "path": "/data/y"}])
    finally:
        k8s.default_headers.pop("Content-Type", None)
    assert out.data == {"x": "10"}
    # JSON merge patch: null deletes a key.
    out = core.patch_namespaced_config_map("cm", k8s_ns, {"metadata": {"labels": {"a": None, "b": "2"}}},
                                           _content_type="application/merge-patch+json")
    assert out.metadata.labels == {"b": "2"}
    # Server-side apply: create when missing (201), then merge into the live object.
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": "v"}}
    created = core.patch_namespaced_config_map("applied", k8s_ns, body, field_manager="pytest",
                                               _content_type="application/apply-patch+yaml")
    assert created.data == {"k": "v"}
    assert [m.manager for m in created.metadata.managed_fields] == ["pytest"]
    body["data"] = {"k": "v2", "n": "new"}
    merged = core.patch_namespaced_config_map("applied", k8s_ns, body, field_manager="pytest",
                                              _content_type="application/apply-patch+yaml")
    assert merged.data == {"k": "v2", "n": "new"}
    with pytest.raises(ApiException) as e:  # apply without a field manager
        core.patch_namespaced_config_map("applied", k8s_ns, body, _content_type="application/apply-patch+yaml")
    assert e.value.status == 422


def test_strategic_patch_directives_and_dry_run(k8s: client.ApiClient, k8s_ns: str) -> None:
    apps = client.AppsV1Api(k8s)
    labels = {"app": "sp"}
    containers = [client.V1Container(name=n, image="kubelite/busybox:latest") for n in ("app", "side")]
    apps.create_namespaced_deployment(k8s_ns, client.V1Deployment(
        metadata=client.V1ObjectMeta(name="sp"),
        spec=client.V1DeploymentSpec(selector=client.V1LabelSelector(match_labels=labels),
                                     template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                                                       spec=client.V1PodSpec(containers=containers)))))
    # What kubectl apply sends to drop a container while keeping the order of the rest.
    out = apps.patch_namespaced_deployment("sp", k8s_ns, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "side", "$patch": "delete"}]}}}})
    assert [c.name for c in out.spec.template.spec.containers] == ["app"]
    rv = out.metadata.resource_version
    dry = apps.patch_namespaced_deployment("sp", k8s_ns, {"metadata": {"labels": {"dry": "run"}}}, dry_run="All")
    assert dry.metadata.labels == {"dry": "run"}
    after = apps.read_namespaced_deployment("sp", k8s_ns)
    assert after.metadata.labels is None and after.metadata.resource_version == rv
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(k8s_ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="d")),
                                      dry_run="All")
    assert core.list_namespaced_config_map(k8s_ns).items == []


def test_field_validation_strict_warn_ignore(k8s: client.ApiClient, k8s_ns: str) -> None:
    # The client's own models refuse unknown fields, so this one goes over raw HTTPS.
    core = client.CoreV1Api(k8s)
    url = f"{k8s.configuration.host}/api/v1/namespaces/{k8s_ns}/configmaps"

    def post(name: str, mode: str) -> httpx.Response:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"},
                "bogus": 1, "metadata2": {}}
        return admin_request("POST", url, params={"fieldValidation": mode}, json=body)

    strict = post("fv1", "Strict")
    assert strict.status_code == 400 and strict.json()["reason"] == "BadRequest"
    assert strict.json()["message"].endswith(
        'strict decoding error: unknown field "bogus", unknown field "metadata2"')
    warned = post("fv2", "Warn")
    assert warned.status_code == 201
    assert warned.headers.get_list("Warning") == ['299 - "unknown field \\"bogus\\""',
                                                 '299 - "unknown field \\"metadata2\\""']
    ignored = post("fv3", "Ignore")
    assert ignored.status_code == 201 and "Warning" not in ignored.headers
    assert [c.metadata.name for c in core.list_namespaced_config_map(k8s_ns).items] == ["fv2", "fv3"]
    assert "bogus" not in admin_request("GET", f"{url}/fv2").json()


def test_watch_resumes_from_resource_version(k8s: client.ApiClient, k8s_ns: str) -> None:
    core = client.CoreV1Api(k8s)
    listed = core.list_namespaced_config_map(k8s_ns)
    core.create_namespaced_config_map(k8s_ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="r1")))
    core.create_namespaced_config_map(k8s_ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="r2")))
    w = watch.Watch()
    first = []
    for ev in w.stream(core.list_namespaced_config_map, k8s_ns, resource_version=listed.metadata.resource_version,
                       timeout_seconds=10):
        first.append((ev["type"], ev["object"].metadata.name))
        last_rv = ev["object"].metadata.resource_version
        w.stop()  # leave after the first event, then resume from what we saw
    assert first == [("ADDED", "r1")]
    rest = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, k8s_ns, resource_version=last_rv, timeout_seconds=10):
        rest.append((ev["type"], ev["object"].metadata.name))
        w.stop()
    assert rest == [("ADDED", "r2")]
