"""StatefulSet pod identity and storage: names, ordinals, labels, claims (pure functions).

Contract (Kubernetes pkg/controller/statefulset/stateful_set_utils.go):
- A member pod is named `<set>-<ordinal>`; `parent_and_ordinal(name)` splits it (ordinal -1
  when the name has no numeric suffix). Ordinals run from `spec.ordinals.start` (default 0).
- `new_pod(set, ordinal, revision)`: the template's labels/annotations, a controller
  ownerReference, hostname = pod name, subdomain = serviceName, labels
  `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
  `controller-revision-hash`, and one `persistentVolumeClaim` volume per volumeClaimTemplate
  (claim `<template>-<set>-<ordinal>`, replacing a template volume of the same name).
- `claims_for(set, ordinal)`: the PVCs of an ordinal, from the templates, labelled with the
  set's selector matchLabels (added to the template's labels).
- `identity_matches`, `storage_matches`: the invariants a live pod must keep;
  `update_identity`, `update_storage` restore them on a copy.
- `apply_revision(set, revision)`: a copy of the set with the template recorded in the
  ControllerRevision (what `currentSet` is in Kubernetes).
"""

from __future__ import annotations

import re
from typing import Any

from controllers import podutil
from machinery.meta import ObjectMeta
from machinery.models import (
    ControllerRevision,
    PersistentVolumeClaim,
    Pod,
    PodSpec,
    PodTemplateSpec,
    StatefulSet,
)
from machinery.models.pod import Volume

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
_NAME_RE = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(name: str) -> tuple[str, int]:
    match = _NAME_RE.match(name or "")
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def ordinal_of(pod: Pod) -> int:
    return parent_and_ordinal(pod.name)[1]


def is_member(sts: StatefulSet, pod: Pod) -> bool:
    parent, ordinal = parent_and_ordinal(pod.name)
    return parent == sts.name and ordinal >= 0


def pod_name(sts: StatefulSet, ordinal: int) -> str:
    return f"{sts.name}-{ordinal}"


def replicas_of(sts: StatefulSet) -> int:
    return sts.spec.replicas if sts.spec and sts.spec.replicas is not None else 1


def start_ordinal(sts: StatefulSet) -> int:
    ordinals = sts.spec.ordinals if sts.spec else None
    return (ordinals.start or 0) if ordinals else 0


def in_ordinal_range(sts: StatefulSet, pod: Pod) -> bool:
    ordinal = ordinal_of(pod)
    return start_ordinal(sts) <= ordinal < start_ordinal(sts) + replicas_of(sts)


def revision_of(pod: Pod) -> str:
    return (pod.metadata.labels or {}).get(REVISION_LABEL, "")


def claim_name(sts: StatefulSet, template_name: str, ordinal: int) -> str:
    return f"{template_name}-{sts.name}-{ordinal}"


def _templates(sts: StatefulSet) -> list[dict[str, Any]]:
    return list(sts.spec.volumeClaimTemplates or []) if sts.spec else []


def _template_name(template: dict[str, Any]) -> str:
    return str((template.get("metadata") or {}).get("name") or "")


def claims_for(sts: StatefulSet, ordinal: int) -> list[PersistentVolumeClaim]:
    selector = sts.spec.selector if sts.spec else None
    match_labels = dict(selector.matchLabels or {}) if selector else {}
    claims = []
    for template in _templates(sts):
        meta = dict(template.get("metadata") or {})
        name = _template_name(template)
        meta.update(name=claim_name(sts, name, ordinal), namespace=sts.namespace,
                    labels={**(meta.get("labels") or {}), **match_labels} or None)
        for key in ("uid", "resourceVersion", "creationTimestamp", "generateName"):
            meta.pop(key, None)
        claims.append(PersistentVolumeClaim.model_validate({"metadata": meta, "spec": template.get("spec") or {}}))
    return claims


def storage_matches(sts: StatefulSet, pod: Pod) -> bool:
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.name: v for v in (pod.spec.volumes or [])} if pod.spec else {}
    for template in _templates(sts):
        name = _template_name(template)
        volume = volumes.get(name)
        source = volume.persistentVolumeClaim if volume is not None else None
        if not source or source.get("claimName") != claim_name(sts, name, ordinal):
            return False
    return True


def update_storage(sts: StatefulSet, pod: Pod) -> None:
    assert pod.spec is not None
    ordinal = ordinal_of(pod)
    names = [_template_name(t) for t in _templates(sts)]
    if not names:
        return
    claim_volumes = [Volume(name=n, persistentVolumeClaim={"claimName": claim_name(sts, n, ordinal)}) for n in names]
    others = [v for v in pod.spec.volumes or [] if v.name not in names]
    pod.spec.volumes = [*claim_volumes, *others]


def identity_matches(sts: StatefulSet, pod: Pod) -> bool:
    parent, ordinal = parent_and_ordinal(pod.name)
    labels = pod.metadata.labels or {}
    return (ordinal >= 0 and parent == sts.name and pod.namespace == sts.namespace
            and labels.get(POD_NAME_LABEL) == pod.name and labels.get(POD_INDEX_LABEL) == str(ordinal))


def update_identity(sts: StatefulSet, pod: Pod) -> None:
    ordinal = ordinal_of(pod)
    pod.metadata.namespace = sts.namespace
    pod.metadata.labels = {**(pod.metadata.labels or {}), POD_NAME_LABEL: pod.name, POD_INDEX_LABEL: str(ordinal)}


def new_pod(sts: StatefulSet, ordinal: int, revision: str) -> Pod:
    assert sts.spec is not None and sts.spec.template is not None
    tmeta = sts.spec.template.metadata or ObjectMeta()
    spec = PodSpec.model_validate(sts.spec.template.spec.to_dict()) if sts.spec.template.spec else PodSpec(
        containers=[])
    name = pod_name(sts, ordinal)
    pod = Pod(metadata=ObjectMeta(name=name, namespace=sts.namespace, labels=dict(tmeta.labels or {}),
                                  annotations=dict(tmeta.annotations or {}) or None,
                                  ownerReferences=[podutil.new_controller_ref(sts)]),
              spec=spec)
    update_identity(sts, pod)
    assert pod.spec is not None
    pod.spec.hostname = name
    pod.spec.subdomain = sts.spec.serviceName or None
    update_storage(sts, pod)
    assert pod.metadata.labels is not None
    pod.metadata.labels[REVISION_LABEL] = revision
    return pod


def apply_revision(sts: StatefulSet, revision: ControllerRevision) -> StatefulSet:
    clone = sts.model_copy(deep=True)
    template = dict(((revision.data or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    assert clone.spec is not None
    clone.spec.template = PodTemplateSpec.model_validate(template)
    return clone


__all__ = [
    "POD_INDEX_LABEL", "POD_NAME_LABEL", "REVISION_LABEL", "apply_revision", "claim_name", "claims_for",
    "identity_matches", "in_ordinal_range", "is_member", "new_pod", "ordinal_of", "parent_and_ordinal",
    "pod_name", "replicas_of", "revision_of", "start_ordinal", "storage_matches", "update_identity",
    "update_storage",
]
