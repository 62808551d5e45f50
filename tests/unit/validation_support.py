"""Helpers of the validation admission tests: a valid base manifest per kind and `check(kind,
changes)`, which breaks or fixes fields by path and returns the causes (parsing, defaults,
validation, as the API server runs them).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from apiserver.admission.validation import parse_object, validate
from machinery import registry
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
