"""Validation admission: every rule with a failing and a passing case, Kubernetes wording."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from apiserver.admission.validation import invalid_error, parse_object, validate
from machinery import errors, registry
from machinery.defaults import apply_defaults
from machinery.meta import Resource

DELETE = object()

POD: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d", "labels": {"app": "x"}},
       "spec": {"containers": [{"name": "a", "image": "busybox", "ports": [{"containerPort": 80, "name": "http"}],
                                "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}},
                                "livenessProbe": {"httpGet": {"port": "http"}},
                                "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}]}}
TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "a", "image": "busybox"}]}}
SELECTOR: dict[str, Any] = {"matchLabels": {"app": "x"}}
BASE: dict[str, dict[str, Any]] = {
    "Pod": POD,
    "Deployment": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "d"},
                   "spec": {"selector": SELECTOR, "template": TEMPLATE}},
    "ReplicaSet": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r", "namespace": "d"},
                   "spec": {"selector": SELECTOR, "template": TEMPLATE}},
    "StatefulSet": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "namespace": "d"},
                    "spec": {"serviceName": "s", "selector": SELECTOR, "template": TEMPLATE}},
    "DaemonSet": {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds", "namespace": "d"},
                  "spec": {"selector": SELECTOR, "template": TEMPLATE}},
    "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "d"},
            "spec": {"template": {"spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}}},
    "Service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "d"},
                "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}},
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
                  "data": {"a.conf": "x"}, "binaryData": {"b": "AAE="}},
    "Secret": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
               "data": {"pw": "eA=="}},
    "Node": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
             "spec": {"podCIDR": "10.244.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]}},
    "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
    "Lease": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
              "metadata": {"name": "n1", "namespace": "kube-node-lease"},
              "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                       "renewTime": "2026-01-01T00:00:00.123456Z"}},
    "Endpoints": {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "d"},
                  "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 8080}]}]},
    "Event": {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "p.1", "namespace": "d"},
              "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "R"},
    "Binding": {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "namespace": "d"},
                "target": {"kind": "Node", "name": "n1"}},
}


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b[0].c` / `metadata.labels[key]` in a nested dict; DELETE removes it."""
    parts = re.findall(r"[^.\[\]]+|\[[^\]]*\]", path)
    cur: Any = data
    for i, part in enumerate(parts):
        key: Any = int(part[1:-1]) if part.startswith("[") and part[1:-1].isdigit() else part.strip("[]")
        last = i == len(parts) - 1
        if last:
            if value is DELETE:
                del cur[key]
            elif isinstance(cur, list) and key == len(cur):
                cur.append(value)
            else:
                cur[key] = value
        else:
            if isinstance(cur, dict) and key not in cur:
                cur[key] = {}
            cur = cur[key]


