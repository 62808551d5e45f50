"""One rich, valid manifest per kind, for the protobuf tests (unit: encode/decode round trips;
integration: the same object sent as JSON and as protobuf must be stored identically).

`sample(cls, name, namespace)` gives a fresh manifest of `cls`; kinds without an entry in
`SAMPLES` get a minimal one (metadata with labels and annotations). Adding a kind to
machinery.registry.ALL_KINDS: add a manifest here that fills the fields of its spec (and
nothing the model would drop), so both paths are compared on real content.
`assert_extends_with_zeros(got, sent)` compares what the protobuf path gives with the JSON one.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from machinery.meta import Resource
from machinery.pki import make_csr

# A real PKCS#10 request (the API server parses spec.request): a kubelet's client certificate.
CSR_REQUEST_B64 = base64.b64encode(make_csr("system:node:pb-node", ["system:nodes"])[0]).decode()

_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "pb"}, "annotations": {"note": "template"}},
    "spec": {
        "containers": [{
            "name": "main", "image": "kubelite/busybox:latest", "command": ["sh", "-c"],
            "args": ["exec httpd -f -p 8080"], "workingDir": "/",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "A", "value": "1"},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}, "limits": {"cpu": "1", "memory": "64Mi"}},
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2,
                               "failureThreshold": 3},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 1},
            "volumeMounts": [{"name": "data", "mountPath": "/data"},
                             {"name": "cfg", "mountPath": "/cfg", "readOnly": True}],
            "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False},
        }],
        "initContainers": [{"name": "init", "image": "kubelite/busybox:latest", "command": ["true"]}],
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "10Mi"}},
                    {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420, "optional": True}}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "hostname": "h",
    },
}
_SELECTOR = {"matchLabels": {"app": "pb"},
             "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x", "y"]}]}
_JOB_TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "pb"}},
                                 "spec": {**_TEMPLATE["spec"], "restartPolicy": "Never"}}

SAMPLES: dict[str, dict[str, Any]] = {
    "Namespace": {},
    "Node": {"spec": {"unschedulable": True, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}},
    "Pod": {"spec": copy.deepcopy(_TEMPLATE["spec"])},
    "Service": {"spec": {"type": "NodePort", "selector": {"app": "pb"}, "sessionAffinity": "ClientIP",
                         "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                         "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                                   {"name": "alt", "port": 81, "targetPort": 8081}]}},
    "Endpoints": {"subsets": [{"addresses": [{"ip": "10.244.0.5", "nodeName": "n1",
                                              "targetRef": {"kind": "Pod", "name": "p", "namespace": "default"}}],
                               "notReadyAddresses": [{"ip": "10.244.0.6"}],
                               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]},
    "EndpointSlice": {"addressType": "IPv4", "endpoints": [
        {"addresses": ["10.244.0.5"], "conditions": {"ready": True, "serving": True, "terminating": False},
         "nodeName": "n1", "zone": "z1", "hostname": "web-0",
         "targetRef": {"kind": "Pod", "name": "p", "namespace": "default"}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
    "NetworkPolicy": {"spec": {
        "podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}},
                               "namespaceSelector": {"matchExpressions": [
                                   {"key": "team", "operator": "In", "values": ["a"]}]}},
                              {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                     "ports": [{"protocol": "TCP", "port": 5432, "endPort": 5440},
                               {"protocol": "UDP", "port": "dns"}]}],
        "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"protocol": "UDP", "port": 53}]}]}},
    "ConfigMap": {"data": {"a": "1", "b": "two\nlines", "empty": ""}, "binaryData": {"bin": "AAECAw=="},
                  "immutable": False},
    "Secret": {"type": "Opaque", "data": {"pw": "aHVudGVyMg==", "nul": "AA=="}},
    "Event": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "u1"},
              "reason": "Started", "message": "started", "type": "Normal", "count": 2,
              "firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:04:06Z",
              "source": {"component": "kubelet", "host": "n1"}},
    "ReplicaSet": {"spec": {"replicas": 0, "minReadySeconds": 1, "selector": _SELECTOR,
                            "template": copy.deepcopy(_TEMPLATE)}},
    "ReplicationController": {"spec": {"replicas": 0, "selector": {"app": "pb"},
                                       "template": copy.deepcopy(_TEMPLATE)}},
    "Deployment": {"spec": {"replicas": 0, "revisionHistoryLimit": 0, "selector": _SELECTOR,
                            "template": copy.deepcopy(_TEMPLATE), "paused": True,
                            "strategy": {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}}}},
    "StatefulSet": {"spec": {"replicas": 0, "serviceName": "pb", "selector": _SELECTOR,
                             "template": copy.deepcopy(_TEMPLATE), "podManagementPolicy": "Parallel",
                             "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}}},
    "DaemonSet": {"spec": {"selector": _SELECTOR, "template": copy.deepcopy(_TEMPLATE),
                           "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}}},
    "Job": {"spec": {"parallelism": 0, "completions": 2, "backoffLimit": 0, "suspend": True,
                     "template": copy.deepcopy(_JOB_TEMPLATE)}},
    "CronJob": {"spec": {"schedule": "*/5 * * * *", "suspend": True, "successfulJobsHistoryLimit": 0,
                         "concurrencyPolicy": "Forbid",
                         "jobTemplate": {"spec": {"backoffLimit": 1, "template": copy.deepcopy(_JOB_TEMPLATE)}}}},
    "Lease": {"spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40, "leaseTransitions": 0,
                       "acquireTime": "2026-01-02T03:04:05.123456Z", "renewTime": "2026-01-02T03:04:06.000001Z"}},
    "ControllerRevision": {"revision": 3, "data": {"spec": {"template": {"metadata": {"labels": {"app": "pb"}}}}}},
    "PersistentVolume": {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                  "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local",
                                  "hostPath": {"path": "/tmp/kubelite-pv", "type": "DirectoryOrCreate"}}},
    "PersistentVolumeClaim": {"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                                       "resources": {"requests": {"storage": "1Gi"}}}},
    "StorageClass": {"provisioner": "kubelite.io/local-path", "reclaimPolicy": "Delete",
                     "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": False,
                     "parameters": {"a": "b"}},
    "ResourceQuota": {"spec": {"hard": {"pods": "10", "requests.cpu": "2"}}},
    "CertificateSigningRequest": {
        "spec": {"request": CSR_REQUEST_B64,
                 "signerName": "kubernetes.io/kube-apiserver-client-kubelet", "expirationSeconds": 3600,
                 "usages": ["digital signature", "client auth"], "username": "system:bootstrap:abcdef",
                 "uid": "u1", "groups": ["system:bootstrappers", "system:authenticated"],
                 "extra": {"scopes": ["a", "b"]}},
        "status": {"conditions": [{"type": "Approved", "status": "True", "reason": "AutoApproved",
                                   "message": "ok", "lastUpdateTime": "2026-01-02T03:04:05Z"}],
                   "certificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="}},
    "Role": {"rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"],
                        "resourceNames": ["a"]}]},
    "ClusterRole": {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                    "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "pb"}}]}},
    "RoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                    "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                                 {"kind": "ServiceAccount", "name": "default", "namespace": "default"}]},
    "ClusterRoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                       "name": "view"},
                           "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                         "name": "devs"}]},
    "HorizontalPodAutoscaler": {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "pb"},
        "minReplicas": 1, "maxReplicas": 3,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                "averageUtilization": 50}}},
                    {"type": "ContainerResource", "containerResource": {
                        "name": "memory", "container": "main", "target": {"type": "AverageValue",
                                                                          "averageValue": "64Mi"}}}],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                                   "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]}}}},
    "PodPreset": {"spec": {"selector": {"matchLabels": {"role": "frontend"}},
                           "env": [{"name": "DB_PORT", "value": "6379"}],
                           "envFrom": [{"configMapRef": {"name": "cfg"}}],
                           "volumes": [{"name": "cache", "emptyDir": {}}],
                           "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}},
}


def sample(cls: type[Resource], name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "pb", "kind": cls.KIND.lower()},
                            "annotations": {"kubelite.io/test": "protobuf"}}
    if cls.NAMESPACED and namespace:
        meta["namespace"] = namespace
    body = copy.deepcopy(SAMPLES.get(cls.KIND, {}))
    return {"apiVersion": cls.api_version(), "kind": cls.KIND, "metadata": meta, **body}


def _is_zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    return value in ("", 0, False, None) or value == []


def assert_extends_with_zeros(got: Any, sent: Any, path: str = "") -> None:
    """`got` has everything `sent` has; anything more is a zero value. A Go client writes
    every non-pointer field and Go's JSON writes those without omitempty (a Node's
    status.nodeInfo.machineID: ""), so the protobuf path may add such zeros, and nothing else."""
    if isinstance(sent, dict):
        assert isinstance(got, dict), path
        for k, v in sent.items():
            if v == {} and k not in got:
                continue  # an empty struct sent: nothing to compare
            assert k in got, f"{path}.{k} lost"
            assert_extends_with_zeros(got[k], v, f"{path}.{k}")
        for k in got.keys() - sent.keys():
            assert _is_zero(got[k]), f"{path}.{k} = {got[k]!r} appeared"
    elif isinstance(sent, list):
        assert isinstance(got, list) and len(got) == len(sent), path
        for i, (g, s) in enumerate(zip(got, sent, strict=True)):
            assert_extends_with_zeros(g, s, f"{path}[{i}]")
    else:
        assert got == sent, f"{path}: {got!r} != {sent!r}"
