"""The local-path provisioner's objects (pure builders): volumes, default class, helper pods.

Contract (modelled on rancher's local-path-provisioner, the usual single-host provisioner):
- `PROVISIONER = "kubelite.io/local-path"`. A claim of a class with this provisioner and
  `volumeBindingMode: WaitForFirstConsumer` gets, once the scheduler wrote the
  `volume.kubernetes.io/selected-node` annotation, a PV `pvc-<claim uid>`: hostPath
  `<nodePath>/pvc-<uid>_<namespace>_<claim>` (type DirectoryOrCreate: the kubelet creates the
  directory when it first mounts it), capacity = the claim's request, its access modes, the
  class's reclaim policy and mount options, node affinity `metadata.name In [node]` (a
  nodeSelectorTerm on the node's name, as the scheduler and kubelet match it), claimRef to the
  claim (pre-bound: only that claim can take it), annotation
  `pv.kubernetes.io/provisioned-by`. `nodePath` is the class parameter of that name, else the
  controller-manager's `--local-path-dir`.
- Deletion (reclaimPolicy Delete) must happen on the volume's node, which the
  controller-manager may not be on: a helper pod `helper-delete-<pv>` in kube-system, bound
  directly to that node (`nodeName`, so no scheduler is needed), mounts the parent directory
  and runs `rm -rf` on the volume's directory. Decision: a helper pod rather than the kubelet,
  so the kubelet needs no PV knowledge beyond mounting, and deletion works on any node the
  same way (rancher's provisioner does the same). `HELPER_LABEL` names the PV on the pod.
- `default_class(name)`: the StorageClass created at startup when no class is marked default.
"""

from __future__ import annotations

import posixpath
from typing import Any

from machinery.models import (
    DEFAULT_CLASS_ANNOTATION,
    PROVISIONED_BY_ANNOTATION,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    StorageClass,
)

PROVISIONER = "kubelite.io/local-path"
HELPER_NAMESPACE = "kube-system"
HELPER_LABEL = "kubelite.io/helper-for-pv"


def default_class(name: str) -> StorageClass:
    return StorageClass.from_dict({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
    })


def node_path(sc: StorageClass, default_dir: str) -> str:
    return (sc.parameters or {}).get("nodePath") or default_dir


def volume_name(claim: PersistentVolumeClaim) -> str:
    return f"pvc-{claim.uid}"


def new_volume(claim: PersistentVolumeClaim, sc: StorageClass, node: str, default_dir: str) -> PersistentVolume:
    assert claim.spec is not None
    requests = (claim.spec.resources.requests or {}) if claim.spec.resources else {}
    path = posixpath.join(node_path(sc, default_dir), f"{volume_name(claim)}_{claim.namespace}_{claim.name}")
    spec: dict[str, Any] = {
        "capacity": {"storage": requests.get("storage", "0")},
        "accessModes": list(claim.spec.accessModes or ["ReadWriteOnce"]),
        "persistentVolumeReclaimPolicy": sc.reclaimPolicy or "Delete",
        "storageClassName": sc.name,
        "volumeMode": claim.spec.volumeMode or "Filesystem",
        "hostPath": {"path": path, "type": "DirectoryOrCreate"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}},
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": claim.namespace,
                     "name": claim.name, "uid": claim.uid, "resourceVersion": claim.resource_version},
    }
    if sc.mountOptions:
        spec["mountOptions"] = list(sc.mountOptions)
    return PersistentVolume.from_dict({
        "metadata": {"name": volume_name(claim), "annotations": {PROVISIONED_BY_ANNOTATION: PROVISIONER}},
        "spec": spec,
    })


def volume_node(pv: PersistentVolume) -> str | None:
    """The node of a local-path volume, from its node affinity."""
    affinity = pv.spec.nodeAffinity if pv.spec else None
    required = affinity.required if affinity else None
    for term in required.nodeSelectorTerms if required else []:
        for req in [*(term.matchFields or []), *(term.matchExpressions or [])]:
            if req.key in ("metadata.name", "kubernetes.io/hostname") and req.operator == "In" and req.values:
                return req.values[0]
    return None


def helper_name(pv: PersistentVolume) -> str:
    return f"helper-delete-{pv.name}"[:63].rstrip("-.")


def delete_helper(pv: PersistentVolume, node: str, image: str) -> Pod:
    assert pv.spec is not None and pv.spec.hostPath is not None
    parent, base = posixpath.split(pv.spec.hostPath.path.rstrip("/"))
    return Pod.from_dict({
        "metadata": {"name": helper_name(pv), "namespace": HELPER_NAMESPACE, "labels": {HELPER_LABEL: pv.name}},
        "spec": {
            "nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "helper", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": ["rm", "-rf", f"/data/{base}"],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "hostPath": {"path": parent or "/", "type": "DirectoryOrCreate"}}],
        },
    })


def is_ours(pv: PersistentVolume) -> bool:
    return (pv.metadata.annotations or {}).get(PROVISIONED_BY_ANNOTATION) == PROVISIONER


__all__ = ["HELPER_LABEL", "HELPER_NAMESPACE", "PROVISIONER", "default_class", "delete_helper", "helper_name",
           "is_ours", "new_volume", "node_path", "volume_name", "volume_node"]