def check(kind: str, changes: dict[str, Any], *, old_changes: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Validate BASE[kind] with `changes`; with `old_changes`, as an update of BASE[kind] with
    those: the new object starts from the stored (defaulted) old one, as a client's PUT does."""
    data = copy.deepcopy(BASE[kind])
    old: Resource | None = None
    cls = registry.model_for(data)
    if old_changes is not None:
        for path, value in old_changes.items():
            _set(data, path, value)
        old, old_causes = parse_object(cls, data)
        assert not old_causes and old is not None
        data = apply_defaults(old).to_dict()
    for path, value in changes.items():
        _set(data, path, value)
    obj, causes = parse_object(cls, data)
    if causes:
        return causes
    assert obj is not None
    apply_defaults(obj)
    return validate(obj, old)


@pytest.mark.parametrize("kind", list(BASE))
def test_base_manifests_are_valid(kind: str) -> None:
    assert check(kind, {}) == []


# (kind, changes that break it, reason, field, changes that are fine)
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any]]] = [
    # metadata
    ("Pod", {"metadata.name": "Foo_bar"}, "FieldValueInvalid", "metadata.name", {"metadata.name": "foo.bar-1"}),
    ("Pod", {"metadata.name": "a" * 254}, "FieldValueInvalid", "metadata.name", {"metadata.name": "a" * 253}),
    ("Pod", {"metadata.name": DELETE}, "FieldValueRequired", "metadata.name",
     {"metadata.name": DELETE, "metadata.generateName": "web-"}),
    ("Pod", {"metadata.name": DELETE, "metadata.generateName": "Web-"}, "FieldValueInvalid",
     "metadata.generateName", {"metadata.name": DELETE, "metadata.generateName": "web"}),
    ("Service", {"metadata.name": "1web"}, "FieldValueInvalid", "metadata.name", {"metadata.name": "web1"}),
    ("Service", {"metadata.name": "a.b"}, "FieldValueInvalid", "metadata.name", {"metadata.name": "a-b"}),
    ("Namespace", {"metadata.name": "a.b"}, "FieldValueInvalid", "metadata.name", {"metadata.name": "1a-b"}),
    ("Pod", {"metadata.namespace": DELETE}, "FieldValueRequired", "metadata.namespace", {"metadata.namespace": "x"}),
    ("Pod", {"metadata.namespace": "Bad"}, "FieldValueInvalid", "metadata.namespace", {"metadata.namespace": "ok"}),
    ("Node", {"metadata.namespace": "d"}, "FieldValueForbidden", "metadata.namespace", {"metadata.namespace": ""}),
    ("Pod", {"metadata.labels": {"bad key!": "v"}}, "FieldValueInvalid", "metadata.labels",
     {"metadata.labels": {"example.com/key_1.x": "v"}}),
    ("Pod", {"metadata.labels": {"k": "bad value!"}}, "FieldValueInvalid", "metadata.labels[k]",
     {"metadata.labels": {"k": "Good_value.1"}}),
    ("Pod", {"metadata.labels": {"k": "v" * 64}}, "FieldValueInvalid", "metadata.labels[k]",
     {"metadata.labels": {"k": ""}}),
    ("Pod", {"metadata.annotations": {"a/b/c": "x"}}, "FieldValueInvalid", "metadata.annotations",
     {"metadata.annotations": {"Example.COM/Anything": "any value !"}}),
    ("Pod", {"metadata.ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "n"}]}, "FieldValueRequired",
     "metadata.ownerReferences[0].uid",
     {"metadata.ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "n", "uid": "u"}]}),
    ("Pod", {"metadata.finalizers": ["bad finalizer"]}, "FieldValueInvalid", "metadata.finalizers[0]",
     {"metadata.finalizers": ["example.com/f"]}),
    # containers
    ("Pod", {"spec.containers": []}, "FieldValueRequired", "spec.containers", {}),
    ("Pod", {"spec.containers[0].image": DELETE}, "FieldValueRequired", "spec.containers[0].image",
     {"spec.containers[0].image": "x:1"}),
    ("Pod", {"spec.containers[0].image": " x"}, "FieldValueInvalid", "spec.containers[0].image", {}),
    ("Pod", {"spec.containers[0].name": "A_b"}, "FieldValueInvalid", "spec.containers[0].name",
     {"spec.containers[0].name": "a-b"}),
    ("Pod", {"spec.initContainers": [{"name": "a", "image": "i"}]}, "FieldValueDuplicate",
     "spec.containers[0].name", {"spec.initContainers": [{"name": "b", "image": "i"}]}),
    ("Pod", {"spec.containers[0].imagePullPolicy": "Sometimes"}, "FieldValueNotSupported",
     "spec.containers[0].imagePullPolicy", {"spec.containers[0].imagePullPolicy": "Never"}),
    # ports
    ("Pod", {"spec.containers[0].ports[0].containerPort": 0}, "FieldValueInvalid",
     "spec.containers[0].ports[0].containerPort", {"spec.containers[0].ports[0].containerPort": 65535}),
    ("Pod", {"spec.containers[0].ports[0].containerPort": 65536}, "FieldValueInvalid",
     "spec.containers[0].ports[0].containerPort", {"spec.containers[0].ports[0].containerPort": 1}),
    ("Pod", {"spec.containers[0].ports[0].hostPort": 70000}, "FieldValueInvalid",
     "spec.containers[0].ports[0].hostPort", {"spec.containers[0].ports[0].hostPort": 8080}),
    ("Pod", {"spec.containers[0].ports[0].protocol": "ICMP"}, "FieldValueNotSupported",
     "spec.containers[0].ports[0].protocol", {"spec.containers[0].ports[0].protocol": "SCTP"}),
    ("Pod", {"spec.containers[0].ports[1]": {"containerPort": 81, "name": "http"}}, "FieldValueDuplicate",
     "spec.containers[0].ports[1].name", {"spec.containers[0].ports[1]": {"containerPort": 81, "name": "metrics"}}),
    ("Pod", {"spec.containers[0].ports[0].name": "a--b"}, "FieldValueInvalid",
     "spec.containers[0].ports[0].name", {"spec.containers[0].ports[0].name": "a-b"}),
    # env
    ("Pod", {"spec.containers[0].env": [{"name": ""}]}, "FieldValueRequired", "spec.containers[0].env[0].name",
     {"spec.containers[0].env": [{"name": "A", "value": "1"}]}),
    ("Pod", {"spec.containers[0].env": [{"name": "A", "valueFrom": {}}]}, "FieldValueRequired",
     "spec.containers[0].env[0].valueFrom",
     {"spec.containers[0].env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
    ("Pod", {"spec.containers[0].env": [{"name": "A", "value": "x", "valueFrom": {
        "fieldRef": {"fieldPath": "metadata.name"}}}]}, "FieldValueInvalid", "spec.containers[0].env[0].valueFrom",
     {"spec.containers[0].env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}),
    # resources
    ("Pod", {"spec.containers[0].resources.requests.cpu": "2"}, "FieldValueInvalid",
     "spec.containers[0].resources.requests[cpu]", {"spec.containers[0].resources.requests.cpu": "1000m"}),
    ("Pod", {"spec.containers[0].resources.limits.memory": "lots"}, "FieldValueInvalid",
     "spec.containers[0].resources.limits[memory]", {"spec.containers[0].resources.limits.memory": "1.5Gi"}),
    ("Pod", {"spec.containers[0].resources.limits.cpu": "-1"}, "FieldValueInvalid",
     "spec.containers[0].resources.limits[cpu]", {"spec.containers[0].resources.limits.cpu": "0.5"}),
    ("Pod", {"spec.containers[0].resources.limits.disk": "1"}, "FieldValueInvalid",
     "spec.containers[0].resources.limits[disk]", {"spec.containers[0].resources.limits.ephemeral-storage": "1Gi"}),
    # probes
    ("Pod", {"spec.containers[0].livenessProbe": {"periodSeconds": 3}}, "FieldValueRequired",
     "spec.containers[0].livenessProbe", {"spec.containers[0].livenessProbe": {"tcpSocket": {"port": 80}}}),
    ("Pod", {"spec.containers[0].livenessProbe.exec": {"command": ["true"]}}, "FieldValueForbidden",
     "spec.containers[0].livenessProbe.httpGet", {}),
    ("Pod", {"spec.containers[0].readinessProbe": {"exec": {"command": ["x"]}, "failureThreshold": 0}},
     "FieldValueInvalid", "spec.containers[0].readinessProbe.failureThreshold",
     {"spec.containers[0].readinessProbe": {"exec": {"command": ["x"]}, "successThreshold": 2}}),
    ("Pod", {"spec.containers[0].livenessProbe.successThreshold": 2}, "FieldValueInvalid",
     "spec.containers[0].livenessProbe.successThreshold", {"spec.containers[0].livenessProbe.successThreshold": 1}),
    ("Pod", {"spec.containers[0].livenessProbe.periodSeconds": 0}, "FieldValueInvalid",
     "spec.containers[0].livenessProbe.periodSeconds", {"spec.containers[0].livenessProbe.periodSeconds": 1}),
    ("Pod", {"spec.containers[0].livenessProbe.httpGet.port": 0}, "FieldValueInvalid",
     "spec.containers[0].livenessProbe.httpGet.port", {"spec.containers[0].livenessProbe.httpGet.port": 8080}),
    ("Pod", {"spec.containers[0].livenessProbe.httpGet.scheme": "FTP"}, "FieldValueNotSupported",
     "spec.containers[0].livenessProbe.httpGet.scheme", {"spec.containers[0].livenessProbe.httpGet.scheme": "HTTPS"}),
    # volumes
    ("Pod", {"spec.containers[0].volumeMounts[0].name": "nope"}, "FieldValueNotFound",
     "spec.containers[0].volumeMounts[0].name", {}),
    ("Pod", {"spec.volumes[1]": {"name": "v", "emptyDir": {}}}, "FieldValueDuplicate", "spec.volumes[1].name",
     {"spec.volumes[1]": {"name": "w", "hostPath": {"path": "/tmp"}}}),
    ("Pod", {"spec.volumes[0]": {"name": "v"}}, "FieldValueRequired", "spec.volumes[0]",
     {"spec.volumes[0]": {"name": "v", "persistentVolumeClaim": {"claimName": "c"}}}),
    ("Pod", {"spec.volumes[0].hostPath": {"path": "/x"}}, "FieldValueForbidden", "spec.volumes[0].hostPath", {}),
    ("Pod", {"spec.volumes[0]": {"name": "v", "configMap": {}}}, "FieldValueRequired", "spec.volumes[0].configMap.name",
     {"spec.volumes[0]": {"name": "v", "configMap": {"name": "c"}}}),
    # pod-level fields
    ("Pod", {"spec.restartPolicy": "Sometimes"}, "FieldValueNotSupported", "spec.restartPolicy",
     {"spec.restartPolicy": "Never"}),
    ("Pod", {"spec.dnsPolicy": "Google"}, "FieldValueNotSupported", "spec.dnsPolicy", {"spec.dnsPolicy": "Default"}),
    ("Pod", {"spec.dnsPolicy": "None"}, "FieldValueRequired", "spec.dnsConfig.nameservers",
     {"spec.dnsPolicy": "None", "spec.dnsConfig": {"nameservers": ["10.96.0.10"]}}),
    ("Pod", {"spec.terminationGracePeriodSeconds": -1}, "FieldValueInvalid", "spec.terminationGracePeriodSeconds",
     {"spec.terminationGracePeriodSeconds": 0}),
    ("Pod", {"spec.activeDeadlineSeconds": 0}, "FieldValueInvalid", "spec.activeDeadlineSeconds",
     {"spec.activeDeadlineSeconds": 1}),
    ("Pod", {"spec.hostname": "Bad_host"}, "FieldValueInvalid", "spec.hostname", {"spec.hostname": "host-1"}),
    ("Pod", {"spec.nodeName": "Node_1"}, "FieldValueInvalid", "spec.nodeName", {"spec.nodeName": "node-1.lan"}),
    ("Pod", {"spec.nodeSelector": {"k": "bad value!"}}, "FieldValueInvalid", "spec.nodeSelector[k]",
     {"spec.nodeSelector": {"disktype": "ssd"}}),
    ("Pod", {"spec.tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, "FieldValueInvalid",
     "spec.tolerations[0].operator", {"spec.tolerations": [{"key": "k", "operator": "Exists"}]}),
    ("Pod", {"spec.tolerations": [{"operator": "Equal", "value": "v"}]}, "FieldValueInvalid",
     "spec.tolerations[0].operator", {"spec.tolerations": [{"operator": "Exists"}]}),
    ("Pod", {"spec.tolerations": [{"key": "k", "effect": "Explode"}]}, "FieldValueNotSupported",
     "spec.tolerations[0].effect", {"spec.tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": 5}]}),
    ("Pod", {"spec.tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}, "FieldValueInvalid",
     "spec.tolerations[0].effect", {"spec.tolerations": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}),
    ("Pod", {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms": []},
     "FieldValueRequired",
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
     {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms": [
         {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["3"]}]}]}),
    ("Pod", {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "In"}]}]}, "FieldValueRequired",
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchExpressions[0].values", {}),
    ("Pod", {"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 0, "preference": {}}]}, "FieldValueInvalid",
     "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
     {"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 100, "preference": {}}]}),
    # workloads
    ("Deployment", {"spec.selector": DELETE}, "FieldValueRequired", "spec.selector", {}),
    ("Deployment", {"spec.selector": {}}, "FieldValueInvalid", "spec.selector", {}),
    ("Deployment", {"spec.selector.matchLabels.app": "y"}, "FieldValueInvalid", "spec.template.metadata.labels",
     {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x", "y"]}]}}),
    ("ReplicaSet", {"spec.selector.matchLabels.app": "y"}, "FieldValueInvalid", "spec.template.metadata.labels", {}),
    ("StatefulSet", {"spec.selector": DELETE}, "FieldValueRequired", "spec.selector", {}),
    ("DaemonSet", {"spec.selector.matchLabels.app": "y"}, "FieldValueInvalid", "spec.template.metadata.labels", {}),
    ("Deployment", {"spec.selector.matchExpressions": [{"key": "a", "operator": "Near"}]}, "FieldValueNotSupported",
     "spec.selector.matchExpressions[0].operator",
     {"spec.selector.matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}),
    ("Deployment", {"spec.replicas": -1}, "FieldValueInvalid", "spec.replicas", {"spec.replicas": 0}),
    ("ReplicaSet", {"spec.replicas": -1}, "FieldValueInvalid", "spec.replicas", {"spec.replicas": 0}),
    ("StatefulSet", {"spec.replicas": -1}, "FieldValueInvalid", "spec.replicas", {"spec.replicas": 0}),
    ("Deployment", {"spec.template.spec.restartPolicy": "OnFailure"}, "FieldValueNotSupported",
     "spec.template.spec.restartPolicy", {"spec.template.spec.restartPolicy": "Always"}),
    ("ReplicaSet", {"spec.template.spec.restartPolicy": "Never"}, "FieldValueNotSupported",
     "spec.template.spec.restartPolicy", {}),
    ("Deployment", {"spec.template.spec.containers[0].image": DELETE}, "FieldValueRequired",
     "spec.template.spec.containers[0].image", {}),
    ("Deployment", {"spec.template": DELETE}, "FieldValueRequired", "spec.template", {}),
    ("Deployment", {"spec.strategy": {"type": "Blue"}}, "FieldValueNotSupported", "spec.strategy.type",
     {"spec.strategy": {"type": "Recreate"}}),
    ("Deployment", {"spec.strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}, "FieldValueForbidden",
     "spec.strategy.rollingUpdate", {}),
    ("Deployment", {"spec.strategy.rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}, "FieldValueInvalid",
     "spec.strategy.rollingUpdate.maxUnavailable", {"spec.strategy.rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
    ("Deployment", {"spec.strategy.rollingUpdate": {"maxSurge": "ten"}}, "FieldValueInvalid",
     "spec.strategy.rollingUpdate.maxSurge", {"spec.strategy.rollingUpdate": {"maxSurge": "10%"}}),
    ("Deployment", {"spec.strategy.rollingUpdate": {"maxUnavailable": "150%"}}, "FieldValueInvalid",
     "spec.strategy.rollingUpdate.maxUnavailable", {"spec.strategy.rollingUpdate": {"maxUnavailable": "100%"}}),
    ("Deployment", {"spec.minReadySeconds": 700}, "FieldValueInvalid", "spec.progressDeadlineSeconds",
     {"spec.minReadySeconds": 599}),
    ("Deployment", {"spec.revisionHistoryLimit": -1}, "FieldValueInvalid", "spec.revisionHistoryLimit",
     {"spec.revisionHistoryLimit": 0}),
    ("StatefulSet", {"spec.podManagementPolicy": "Random"}, "FieldValueNotSupported", "spec.podManagementPolicy",
     {"spec.podManagementPolicy": "Parallel"}),
    ("StatefulSet", {"spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}},
     "FieldValueInvalid", "spec.updateStrategy.rollingUpdate.partition", {"spec.updateStrategy": {"type": "OnDelete"}}),
    ("DaemonSet", {"spec.updateStrategy": {"type": "Never"}}, "FieldValueNotSupported", "spec.updateStrategy.type",
     {"spec.updateStrategy": {"type": "OnDelete"}}),
    ("DaemonSet", {"spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": 0}}}, "FieldValueInvalid", "spec.updateStrategy.rollingUpdate.maxUnavailable",
     {"spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}}),
    ("Job", {"spec.template.spec.restartPolicy": "Always"}, "FieldValueNotSupported",
     "spec.template.spec.restartPolicy", {"spec.template.spec.restartPolicy": "OnFailure"}),
    ("Job", {"spec.template.spec.restartPolicy": DELETE}, "FieldValueRequired", "spec.template.spec.restartPolicy", {}),
    ("Job", {"spec.selector": {"matchLabels": {"a": "b"}}}, "FieldValueInvalid", "spec.template.metadata.labels",
     {"spec.selector": {"matchLabels": {"a": "b"}}, "spec.template.metadata": {"labels": {"a": "b"}}}),
    ("Job", {"spec.backoffLimit": -1}, "FieldValueInvalid", "spec.backoffLimit", {"spec.backoffLimit": 0}),
    ("Job", {"spec.parallelism": -1}, "FieldValueInvalid", "spec.parallelism", {"spec.parallelism": 0}),
    ("Job", {"spec.completions": -1}, "FieldValueInvalid", "spec.completions", {"spec.completions": 5}),
    ("Job", {"spec.activeDeadlineSeconds": 0}, "FieldValueInvalid", "spec.activeDeadlineSeconds",
     {"spec.activeDeadlineSeconds": 1}),
    ("Job", {"spec.completionMode": "Indexed", "spec.parallelism": 2}, "FieldValueRequired", "spec.completions",
     {"spec.completionMode": "Indexed"}),
    ("Job", {"spec.completionMode": "Sorted"}, "FieldValueNotSupported", "spec.completionMode", {}),
    # services
    ("Service", {"spec.type": "Magic"}, "FieldValueNotSupported", "spec.type", {"spec.type": "LoadBalancer"}),
    # a DNS-1123 label (kubectl create service --tcp=80:8080 names its port "80-8080")
    ("Service", {"spec.ports[0].name": "Http_1"}, "FieldValueInvalid", "spec.ports[0].name",
     {"spec.ports[0].name": "80-8080"}),
    ("Service", {"spec.ports": []}, "FieldValueRequired", "spec.ports", {"spec.ports": [], "spec.clusterIP": "None"}),
    ("Service", {"spec.ports": DELETE}, "FieldValueRequired", "spec.ports",
     {"spec.ports": DELETE, "spec.type": "ExternalName", "spec.externalName": "example.com"}),
    ("Service", {"spec.type": "ExternalName"}, "FieldValueRequired", "spec.externalName",
     {"spec.type": "ExternalName", "spec.externalName": "db.example.com."}),
    ("Service", {"spec.ports[1]": {"port": 81}}, "FieldValueRequired", "spec.ports[0].name",
     {"spec.ports[0].name": "a", "spec.ports[1]": {"port": 81, "name": "b"}}),
    ("Service", {"spec.ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]}, "FieldValueDuplicate",
     "spec.ports[1].name", {}),
    ("Service", {"spec.ports[0].port": 0}, "FieldValueInvalid", "spec.ports[0].port", {"spec.ports[0].port": 65535}),
    ("Service", {"spec.ports[0].protocol": "HTTP"}, "FieldValueNotSupported", "spec.ports[0].protocol",
     {"spec.ports[0].protocol": "UDP"}),
    ("Service", {"spec.ports[0].targetPort": 70000}, "FieldValueInvalid", "spec.ports[0].targetPort",
     {"spec.ports[0].targetPort": "http"}),
    ("Service", {"spec.type": "NodePort", "spec.ports[0].nodePort": 80}, "FieldValueInvalid", "spec.ports[0].nodePort",
     {"spec.type": "NodePort", "spec.ports[0].nodePort": 30080}),
    ("Service", {"spec.ports[0].nodePort": 30080}, "FieldValueForbidden", "spec.ports[0].nodePort", {}),
    ("Service", {"spec.type": "NodePort", "spec.clusterIP": "None"}, "FieldValueInvalid", "spec.clusterIP",
     {"spec.clusterIP": "None"}),
    ("Service", {"spec.clusterIP": "10.96.0.300"}, "FieldValueInvalid", "spec.clusterIP",
     {"spec.clusterIP": "10.96.0.30"}),
    ("Service", {"spec.sessionAffinity": "Sticky"}, "FieldValueNotSupported", "spec.sessionAffinity",
     {"spec.sessionAffinity": "ClientIP"}),
    ("Service", {"spec.externalTrafficPolicy": "Local"}, "FieldValueInvalid", "spec.externalTrafficPolicy",
     {"spec.type": "NodePort", "spec.externalTrafficPolicy": "Local"}),
    ("Service", {"spec.selector": {"app": "bad value!"}}, "FieldValueInvalid", "spec.selector[app]", {}),
    # config
    ("ConfigMap", {"data": {"bad/key": "x"}}, "FieldValueInvalid", "data[bad/key]", {"data": {"Key_1.-x": "x"}}),
    ("ConfigMap", {"data": {"..x": "x"}}, "FieldValueInvalid", "data[..x]", {"data": {".x": "x"}}),
    ("ConfigMap", {"binaryData": {"a.conf": "AAE="}}, "FieldValueInvalid", "binaryData[a.conf]", {}),
    ("ConfigMap", {"binaryData": {"b": "not base64!"}}, "FieldValueInvalid", "binaryData[b]", {}),
    ("ConfigMap", {"data": {"a": "x" * (1024 * 1024 + 1)}}, "FieldValueTooLong", "data", {}),
    ("Secret", {"data": {"pw": "eA"}}, "FieldValueInvalid", "data[pw]", {"data": {"pw": ""}}),
    ("Secret", {"data": {"a b": "eA=="}}, "FieldValueInvalid", "data[a b]", {"stringData": {"a": "plain"}}),
    ("Secret", {"type": "kubernetes.io/tls"}, "FieldValueRequired", "data[tls.crt]",
     {"type": "kubernetes.io/tls", "data": {"tls.crt": "eA==", "tls.key": "eA=="}}),
    # nodes, leases, endpoints, bindings
    ("Node", {"spec.podCIDR": "10.244.0.0/33"}, "FieldValueInvalid", "spec.podCIDR", {"spec.podCIDR": "fd00::/64"}),
    ("Node", {"spec.taints[0].effect": "Boom"}, "FieldValueNotSupported", "spec.taints[0].effect",
     {"spec.taints[0].effect": "NoExecute"}),
    ("Node", {"spec.taints[1]": {"key": "k", "effect": "NoSchedule"}}, "FieldValueDuplicate", "spec.taints[1]",
     {"spec.taints[1]": {"key": "k", "effect": "NoExecute"}}),
    ("Lease", {"spec.leaseDurationSeconds": 0}, "FieldValueInvalid", "spec.leaseDurationSeconds",
     {"spec.leaseDurationSeconds": 1}),
    ("Lease", {"spec.leaseTransitions": -1}, "FieldValueInvalid", "spec.leaseTransitions",
     {"spec.leaseTransitions": 0}),
    ("Lease", {"spec.renewTime": "yesterday"}, "FieldValueInvalid", "spec.renewTime",
     {"spec.renewTime": "2026-01-01T00:00:00Z"}),
    ("Endpoints", {"subsets[0].addresses[0].ip": "pod-a"}, "FieldValueInvalid", "subsets[0].addresses[0].ip",
     {"subsets[0].addresses[0].ip": "fd00::1"}),
    ("Endpoints", {"subsets[0].ports[0].port": 0}, "FieldValueInvalid", "subsets[0].ports[0].port", {}),
    ("Binding", {"target.name": DELETE}, "FieldValueRequired", "target.name", {}),
    ("Binding", {"target.kind": "Pod"}, "FieldValueNotSupported", "target.kind", {"target.kind": DELETE}),
]


@pytest.mark.parametrize(("kind", "bad", "reason", "field", "good"), CASES,
                         ids=[f"{c[0]}:{c[3]}:{c[2]}" for c in CASES])
def test_rule(kind: str, bad: dict[str, Any], reason: str, field: str, good: dict[str, Any]) -> None:
    causes = check(kind, bad)
    assert {"reason": reason, "field": field} in [{"reason": c["reason"], "field": c["field"]} for c in causes], causes
    assert check(kind, good) == []


# --- updates ---------------------------------------------------------------------------------

UPDATE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (kind, old changes, new changes, reason, field); reason "" means valid
    ("Pod", {}, {"spec.containers[0].image": "busybox:2"}, "", ""),
    ("Pod", {}, {"spec.activeDeadlineSeconds": 30}, "", ""),
    ("Pod", {"spec.activeDeadlineSeconds": 30}, {"spec.activeDeadlineSeconds": 20}, "", ""),
    ("Pod", {"spec.activeDeadlineSeconds": 30}, {"spec.activeDeadlineSeconds": 40}, "FieldValueInvalid",
     "spec.activeDeadlineSeconds"),
    ("Pod", {"spec.tolerations": [{"key": "a", "operator": "Exists"}]},
     {"spec.tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}, "", ""),
    ("Pod", {"spec.tolerations": [{"key": "a", "operator": "Exists"}]}, {"spec.tolerations": []},
     "FieldValueForbidden", "spec"),
    ("Pod", {}, {"spec.containers[0].command": ["sh"]}, "FieldValueForbidden", "spec"),
    ("Pod", {}, {"spec.restartPolicy": "Never"}, "FieldValueForbidden", "spec"),
    ("Pod", {}, {"metadata.labels": {"app": "y"}}, "", ""),
    ("Deployment", {}, {"spec.replicas": 5, "spec.template.spec.containers[0].image": "b:2"}, "", ""),
    ("Deployment", {}, {"spec.selector.matchLabels.tier": "x", "spec.template.metadata.labels.tier": "x"},
     "FieldValueInvalid", "spec.selector"),
    ("ReplicaSet", {}, {"spec.selector.matchLabels.tier": "x", "spec.template.metadata.labels.tier": "x"},
     "FieldValueInvalid", "spec.selector"),
    ("StatefulSet", {}, {"spec.replicas": 3, "spec.template.spec.containers[0].image": "b:2"}, "", ""),
    ("StatefulSet", {}, {"spec.serviceName": "other"}, "FieldValueForbidden", "spec"),
    ("Job", {}, {"spec.template.spec.containers[0].image": "b:2"}, "FieldValueInvalid", "spec.template"),
    ("Job", {}, {"spec.activeDeadlineSeconds": 9}, "", ""),
    ("Service", {"spec.clusterIP": "10.96.0.5"}, {"spec.clusterIP": "10.96.0.6"}, "FieldValueInvalid",
     "spec.clusterIP"),
    ("Service", {"spec.clusterIP": "10.96.0.5"}, {"spec.clusterIP": "10.96.0.5", "spec.ports[0].port": 81}, "", ""),
    ("ConfigMap", {"immutable": True}, {"immutable": True, "data": {"a.conf": "y"}}, "FieldValueForbidden", "data"),
    ("ConfigMap", {"immutable": True}, {"immutable": False}, "FieldValueForbidden", "immutable"),
    ("ConfigMap", {}, {"data": {"a.conf": "y"}, "immutable": True}, "", ""),
    ("Secret", {"immutable": True}, {"immutable": True, "data": {"pw": "eQ=="}}, "FieldValueForbidden", "data"),
]


@pytest.mark.parametrize(("kind", "old", "new", "reason", "field"), UPDATE_CASES)
def test_update_rules(kind: str, old: dict[str, Any], new: dict[str, Any], reason: str, field: str) -> None:
    causes = check(kind, new, old_changes=old)
    if not reason:
        assert causes == []
    else:
        assert {"reason": reason, "field": field} in [{"reason": c["reason"], "field": c["field"]} for c in causes]
        assert check(kind, {}, old_changes=old) == []  # no change at all is always fine


# --- parsing and the error shape -------------------------------------------------------------


def test_parse_object_names_every_bad_field_by_path() -> None:
    data: dict[str, Any] = copy.deepcopy(POD)
    data["spec"]["containers"][0]["ports"].append({"containerPort": "8080"})
    data["spec"]["containers"][0]["stdin"] = "yes"
    data["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = 1.5
    data["metadata"]["labels"]["n"] = 3
    data["spec"]["containers"][0]["env"] = [{"value": "x"}]
    data["spec"]["replicas"] = "ignored: unknown fields are dropped"
    obj, causes = parse_object(registry.resolve("po"), data)
    assert obj is None
    by_field = {c["field"]: c for c in causes}
    assert by_field["spec.containers[0].ports[1].containerPort"] == {
        "reason": "FieldValueInvalid", "field": "spec.containers[0].ports[1].containerPort",
        "message": 'Invalid value: "8080": must be of type integer'}
    assert by_field["spec.containers[0].stdin"]["message"] == 'Invalid value: "yes": must be of type boolean'
    assert by_field["spec.containers[0].livenessProbe.httpGet.port"]["message"] == \
        "Invalid value: 1.5: must be of type integer or string"
    assert by_field["metadata.labels[n]"]["reason"] == "FieldValueInvalid"
    assert by_field["spec.containers[0].env[0].name"] == {
        "reason": "FieldValueRequired", "field": "spec.containers[0].env[0].name", "message": "Required value"}
    assert len(causes) == 5


def test_parse_object_paths_for_maps_and_extras() -> None:
    _, causes = parse_object(registry.resolve("deploy"), {"spec": {"replicas": "3", "template": {
        "spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": [1]}}}]}}}})
    assert {c["field"] for c in causes} == {"spec.replicas", "spec.template.spec.containers[0].resources.limits[cpu]"}
    _, causes = parse_object(registry.resolve("po"), {"spec": {"containers": [{"name": "a"}],
                                                               "volumes": [{"name": 1, "csi": {"x": 1}}]}})
    assert [c["field"] for c in causes] == ["spec.volumes[0].name"]
    _, causes = parse_object(registry.resolve("po"), ["not", "an", "object"])
    assert causes and causes[0]["reason"] == "FieldValueInvalid"
    _, causes = parse_object(registry.resolve("po"), {"spec": {}})
    assert causes == [{"reason": "FieldValueRequired", "field": "spec.containers", "message": "Required value"}]


def test_invalid_error_wording() -> None:
    cls = registry.resolve("pod")
    one = [{"reason": "FieldValueRequired", "field": "spec.containers[0].image", "message": "Required value"}]
    err = invalid_error(cls, "x", one)
    assert isinstance(err, errors.Invalid) and err.code == 422
    assert err.message == 'Pod "x" is invalid: spec.containers[0].image: Required value'
    two = [*one, {"reason": "FieldValueInvalid", "field": "metadata.name", "message": 'Invalid value: "X": bad'}]
    status = invalid_error(cls, "x", two).to_status()
    assert status["message"] == ('Pod "x" is invalid: [spec.containers[0].image: Required value, '
                                 'metadata.name: Invalid value: "X": bad]')
    assert status["reason"] == "Invalid" and status["code"] == 422
    assert status["details"] == {"name": "x", "kind": "Pod", "causes": two}
    dep = invalid_error(registry.resolve("deploy"), "d", one).to_status()
    assert dep["details"]["group"] == "apps" and dep["message"].startswith('Deployment "d" is invalid: ')


def test_kubernetes_messages() -> None:
    causes = check("Pod", {"metadata.name": "Foo_bar", "spec.restartPolicy": "Sometimes",
                           "spec.containers[0].ports[0].containerPort": 0})
    msgs = {c["field"]: c["message"] for c in causes}
    assert msgs["metadata.name"].startswith('Invalid value: "Foo_bar": a lowercase RFC 1123 subdomain must consist')
    assert msgs["spec.restartPolicy"] == \
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    assert msgs["spec.containers[0].ports[0].containerPort"] == \
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    dep = check("Deployment", {"spec.selector.matchLabels.app": "y"})
    assert dep == [{"reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
                    "message": 'Invalid value: {"app":"x"}: `selector` does not match template `labels`'}]


def test_validate_accepts_old_by_keyword() -> None:
    cls = registry.resolve("po")
    obj, _ = parse_object(cls, copy.deepcopy(POD))
    assert obj is not None
    apply_defaults(obj)
    assert validate(obj, old=obj) == [] and validate(obj) == []


def test_scale_and_eviction_bodies() -> None:
    scale_cls = registry.by_kind("Scale")
    bad, _ = parse_object(scale_cls, {"metadata": {"name": "w", "namespace": "d"}, "spec": {"replicas": -1}})
    good, _ = parse_object(scale_cls, {"metadata": {"name": "w", "namespace": "d"}, "spec": {"replicas": 0}})
    assert bad is not None and good is not None
    assert [c["field"] for c in validate(bad)] == ["spec.replicas"]
    assert validate(good) == []
    eviction, causes = parse_object(registry.by_kind("Eviction"), {"metadata": {"name": "p", "namespace": "d"},
                                                                   "deleteOptions": {"gracePeriodSeconds": "5"}})
    assert eviction is None and [c["field"] for c in causes] == ["deleteOptions.gracePeriodSeconds"]


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [prefix] + [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [prefix] + [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


def test_garbage_never_raises() -> None:
    """Any value anywhere: parse, default and validate answer causes, never an exception."""
    import random

    from tests.unit.test_models import DEPLOYMENT, OTHERS
    from tests.unit.test_models import POD as FULL_POD
    from tests.unit.test_models import SERVICE as FULL_SERVICE

    rng = random.Random(7)
    junk: list[Any] = [None, "", "x", "-1", -1, 0, 2**40, 1.5, True, [], {}, [1], {"a": 1}, "Foo_Bar", "1e3Gi"]
    manifests = [DEPLOYMENT, FULL_POD, FULL_SERVICE, *OTHERS, *BASE.values()]
    for _ in range(600):
        data = copy.deepcopy(rng.choice(manifests))
        cls = registry.model_for(data)
        path = rng.choice(_leaf_paths(data)[1:])
        cur: Any = data
        for step in path[:-1]:
            cur = cur[step]
        cur[path[-1]] = copy.deepcopy(rng.choice(junk))
        obj, causes = parse_object(cls, data)
        if obj is None:
            assert causes and all(set(c) == {"reason", "field", "message"} for c in causes)
            continue
        apply_defaults(obj)
        for cause in validate(obj, obj):
            assert set(cause) == {"reason", "field", "message"}
