# mypy: disable-error-code="union-attr"
"""Every kind that has a status returns it, also when empty, as Kubernetes does (issue 10 item
2): on create, get, list and watch, through the official `kubernetes` client, so that
`d.status.available_replicas` works right after a create. Driven by the registry: a kind with a
`status` field added to ALL_KINDS must get a minimal manifest in MANIFESTS below."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from machinery import registry
from machinery.meta import Resource
from tests.integration.conftest import ApiServerProcess
from tests.protobuf_samples import CSR_REQUEST_B64

pytestmark = pytest.mark.integration

_TEMPLATE = {"metadata": {"labels": {"app": "s"}},
             "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}
_SELECTOR = {"matchLabels": {"app": "s"}}
_JOB_TEMPLATE = {"metadata": {}, "spec": {**_TEMPLATE["spec"], "restartPolicy": "Never"}}  # type: ignore[dict-item]

# The body of each kind (metadata added by the test); kinds not served yet are skipped.
MANIFESTS: dict[str, dict[str, Any]] = {
    "CertificateSigningRequest": {"spec": {"request": CSR_REQUEST_B64, "usages": ["client auth"],
                                           "signerName": "kubernetes.io/kube-apiserver-client"}},
    "Namespace": {},
    "Node": {},
    "Pod": {"spec": _TEMPLATE["spec"]},
    "Service": {"spec": {"selector": {"app": "s"}, "ports": [{"port": 80}]}},
    "ReplicaSet": {"spec": {"selector": _SELECTOR, "template": _TEMPLATE}},
    "ReplicationController": {"spec": {"selector": {"app": "s"}, "template": _TEMPLATE}},
    "Deployment": {"spec": {"selector": _SELECTOR, "template": _TEMPLATE}},
    "StatefulSet": {"spec": {"selector": _SELECTOR, "template": _TEMPLATE, "serviceName": "s"}},
    "DaemonSet": {"spec": {"selector": _SELECTOR, "template": _TEMPLATE}},
    "Job": {"spec": {"template": _JOB_TEMPLATE}},
    "CronJob": {"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": _JOB_TEMPLATE}}}},
    "PersistentVolumeClaim": {"spec": {"accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "1Gi"}}}},
    "PersistentVolume": {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                  "hostPath": {"path": "/tmp/kubelite-pv"}}},
    "ResourceQuota": {"spec": {"hard": {"pods": "10"}}},
    "PodDisruptionBudget": {"spec": {"selector": _SELECTOR, "minAvailable": 1}},
    "HorizontalPodAutoscaler": {"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                            "name": "web"}, "maxReplicas": 3}},
}
# What Kubernetes answers for an object nobody has acted on yet (at least these keys).
EXPECTED: dict[str, dict[str, Any]] = {
    "Service": {"loadBalancer": {}},
    "Namespace": {"phase": "Active"},
    "Pod": {"phase": "Pending"},
    "ReplicaSet": {"replicas": 0},
    "PodDisruptionBudget": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
    "HorizontalPodAutoscaler": {"currentReplicas": 0, "desiredReplicas": 0},
}
_API_CLASSES = {"": "CoreV1Api", "apps": "AppsV1Api", "batch": "BatchV1Api",
                "coordination.k8s.io": "CoordinationV1Api", "storage.k8s.io": "StorageV1Api",
                "policy": "PolicyV1Api", "autoscaling": "AutoscalingV2Api",
                "certificates.k8s.io": "CertificatesV1Api"}


def _status_kinds() -> list[type[Resource]]:
    return [cls for cls in registry.ALL_KINDS if "status" in cls.model_fields]


def _snake(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


@pytest.fixture
def k8s(apiserver: ApiServerProcess) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield api


def test_every_kind_with_a_status_has_a_manifest_here() -> None:
    missing = [cls.KIND for cls in _status_kinds() if cls.KIND not in MANIFESTS]
    assert not missing, f"add a minimal manifest for {missing} to MANIFESTS in {__file__}"


@pytest.mark.parametrize("cls", _status_kinds(), ids=lambda c: c.KIND)
def test_status_present_on_create_get_list_and_watch(k8s: client.ApiClient, namespace: str,
                                                     cls: type[Resource]) -> None:
    name = f"st-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": cls.api_version(), "kind": cls.KIND,
            "metadata": {"name": name, **({"namespace": namespace} if cls.NAMESPACED else {})},
            **MANIFESTS[cls.KIND]}
    api = getattr(client, _API_CLASSES[cls.GROUP])(k8s)
    scope = "namespaced_" if cls.NAMESPACED else ""
    ns_args: tuple[str, ...] = (namespace,) if cls.NAMESPACED else ()
    list_fn = getattr(api, f"list_{scope}{_snake(cls.KIND)}")

    # watch first (from now), so the ADDED event of the create is seen
    rv = list_fn(*ns_args).metadata.resource_version
    seen: list[Any] = []

    def watch_one() -> None:
        w = watch.Watch()
        for ev in w.stream(list_fn, *ns_args, resource_version=rv, timeout_seconds=10,
                           field_selector=f"metadata.name={name}"):
            seen.append(ev["object"])
            w.stop()

    t = threading.Thread(target=watch_one, daemon=True)
    t.start()
    created = getattr(api, f"create_{scope}{_snake(cls.KIND)}")(*ns_args, body)
    try:
        got = getattr(api, f"read_{scope}{_snake(cls.KIND)}")(name, *ns_args)
        listed = [o for o in list_fn(*ns_args).items if o.metadata.name == name]
        t.join(15)
        assert seen, "no watch event"
        for what, obj in (("create", created), ("get", got), ("list", listed[0]), ("watch", seen[0])):
            assert obj.status is not None, f"{cls.KIND} {what}: status missing"
            wire = k8s.sanitize_for_serialization(obj.status)
            for key, value in EXPECTED.get(cls.KIND, {}).items():
                assert wire.get(key) == value, f"{cls.KIND} {what}: status {wire}"
    finally:
        getattr(api, f"delete_{scope}{_snake(cls.KIND)}")(name, *ns_args)


def test_ordinary_code_reads_status_right_after_create(k8s: client.ApiClient, namespace: str) -> None:
    # Any: ordinary user code passes dicts where the client's annotations say V1 models.
    apps: Any = client.AppsV1Api(k8s)
    core: Any = client.CoreV1Api(k8s)
    d = apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"}, "spec": {"selector": _SELECTOR, "template": _TEMPLATE}})
    assert d.status.available_replicas is None  # no AttributeError on None
    svc = core.create_namespaced_service(namespace, {"metadata": {"name": "web"}, **MANIFESTS["Service"]})
    assert svc.status.load_balancer.ingress is None
    raw = apps.read_namespaced_deployment("web", namespace, _preload_content=False)
    assert b'"status":{}' in raw.data.replace(b" ", b"")
    raw = core.read_namespaced_service("web", namespace, _preload_content=False)
    assert b'"status":{"loadBalancer":{}}' in raw.data.replace(b" ", b"")


def test_status_error_bodies_keep_kubernetes_key_order(k8s: client.ApiClient, namespace: str) -> None:
    core: Any = client.CoreV1Api(k8s)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("absent", namespace)
    assert e.value.status == 404
    assert list(json.loads(e.value.body or "")) == ["kind", "apiVersion", "metadata", "status", "message", "reason",
                                              "details", "code"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(namespace, {"metadata": {"name": "bad"}, "spec": {"containers": [{"name": "Bad_Name"}]}})
    body = json.loads(e.value.body or "")
    assert e.value.status == 422 and list(body)[-3:] == ["reason", "details", "code"]
    assert body["details"]["causes"]
    assert all(list(c) == [k for k in ("reason", "message", "field") if k in c]
               for c in body["details"]["causes"])
