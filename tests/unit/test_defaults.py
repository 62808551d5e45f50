"""Defaulting (machinery.defaults): Kubernetes' values, only for unset fields, idempotent."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from machinery import registry
from machinery.defaults import apply_defaults, image_pull_policy_for, pod_qos_class
from machinery.meta import Resource
from machinery.models import (
    ConfigMap,
    DaemonSet,
    Deployment,
    Job,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Secret,
    Service,
    StatefulSet,
)
from tests.unit.test_models import DEPLOYMENT, OTHERS, POD, SERVICE


def _pod_spec(**extra: Any) -> dict[str, Any]:
    return {"containers": [{"name": "a", "image": "busybox"}], **extra}


def _template(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": _pod_spec(**spec)}


def test_pod_defaults() -> None:
    pod = apply_defaults(Pod.from_dict({"metadata": {"name": "p"}, "spec": {
        "containers": [{
            "name": "a", "image": "nginx:1.25",
            "ports": [{"containerPort": 80}],
            "livenessProbe": {"httpGet": {"port": 80}},
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 3},
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        }],
        "initContainers": [{"name": "i", "image": "busybox"}],
        "volumes": [{"name": "c", "configMap": {"name": "c"}}, {"name": "s", "secret": {"secretName": "s"}}],
    }})).to_dict()
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["enableServiceLinks"] is True
    assert spec["securityContext"] == {}
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["periodSeconds"] == 3
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert spec["initContainers"][0]["imagePullPolicy"] == "Always"
    assert spec["initContainers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert spec["volumes"][0]["configMap"]["defaultMode"] == 420
    assert spec["volumes"][1]["secret"]["defaultMode"] == 420
    assert pod["status"] == {"phase": "Pending", "qosClass": "Burstable"}


def test_given_values_are_never_replaced() -> None:
    original = copy.deepcopy(POD)
    pod = apply_defaults(Pod.from_dict(POD)).to_dict()
    spec = pod["spec"]
    assert spec["restartPolicy"] == "OnFailure" and spec["dnsPolicy"] == "None"
    assert spec["terminationGracePeriodSeconds"] == 10 and spec["enableServiceLinks"] is False
    assert spec["securityContext"] == {"fsGroup": 2000}
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["containers"][0]["livenessProbe"]["periodSeconds"] == 5
    assert spec["containers"][0]["livenessProbe"]["failureThreshold"] == 2
    assert pod["status"] == original["status"]


def test_host_network_pods_get_host_ports() -> None:
    pod2 = apply_defaults(Pod.from_dict({"spec": {"hostNetwork": True, "containers": [
        {"name": "a", "ports": [{"containerPort": 8080}]}]}}))
    assert pod2.spec is not None
    assert pod2.spec.containers[0].ports[0].hostPort == 8080  # type: ignore[index]


@pytest.mark.parametrize(("image", "policy"), [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    ("kubelite/busybox:latest", "Always"), ("registry:5000/app", "Always"), ("registry:5000/app:v2", "IfNotPresent"),
    ("app@sha256:abcd", "IfNotPresent"), (None, "Always"),
])
def test_image_pull_policy(image: str | None, policy: str) -> None:
    assert image_pull_policy_for(image) == policy


@pytest.mark.parametrize(("resources", "qos"), [
    ([None], "BestEffort"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, None], "Burstable"),
    ([{"requests": {"cpu": "1"}}], "Burstable"),
    ([{"limits": {"cpu": "1"}}], "Burstable"),
    ([{"requests": {"example.com/gpu": "1"}}], "BestEffort"),
])
def test_qos_class(resources: list[dict[str, Any] | None], qos: str) -> None:
    containers = [{"name": f"c{i}", **({"resources": r} if r else {})} for i, r in enumerate(resources)]
    pod = apply_defaults(Pod.from_dict({"spec": {"containers": containers}}))
    assert pod.spec is not None and pod.status is not None
    assert pod.status.qosClass == qos == pod_qos_class(pod.spec)


def test_service_defaults() -> None:
    svc = apply_defaults(Service.from_dict({"spec": {"selector": {"a": "b"}, "ports": [
        {"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"},
        {"port": 81, "targetPort": 0}, {"port": 82, "targetPort": ""}]}})).to_dict()
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["sessionAffinity"] == "None"
    assert svc["spec"]["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in svc["spec"] and "clusterIP" not in svc["spec"]
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                                    {"port": 53, "protocol": "UDP", "targetPort": "dns"},
                                    # zero and "" are unset (a Go client's zero IntOrString)
                                    {"port": 81, "protocol": "TCP", "targetPort": 81},
                                    {"port": 82, "protocol": "TCP", "targetPort": 82}]
    node_port = apply_defaults(Service.from_dict({"spec": {"type": "NodePort", "sessionAffinity": "ClientIP",
                                                           "ports": [{"port": 80}]}})).to_dict()["spec"]
    assert node_port["externalTrafficPolicy"] == "Cluster"
    assert node_port["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_deployment_defaults() -> None:
    d = apply_defaults(Deployment.from_dict({"spec": {"template": _template()}})).to_dict()["spec"]
    assert d["replicas"] == 1
    assert d["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert d["revisionHistoryLimit"] == 10 and d["progressDeadlineSeconds"] == 600
    assert "selector" not in d
    assert d["template"]["spec"]["restartPolicy"] == "Always"
    assert d["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    recreate = apply_defaults(Deployment.from_dict({"spec": {"strategy": {"type": "Recreate"}}})).to_dict()
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    replicas0 = apply_defaults(Deployment.from_dict({"spec": {"replicas": 0}}))
    assert replicas0.spec is not None and replicas0.spec.replicas == 0


def test_replicaset_statefulset_daemonset_defaults() -> None:
    rs = apply_defaults(ReplicaSet.from_dict({"spec": {"template": _template()}})).to_dict()["spec"]
    assert rs["replicas"] == 1 and rs["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    sts = apply_defaults(StatefulSet.from_dict({"spec": {"serviceName": "db", "template": _template()}}))
    s = sts.to_dict()["spec"]
    assert s["replicas"] == 1 and s["podManagementPolicy"] == "OrderedReady" and s["serviceName"] == "db"
    assert s["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert s["revisionHistoryLimit"] == 10
    assert s["template"]["spec"]["restartPolicy"] == "Always"
    ds = apply_defaults(DaemonSet.from_dict({"spec": {"template": _template()}})).to_dict()["spec"]
    assert ds["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["revisionHistoryLimit"] == 10
    on_delete = apply_defaults(DaemonSet.from_dict({"spec": {"updateStrategy": {"type": "OnDelete"}}}))
    assert on_delete.to_dict()["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_job_defaults() -> None:
    job = apply_defaults(Job.from_dict({"spec": {"template": {"spec": _pod_spec()}}})).to_dict()["spec"]
    assert job["parallelism"] == 1 and job["completions"] == 1 and job["backoffLimit"] == 6
    assert job["completionMode"] == "NonIndexed" and job["suspend"] is False
    assert "restartPolicy" not in job["template"]["spec"]  # the user must choose; validation says so
    assert job["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    work_queue = apply_defaults(Job.from_dict({"spec": {"parallelism": 3}})).to_dict()["spec"]
    assert work_queue["parallelism"] == 3 and "completions" not in work_queue


def test_other_kinds() -> None:
    assert apply_defaults(Namespace.from_dict({"metadata": {"name": "x"}})).to_dict()["status"] == {"phase": "Active"}
    assert apply_defaults(Secret.from_dict({})).type == "Opaque"
    merged = apply_defaults(Secret.from_dict({"data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "yy"}}))
    assert merged.stringData is None
    assert merged.data == {"a": "eA==", "b": base64.b64encode(b"yy").decode()}
    node = apply_defaults(Node.from_dict({"status": {"capacity": {"cpu": "2"}}}))
    assert node.status is not None and node.status.allocatable == {"cpu": "2"}
    cm = ConfigMap.from_dict({"data": {"a": "b"}})
    assert apply_defaults(cm).to_dict() == ConfigMap.from_dict({"data": {"a": "b"}}).to_dict()


@pytest.mark.parametrize("manifest", [DEPLOYMENT, POD, SERVICE, *OTHERS], ids=lambda m: m["kind"])
def test_idempotent(manifest: dict[str, Any]) -> None:
    cls = registry.model_for(manifest)
    once = apply_defaults(cls.from_dict(copy.deepcopy(manifest))).to_dict()
    twice = apply_defaults(cls.from_dict(copy.deepcopy(once))).to_dict()
    assert once == twice


@pytest.mark.parametrize("cls", registry.ALL_KINDS, ids=lambda c: c.KIND)
def test_idempotent_from_empty(cls: type[Resource]) -> None:
    bare: dict[str, Any] = {}
    if cls in (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job):
        bare = {"spec": {"template": _template()}}
    elif cls is Pod:
        bare = {"spec": _pod_spec()}
    once = apply_defaults(cls.from_dict(bare)).to_dict()
    assert once != cls.from_dict(bare).to_dict() or cls not in (Pod, Deployment, Job, Namespace)
    assert apply_defaults(cls.from_dict(copy.deepcopy(once))).to_dict() == once


def test_every_kind_with_a_status_gets_one() -> None:
    from machinery import registry

    for cls in registry.ALL_KINDS:
        if "status" not in cls.model_fields:
            continue
        obj = apply_defaults(cls.model_validate({"metadata": {"name": "x"}})).to_dict()
        assert isinstance(obj.get("status"), dict), cls.KIND
    svc = apply_defaults(Service.from_dict({"status": {"loadBalancer": None}})).to_dict()
    assert svc["status"] == {"loadBalancer": {}}  # an explicit null is the zero struct, as Go reads it
