"""Validation of PodPreset (pkg/apis/settings/validation: ValidatePodPreset[Update]).

Contract: `validate_podpreset(errs, pp)` adds Kubernetes' causes: the selector is a valid
label selector; at least one of volumes/env/envFrom/volumeMounts is given (`spec.volumes.env.
envFrom.volumeMounts: Required value: must specify at least one`, Kubernetes' own path);
volumes, env and volumeMounts follow the pod rules (a mount names one of the preset's volumes);
envFrom entries name a ConfigMap or a Secret. Updates are validated the same way.
"""

from __future__ import annotations

from apiserver.admission.validation_apps import validate_label_selector
from apiserver.admission.validation_common import Errs
from apiserver.admission.validation_pod import validate_pod_fragment
from machinery.models import PodPreset


def validate_podpreset(errs: Errs, pp: PodPreset) -> None:
    spec = pp.spec
    if spec is None:
        errs.required("spec")
        return
    validate_label_selector(errs, spec.selector, "spec.selector")
    if spec.env is None and spec.envFrom is None and spec.volumes is None and spec.volumeMounts is None:
        errs.required("spec.volumes.env.envFrom.volumeMounts", "must specify at least one")
    validate_pod_fragment(errs, volumes=spec.volumes, env=spec.env, volume_mounts=spec.volumeMounts, path="spec")
    for i, source in enumerate(spec.envFrom or []):
        refs = [r for r in (source.configMapRef, source.secretRef) if r is not None]
        if len(refs) != 1:
            errs.invalid(f"spec.envFrom[{i}]", "", "may not have more than one field specified at a time"
                         if refs else "must specify one of: `configMapRef` or `secretRef`")


__all__ = ["validate_podpreset"]
