"""Kind lookup and REST paths (machinery.registry)."""

from __future__ import annotations

import pytest

from machinery import registry
from machinery.meta import Resource
from machinery.models import (
    Binding,
    ConfigMap,
    DaemonSet,
    Deployment,
    Endpoints,
    Event,
    Eviction,
    Job,
    Lease,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Scale,
    Secret,
    Service,
    StatefulSet,
)

SHORT = {"po": Pod, "svc": Service, "deploy": Deployment, "rs": ReplicaSet, "sts": StatefulSet,
         "ds": DaemonSet, "no": Node, "ns": Namespace, "ep": Endpoints, "cm": ConfigMap, "ev": Event}


@pytest.mark.parametrize(("name", "cls"), list(SHORT.items()))
def test_every_short_name_resolves(name: str, cls: type) -> None:
    assert registry.resolve(name) is cls
    assert registry.resolve(name.upper()) is cls


@pytest.mark.parametrize("cls", registry.ALL_KINDS, ids=lambda c: c.KIND)
def test_every_kind_resolves_by_all_its_names(cls: type[Resource]) -> None:
    for name in (cls.PLURAL, cls.SINGULAR, cls.KIND, cls.KIND.lower()):
        assert registry.resolve(name) is cls
    suffix = f".{cls.GROUP}" if cls.GROUP else ""
    assert registry.resolve(f"{cls.PLURAL}{suffix}") is cls
    assert registry.resolve(f"{cls.PLURAL}.{cls.VERSION}{suffix}") is cls
    assert registry.by_kind(cls.KIND) is cls
    assert registry.by_kind(cls.KIND, cls.api_version()) is cls
    assert registry.by_resource(cls.GROUP, cls.VERSION, cls.PLURAL) is cls
    assert registry.model_for({"apiVersion": cls.api_version(), "kind": cls.KIND}) is cls


def test_all_kinds_are_unique_and_complete() -> None:
    assert len({(c.GROUP, c.PLURAL) for c in registry.ALL_KINDS}) == len(registry.ALL_KINDS)
    assert {c.KIND for c in registry.ALL_KINDS} == {
        "Namespace", "Node", "Pod", "Service", "Endpoints", "ConfigMap", "Secret", "Event", "ReplicaSet",
        "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Lease", "ControllerRevision",
        "PersistentVolume", "PersistentVolumeClaim", "StorageClass", "ReplicationController", "LimitRange",
        "ResourceQuota", "PodDisruptionBudget", "PriorityClass", "EndpointSlice", "Role", "ClusterRole",
        "RoleBinding", "ClusterRoleBinding", "HorizontalPodAutoscaler", "PodPreset", "ServiceAccount",
            "NetworkPolicy", "CertificateSigningRequest"}
    assert registry.resolve("deployments.apps") is Deployment
    assert registry.resolve("jobs.batch") is Job
    assert registry.resolve("leases.coordination.k8s.io") is Lease
    assert registry.resolve("secrets") is Secret


@pytest.mark.parametrize("name", ["", "pod.apps", "deployments.batch", "bogus", "deploy.v2.apps", "jobs.v1.apps"])
def test_unknown_names_raise_key_error(name: str) -> None:
    with pytest.raises(KeyError):
        registry.resolve(name)


def test_subresource_kinds_found_by_kind_only() -> None:
    assert registry.by_kind("Binding") is Binding
    assert registry.model_for({"apiVersion": "autoscaling/v1", "kind": "Scale"}) is Scale
    assert registry.model_for({"apiVersion": "policy/v1", "kind": "Eviction"}) is Eviction
    assert Scale not in registry.ALL_KINDS
    with pytest.raises(KeyError):
        registry.by_resource("autoscaling", "v1", "scale")


@pytest.mark.parametrize("obj", [{"kind": "Pod"}, {"apiVersion": "v1"}, {"apiVersion": "apps/v1", "kind": "Pod"},
                                 {"apiVersion": "v1", "kind": "Deployment"}, {}])
def test_model_for_rejects_mismatches(obj: dict[str, str]) -> None:
    with pytest.raises(KeyError):
        registry.model_for(obj)


def test_by_resource_and_kind_errors() -> None:
    with pytest.raises(KeyError):
        registry.by_resource("apps", "v1", "pods")
    with pytest.raises(KeyError):
        registry.by_kind("Deployment", "extensions/v1beta1")


def test_paths() -> None:
    assert registry.collection_path(Pod, "ns1") == "/api/v1/namespaces/ns1/pods"
    assert registry.collection_path(Pod) == "/api/v1/pods"
    assert registry.collection_path(Deployment, "ns1") == "/apis/apps/v1/namespaces/ns1/deployments"
    assert registry.collection_path(Node) == "/api/v1/nodes"
    assert registry.collection_path(Node, "ignored") == "/api/v1/nodes"
    assert registry.collection_path(Lease, "kube-node-lease") == \
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    assert registry.object_path(Pod, "p", "d") == "/api/v1/namespaces/d/pods/p"
    assert registry.object_path(Pod, "p", "d", "binding") == "/api/v1/namespaces/d/pods/p/binding"
    assert registry.object_path(Deployment, "w", "d", "scale") == "/apis/apps/v1/namespaces/d/deployments/w/scale"
    assert registry.object_path(Namespace, "x", subresource="finalize") == "/api/v1/namespaces/x/finalize"
    assert registry.object_path(Job, "j", "d", "status") == "/apis/batch/v1/namespaces/d/jobs/j/status"
    with pytest.raises(ValueError):
        registry.object_path(Pod, "", "d")
