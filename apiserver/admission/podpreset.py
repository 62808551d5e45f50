"""PodPreset admission (Kubernetes 1.19's plugin/pkg/admission/podpreset), on pod creation.

Contract: `await admit_podpreset(storage, pod) -> PresetOutcome` changes the pod (a wire dict after
defaults and validation) in place:
- skipped for mirror pods (`kubernetes.io/config.mirror`) and for pods annotated
  `podpreset.admission.kubernetes.io/exclude: "true"`;
- the PodPresets of the pod's namespace are read from the watch cache behind the
  consistent-read fence (admission/lookup.py: a preset created just before applies), in name
  order; those whose selector matches the pod's labels apply (a preset without a selector
  matches every pod: Kubernetes' zero LabelSelector);
- conflicts (safeToApplyPodPresetsOnPod): a preset volume named like a different pod volume
  (or a different volume of an earlier preset); for every container and init container, an
  env var named like a different one, a volumeMount with the name or the mountPath of a
  different one. Identical entries are not conflicts (and are not added twice). On a conflict
  the pod is left UNTOUCHED and the message is returned (`conflict`): the caller creates the pod and
  records a Warning Event `PodPresetConflict` on it (Kubernetes 1.19 only logged it);
- otherwise the volumes are appended to the pod's, env / volumeMounts / envFrom to every
  container's and init container's, and each applied preset is noted in the annotation
  `podpreset.admission.kubernetes.io/podpreset-<name>: "<resourceVersion>"` (`applied`).
  The caller validates the merged pod again (Kubernetes validates after mutating admission).
Equality is decided on the entries as the pod would hold them (the preset's go through the
same pod defaulting first).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from apiserver.admission.lookup import fresh_list
from apiserver.storage import Storage
from machinery.defaults import apply_defaults
from machinery.models import PODPRESET_ANNOTATION_PREFIX, PODPRESET_EXCLUDE_ANNOTATION, Pod
from machinery.selectors import selector_from_model

Obj = dict[str, Any]
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
CONFLICT_REASON = "PodPresetConflict"


def _normalized(pp: Obj) -> Obj:
    """The preset's volumes, env, envFrom and volumeMounts after the pod defaulting."""
    spec = pp.get("spec") or {}
    container: Obj = {"name": "preset", "image": "preset"}
    for field in ("env", "envFrom", "volumeMounts"):
        if spec.get(field):
            container[field] = copy.deepcopy(spec[field])
    pod_spec: Obj = {"containers": [container]}
    if spec.get("volumes"):
        pod_spec["volumes"] = copy.deepcopy(spec["volumes"])
    defaulted = apply_defaults(Pod.from_dict({"metadata": {"name": "preset"}, "spec": pod_spec})).to_dict()["spec"]
    out = defaulted["containers"][0]
    return {"volumes": defaulted.get("volumes") or [], "env": out.get("env") or [],
            "envFrom": out.get("envFrom") or [], "volumeMounts": out.get("volumeMounts") or []}


def matching(presets: Iterable[Obj], pod: Obj) -> list[Obj]:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for pp in sorted(presets, key=lambda p: str(p["metadata"]["name"])):
        selector = (pp.get("spec") or {}).get("selector")
        if selector_from_model({} if selector is None else selector).matches(labels):
            out.append(pp)
    return out


def _merge(existing: list[Obj], added: Iterable[tuple[str, Obj]], what: str, keys: tuple[str, ...],
           errs: list[str]) -> list[Obj]:
    """`existing` + the `added` (preset name, entry) not already there; a different entry with
    the same value of any of `keys` is a conflict (message appended to errs)."""
    merged = list(existing)
    seen: dict[str, dict[Any, Obj]] = {k: {e.get(k): e for e in existing} for k in keys}
    for preset, entry in added:
        new = True
        for k in keys:
            found = seen[k].get(entry.get(k))
            if found is None:
                continue
            new = False
            if found != entry:
                on = f"mount path {entry.get(k)}" if k == "mountPath" else str(entry.get(k))
                errs.append(f"merging {what} for {preset} has a conflict on {on}")
        if new:
            merged.append(entry)
            for k in keys:
                seen[k][entry.get(k)] = entry
    return merged


def _plan(pod: Obj, presets: list[tuple[str, Obj]]) -> tuple[Obj, list[str]]:
    """The merged spec and the conflicts (an empty list: safe to apply)."""
    spec = copy.deepcopy(pod.get("spec") or {})
    errs: list[str] = []
    merged_volumes = _merge(spec.get("volumes") or [], [(n, v) for n, p in presets for v in p["volumes"]],
                            "volumes", ("name",), errs)
    if merged_volumes:
        spec["volumes"] = merged_volumes
    for field in ("initContainers", "containers"):
        for c in spec.get(field) or []:
            env = _merge(c.get("env") or [], [(n, e) for n, p in presets for e in p["env"]], "env", ("name",), errs)
            mounts = _merge(c.get("volumeMounts") or [], [(n, m) for n, p in presets for m in p["volumeMounts"]],
                            "volume mounts", ("name", "mountPath"), errs)
            env_from = [*(c.get("envFrom") or []), *(e for _, p in presets for e in p["envFrom"])]
            for key, value in (("env", env), ("volumeMounts", mounts), ("envFrom", env_from)):
                if value:
                    c[key] = value
    return spec, errs


@dataclass(frozen=True)
class PresetOutcome:
    applied: bool = False
    """The pod was changed (validate it again)."""
    conflict: str | None = None
    """The conflict message (pod untouched) for the Event."""


async def admit_podpreset(storage: Storage, pod: Obj) -> PresetOutcome:
    meta = pod.setdefault("metadata", {})
    annotations = meta.get("annotations") or {}
    if MIRROR_ANNOTATION in annotations or annotations.get(PODPRESET_EXCLUDE_ANNOTATION) == "true":
        return PresetOutcome()
    presets = matching(await fresh_list(storage, "podpresets", str(meta.get("namespace") or "default")), pod)
    if not presets:
        return PresetOutcome()
    names = [str(pp["metadata"]["name"]) for pp in presets]
    spec, errs = _plan(pod, [(name, _normalized(pp)) for name, pp in zip(names, presets, strict=True)])
    if errs:
        return PresetOutcome(conflict=f"conflict occurred while applying podpresets: {','.join(names)} on pod: "
                                      f"{'; '.join(dict.fromkeys(errs))}")
    pod["spec"] = spec
    meta["annotations"] = {**annotations, **{f"{PODPRESET_ANNOTATION_PREFIX}/podpreset-{pp['metadata']['name']}":
                                             str(pp["metadata"].get("resourceVersion") or "") for pp in presets}}
    return PresetOutcome(applied=True)


__all__ = ["CONFLICT_REASON", "MIRROR_ANNOTATION", "PresetOutcome", "admit_podpreset", "matching"]
