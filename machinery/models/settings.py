"""settings.k8s.io/v1alpha1 PodPreset (Kubernetes 1.6-1.19; removed from Kubernetes in 1.20).

Contract: Kubernetes field names. No status (Kubernetes' PodPreset has none). The PodPreset
admission (apiserver/admission/podpreset.py) merges `env`, `envFrom`, `volumes` and
`volumeMounts` into the pods the selector matches at their creation.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import LabelSelector, Resource
from machinery.models._base import StrictModel
from machinery.models.container import EnvFromSource, EnvVar, VolumeMount
from machinery.models.pod import Volume

PODPRESET_ANNOTATION_PREFIX = "podpreset.admission.kubernetes.io"
PODPRESET_EXCLUDE_ANNOTATION = f"{PODPRESET_ANNOTATION_PREFIX}/exclude"


class PodPresetSpec(StrictModel):
    selector: LabelSelector | None = None
    env: list[EnvVar] | None = None
    envFrom: list[EnvFromSource] | None = None
    volumes: list[Volume] | None = None
    volumeMounts: list[VolumeMount] | None = None


class PodPreset(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "settings.k8s.io"
    VERSION: ClassVar[str] = "v1alpha1"
    KIND: ClassVar[str] = "PodPreset"
    PLURAL: ClassVar[str] = "podpresets"
    SINGULAR: ClassVar[str] = "podpreset"

    spec: PodPresetSpec | None = None


__all__ = ["PODPRESET_ANNOTATION_PREFIX", "PODPRESET_EXCLUDE_ANNOTATION", "PodPreset", "PodPresetSpec"]
