"""The API models: real-world manifests round-trip unchanged; parsing is strict."""

from __future__ import annotations

import copy
import json
from typing import Any

import pydantic
import pytest

from machinery import models
from machinery.models import (
    ConfigMap,
    DaemonSet,
    DeleteOptions,
    Deployment,
    Endpoints,
    Event,
    Job,
    Lease,
    Namespace,
    Node,
    Pod,
    Secret,
    Service,
    StatefulSet,
)

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                 "annotations": {"deployment.kubernetes.io/revision": "3"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"},
                     "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}},
        "minReadySeconds": 5,
        "revisionHistoryLimit": 4,
        "progressDeadlineSeconds": 120,
        "paused": False,
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "fe"}},
            "spec": {
                "containers": [{
                    "name": "nginx", "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                  "requests": {"cpu": "250m", "memory": "64Mi"}},
                }],
                "nodeSelector": {"disktype": "ssd"},
                "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 10, "preference": {"matchExpressions": [
                                {"key": "gpu", "operator": "Exists"}]}}],
                    },
                    "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "web"}},
                         "topologyKey": "kubernetes.io/hostname"}]},
                },
            },
        },
    },
    "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2,
               "availableReplicas": 2, "unavailableReplicas": 1, "collisionCount": 0,
               "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                               "lastUpdateTime": "2026-01-01T00:00:00Z",
                               "lastTransitionTime": "2026-01-01T00:00:00Z", "message": "ok"}]},
}

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "app-1", "namespace": "prod", "uid": "u-1", "resourceVersion": "42",
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app",
                                      "uid": "u-0", "controller": True, "blockOwnerDeletion": True}],
                 "finalizers": ["example.com/keep"]},
    "spec": {
        "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
        "containers": [{
            "name": "app", "image": "kubelite/busybox:latest", "command": ["httpd"], "args": ["-f", "-p", "8080"],
            "workingDir": "/www",
            "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 53, "protocol": "UDP",
                                                                "hostPort": 5353, "hostIP": "127.0.0.1"}],
            "env": [
                {"name": "PLAIN", "value": "1"},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName", "apiVersion": "v1"}}},
                {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k", "optional": True}}},
                {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                {"name": "LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m",
                                                                   "containerName": "app"}}},
            ],
            "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "s"}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/cfg",
                                                                       "readOnly": True}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                          "httpHeaders": [{"name": "X", "value": "y"}]},
                              "initialDelaySeconds": 3, "periodSeconds": 5, "failureThreshold": 2},
            "readinessProbe": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2},
            "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30},
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}},
            "securityContext": {"runAsUser": 1000, "capabilities": {"add": ["NET_ADMIN"]}},
            "stdin": True, "tty": False, "imagePullPolicy": "IfNotPresent",
        }],
        "volumes": [
            {"name": "data", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.conf", "mode": 420}],
                                          "defaultMode": 420}},
            {"name": "sec", "secret": {"secretName": "s", "optional": False}},
            {"name": "claim", "persistentVolumeClaim": {"claimName": "pvc-1"}},
            {"name": "weird", "csi": {"driver": "x.example.com", "volumeAttributes": {"a": "b"}}},
        ],
        "restartPolicy": "OnFailure", "nodeName": "node-1", "terminationGracePeriodSeconds": 10,
        "activeDeadlineSeconds": 600, "dnsPolicy": "None",
        "dnsConfig": {"nameservers": ["10.96.0.10"], "searches": ["svc.cluster.local"],
                      "options": [{"name": "ndots", "value": "5"}]},
        "hostNetwork": False, "hostname": "h", "subdomain": "sub", "schedulerName": "default-scheduler",
        "priority": 0, "priorityClassName": "low", "serviceAccountName": "default",
        "securityContext": {"fsGroup": 2000}, "imagePullSecrets": [{"name": "reg"}],
        "enableServiceLinks": False, "readinessGates": [{"conditionType": "example.com/ready"}],
    },
    "status": {
        "phase": "Running", "hostIP": "192.168.1.2", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
        "startTime": "2026-01-01T00:00:00Z", "qosClass": "Burstable",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:01Z"}],
        "initContainerStatuses": [{"name": "init", "ready": True, "restartCount": 0, "image": "busybox",
                                   "imageID": "sha256:1", "state": {"terminated": {
                                       "exitCode": 0, "reason": "Completed", "startedAt": "2026-01-01T00:00:00Z",
                                       "finishedAt": "2026-01-01T00:00:01Z", "containerID": "docker://a"}}}],
        "containerStatuses": [{"name": "app", "ready": True, "started": True, "restartCount": 2,
                               "image": "kubelite/busybox:latest", "imageID": "sha256:2",
                               "containerID": "docker://b",
                               "state": {"running": {"startedAt": "2026-01-01T00:00:02Z"}},
                               "lastState": {"terminated": {"exitCode": 137, "signal": 9, "reason": "Error",
                                                            "message": "killed"}}}],
    },
}

SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"type": "NodePort", "selector": {"app": "web"},
             "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080},
                       {"name": "alt", "port": 8080, "targetPort": 9090}],
             "clusterIP": "10.96.0.12", "clusterIPs": ["10.96.0.12"], "sessionAffinity": "ClientIP",
             "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
             "externalTrafficPolicy": "Local", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
    "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
}

OTHERS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
     "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "unschedulable": True,
              "providerID": "kubelite://n1",
              "taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute",
                          "timeAdded": "2026-01-01T00:00:00Z"}]},
     "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "3900m", "memory": "7Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                                "reason": "KubeletReady", "message": "ok"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.2"},
                              {"type": "Hostname", "address": "n1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6",
                             "osImage": "Debian", "containerRuntimeVersion": "docker://24",
                             "kubeletVersion": "v1.30.0-kubelite", "kubeProxyVersion": "v1.30.0",
                             "operatingSystem": "linux", "architecture": "amd64"},
                "images": [{"names": ["kubelite/busybox:latest"], "sizeBytes": 2000000}]}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}, "spec": {"finalizers": ["kubernetes"]},
     "status": {"phase": "Terminating", "conditions": [{"type": "NamespaceDeletionContentFailure",
                                                         "status": "False"}]}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"},
     "subsets": [{"addresses": [{"ip": "10.244.0.5", "nodeName": "n1", "hostname": "a",
                                 "targetRef": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "u"}}],
                  "notReadyAddresses": [{"ip": "10.244.0.6"}],
                  "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
     "data": {"a.conf": "x=1\n"}, "binaryData": {"b": "AAE="}, "immutable": True},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
     "data": {"pw": "aHVudGVyMg=="}, "type": "Opaque"},
    {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "p.1", "namespace": "d"},
     "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u", "fieldPath": "spec.containers{a}"},
     "reason": "Pulled", "message": "ok", "type": "Normal", "count": 3,
     "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z",
     "eventTime": "2026-01-01T00:00:00.000001Z", "source": {"component": "kubelet", "host": "n1"},
     "reportingComponent": "kubelet", "reportingInstance": "n1", "action": "Pull",
     "series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}},
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "d"},
     "spec": {"serviceName": "db", "replicas": 2, "podManagementPolicy": "Parallel",
              "selector": {"matchLabels": {"app": "db"}},
              "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1, "maxUnavailable": 1}},
              "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
              "ordinals": {"start": 5},
              "template": {"metadata": {"labels": {"app": "db"}},
                           "spec": {"containers": [{"name": "db", "image": "db:1"}]}}},
     "status": {"replicas": 2, "readyReplicas": 1, "currentRevision": "db-1", "updateRevision": "db-2"}},
    {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
     "spec": {"selector": {"matchLabels": {"app": "agent"}},
              "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%", "maxSurge": 0}},
              "template": {"metadata": {"labels": {"app": "agent"}},
                           "spec": {"containers": [{"name": "a", "image": "a:1"}]}}},
     "status": {"currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1,
                "numberReady": 1}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "d"},
     "spec": {"parallelism": 2, "completions": 4, "backoffLimit": 3, "activeDeadlineSeconds": 100,
              "ttlSecondsAfterFinished": 60, "completionMode": "Indexed", "suspend": True,
              "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}},
     "status": {"active": 1, "succeeded": 2, "failed": 1, "startTime": "2026-01-01T00:00:00Z",
                "completionTime": "2026-01-01T00:10:00Z",
                "conditions": [{"type": "Complete", "status": "True"}]}},
    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1", "namespace": "kube-node-lease"},
     "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40, "acquireTime": "2026-01-01T00:00:00.000000Z",
              "renewTime": "2026-01-01T00:00:10.123456Z", "leaseTransitions": 0}},
    {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "namespace": "d"},
     "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}},
    {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "d"},
     "spec": {"replicas": 5}, "status": {"replicas": 3, "selector": "app=web"}},
    {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "d"},
     "deleteOptions": {"gracePeriodSeconds": 0}},
]


def _model(data: dict[str, Any]) -> type[models.Resource]:
    for cls in (Pod, Deployment, Service, Node, Namespace, Endpoints, ConfigMap, Secret, Event, StatefulSet,
                DaemonSet, Job, Lease, models.Binding, models.Scale, models.Eviction):
        if data["kind"] == cls.KIND:
            return cls
    raise AssertionError(data["kind"])


@pytest.mark.parametrize("manifest", [DEPLOYMENT, POD, SERVICE, *OTHERS], ids=lambda m: m["kind"])
def test_round_trip_preserves_everything(manifest: dict[str, Any]) -> None:
    original = copy.deepcopy(manifest)
    obj = _model(manifest).from_dict(manifest)
    assert obj.to_dict() == original
    assert manifest == original  # parsing never mutates its input


