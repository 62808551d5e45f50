"""Messages of API groups Kubernetes removed from kubernetes/api, so gen_schema cannot read them
from its current checkout: settings.k8s.io/v1alpha1 PodPreset (removed in 1.20), written here
from that release's `settings/v1alpha1/generated.proto` and Go struct tags (same row format as
schema_data.py: field number, JSON name, type, flags 1 repeated / 2 pointer / 4 omitempty)."""

from __future__ import annotations

EXTRA_SCHEMA: dict[str, tuple[tuple[int, str, str, int], ...]] = {
    "settings.v1alpha1.PodPreset": (
        (1, "metadata", "meta.v1.ObjectMeta", 4),
        (2, "spec", "settings.v1alpha1.PodPresetSpec", 4),
    ),
    "settings.v1alpha1.PodPresetList": (
        (1, "metadata", "meta.v1.ListMeta", 4),
        (2, "items", "settings.v1alpha1.PodPreset", 1),
    ),
    "settings.v1alpha1.PodPresetSpec": (
        (1, "selector", "meta.v1.LabelSelector", 4),
        (2, "env", "core.v1.EnvVar", 5),
        (3, "envFrom", "core.v1.EnvFromSource", 5),
        (4, "volumes", "core.v1.Volume", 5),
        (5, "volumeMounts", "core.v1.VolumeMount", 5),
    ),
}

__all__ = ["EXTRA_SCHEMA"]
