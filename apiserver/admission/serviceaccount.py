"""The ServiceAccount admission on pod creation (Kubernetes' plugin/pkg/admission/serviceaccount).

Contract: `await admit_service_account(storage, pod)` mutates a pod being created:
- `spec.serviceAccountName` defaults to "default" (and the deprecated `spec.serviceAccount`
  follows it, as Kubernetes keeps them equal);
- a named ServiceAccount other than "default" must exist: 403 `pods "x" is forbidden: error
  looking up service account NS/NAME: serviceaccount "NAME" not found`. Decision: a missing
  "default" is accepted (kubelite's integration fixtures create pods in namespaces with no
  token controller running; the kubelet waits for the account when it mounts the token);
- unless `spec.automountServiceAccountToken` is false (or, when the pod does not say, the
  ServiceAccount's is), adds the projected volume `kube-api-access-<5 chars>` (sources: a
  serviceAccountToken of 3607 s at `token`, `ca.crt` from the ConfigMap `kube-root-ca.crt`,
  `namespace` from the downward API; defaultMode 0644) mounted read-only at
  /var/run/secrets/kubernetes.io/serviceaccount in every init and app container that has no
  mount there yet. A pod that already mounts something at that path in every container, or
  already has a kube-api-access volume, is left as is.
"""

from __future__ import annotations

import secrets
from typing import Any

from apiserver.admission.lookup import fresh_object
from apiserver.storage import Storage
from machinery import errors

Obj = dict[str, Any]
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION_S = 3607  # Kubernetes' default for the projected token (an hour and 7 s)
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' utilrand alphabet (no vowels)


def projected_volume(name: str) -> Obj:
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_S, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


async def _service_account(storage: Storage, namespace: str, name: str) -> Obj | None:
    """From the watch cache (no etcd read per pod create; a miss is confirmed in etcd)."""
    return await fresh_object(storage, "serviceaccounts", name, namespace)


async def admit_service_account(storage: Storage, pod: Obj) -> None:
    meta = pod.get("metadata") or {}
    spec = pod.setdefault("spec", {})
    if (meta.get("annotations") or {}).get("kubernetes.io/config.mirror"):
        return  # mirror pods get no service account, as in Kubernetes
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = name
    namespace = str(meta.get("namespace") or "default")
    sa = await _service_account(storage, namespace, name)
    if sa is None and name != "default":
        pod_name = str(meta.get("name") or meta.get("generateName") or "")
        raise errors.Forbidden(f'pods "{pod_name}" is forbidden: error looking up service account '
                               f'{namespace}/{name}: serviceaccount "{name}" not found', name=pod_name, kind="pods")
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = (sa or {}).get("automountServiceAccountToken")
    if automount is False:
        return
    volumes = spec.get("volumes") or []
    if any(str(v.get("name", "")).startswith(VOLUME_PREFIX) for v in volumes):
        return
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    needing = [c for c in containers
               if not any(m.get("mountPath") == MOUNT_PATH for m in c.get("volumeMounts") or [])]
    if not needing:
        return
    taken = {v.get("name") for v in volumes}
    while True:
        vol_name = VOLUME_PREFIX + "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(5))
        if vol_name not in taken:
            break
    spec["volumes"] = [*volumes, projected_volume(vol_name)]
    for c in needing:
        c["volumeMounts"] = [*(c.get("volumeMounts") or []),
                             {"name": vol_name, "readOnly": True, "mountPath": MOUNT_PATH}]


__all__ = ["MOUNT_PATH", "ROOT_CA_CONFIGMAP", "admit_service_account", "projected_volume"]