def test_int_or_string_keeps_the_type_sent() -> None:
    svc = Service.from_dict(SERVICE)
    assert svc.spec is not None and svc.spec.ports is not None
    assert svc.spec.ports[0].targetPort == "http"
    assert svc.spec.ports[1].targetPort == 9090
    svc2 = Service.from_dict({**SERVICE, "spec": {"ports": [{"port": 80, "targetPort": "8080"}]}})
    assert svc2.to_dict()["spec"]["ports"][0]["targetPort"] == "8080"
    dep = Deployment.from_dict(DEPLOYMENT)
    assert dep.spec and dep.spec.strategy and dep.spec.strategy.rollingUpdate
    assert dep.spec.strategy.rollingUpdate.maxSurge == 1
    assert dep.spec.strategy.rollingUpdate.maxUnavailable == "10%"


@pytest.mark.parametrize(("data", "loc"), [
    ({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}},
     ("spec", "containers", 0, "ports", 0, "containerPort")),
    ({"spec": {"containers": [{"name": "a"}], "hostNetwork": "yes"}}, ("spec", "hostNetwork")),
    ({"spec": {"containers": [{"name": "a", "stdin": 1}]}}, ("spec", "containers", 0, "stdin")),
    ({"spec": {"containers": [{"name": 5}]}}, ("spec", "containers", 0, "name")),
    ({"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": 1}]}]}},
     ("spec", "containers", 0, "env", 0, "value")),
    ({"spec": {"containers": [{"name": "a", "livenessProbe": {"tcpSocket": {"port": 1.5}}}]}},
     ("spec", "containers", 0, "livenessProbe", "tcpSocket", "port")),
])
def test_parsing_is_strict(data: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Pod.from_dict(data)
    assert any(tuple(e["loc"][: len(loc)]) == loc for e in info.value.errors())


def test_quantities_accept_numbers_as_strings() -> None:
    pod = Pod.from_dict({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": 1, "memory": 1.5}}}]}})
    assert pod.to_dict()["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "1.5"}
    with pytest.raises(pydantic.ValidationError):
        Pod.from_dict({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": True}}}]}})


def test_list_order_is_kept() -> None:
    names = [f"c{i}" for i in range(20)][::-1]
    pod = Pod.from_dict({"spec": {"containers": [{"name": n} for n in names]}})
    assert [c.name for c in pod.spec.containers] == names  # type: ignore[union-attr]


def test_unknown_volume_sources_survive() -> None:
    pod = Pod.from_dict(POD)
    vols = {v.name: v for v in pod.spec.volumes or []}  # type: ignore[union-attr]
    assert vols["weird"].sources() == ["csi"]
    assert vols["claim"].sources() == ["persistentVolumeClaim"]
    assert vols["data"].sources() == ["emptyDir"]


def test_api_version_and_kind_are_filled() -> None:
    assert Deployment().to_dict()["apiVersion"] == "apps/v1"
    assert Lease().kind == "Lease" and Lease.api_version() == "coordination.k8s.io/v1"
    assert models.Scale.api_version() == "autoscaling/v1"
    assert models.Eviction.api_version() == "policy/v1"
    assert Job.api_version() == "batch/v1"


def test_class_attributes() -> None:
    assert Pod.SHORT_NAMES == ("po",) and "eviction" in Pod.SUBRESOURCES and "binding" in Pod.SUBRESOURCES
    assert Deployment.SUBRESOURCES == ("status", "scale") and Deployment.CATEGORIES == ("all",)
    assert Namespace.SUBRESOURCES == ("status", "finalize") and not Namespace.NAMESPACED
    assert not Node.NAMESPACED and Node.SHORT_NAMES == ("no",)
    assert Job.SHORT_NAMES == () and Lease.SHORT_NAMES == () and Secret.SHORT_NAMES == ()
    assert Endpoints.PLURAL == "endpoints" and Endpoints.SHORT_NAMES == ("ep",)
    assert ConfigMap.CATEGORIES == () and Service.CATEGORIES == ("all",)


def test_delete_options_and_status() -> None:
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
            "preconditions": {"uid": "u", "resourceVersion": "7"}, "dryRun": ["All"], "orphanDependents": False}
    assert DeleteOptions.model_validate(body).to_dict() == body
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "m", "reason": "Invalid",
              "code": 422, "details": {"name": "x", "kind": "Pod",
                                       "causes": [{"reason": "FieldValueRequired", "field": "spec", "message": "m"}]}}
    assert models.Status.model_validate(status).to_dict() == status


def test_official_client_objects_parse() -> None:
    """What the official `kubernetes` client serializes is what our models read."""
    from kubernetes import client

    api = client.ApiClient()
    v1pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="p", namespace="d", labels={"a": "b"}),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="c", image="i", ports=[client.V1ContainerPort(container_port=80)],
            readiness_probe=client.V1Probe(http_get=client.V1HTTPGetAction(port="http", path="/")),
        )]),
    )
    wire = api.sanitize_for_serialization(v1pod)
    pod = Pod.from_dict(wire)
    assert pod.to_dict() == {"apiVersion": "v1", "kind": "Pod", **wire}
    # ... and the client can read what we dump.
    back = api.deserialize(json.dumps(pod.to_dict()), "V1Pod", "application/json")
    assert back.spec.containers[0].readiness_probe.http_get.port == "http"
    assert back.spec.containers[0].ports[0].container_port == 80
