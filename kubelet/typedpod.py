"""The kubelet's typed view of a pod: the wire dict parsed into machinery.models.Pod.

Contract: `pod_of(raw)` parses a pod as the API server sent it into `Pod` (the same strict
model the API server validated it with, so a pod from the server always parses); what the
model refuses raises `PodModelError` naming the field path. The worker keeps the wire dict
too (unknown fields survive there, as before; `Volume` and `VolumeProjection` keep unknown
sources as extra fields), so nothing is lost by reading through the model.
`container_of(raw)` does the same for one container dict. `field_value(pod, path, status=)`
is the downward API's `fieldRef` look-up that env variables and projected downwardAPI files
share: metadata.name/namespace/uid, metadata.labels['k'] / metadata.annotations['k'],
spec.nodeName, spec.serviceAccountName, plus the `status` values the caller passes
(status.podIP, status.hostIP for env); anything else raises `PodModelError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from machinery.models import Container, Pod

_MAP_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_M = TypeVar("_M", bound=BaseModel)


class PodModelError(ValueError):
    """A pod (or container) the model refuses, or a fieldRef path the kubelet does not know."""


def _parse(model: type[_M], raw: Mapping[str, Any], what: str) -> _M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errs = exc.errors()
        where = (".".join(str(p) for p in errs[0]["loc"]) + ": " + errs[0]["msg"]) if errs else str(exc)
        raise PodModelError(f"{what}: {where}") from None


def pod_of(raw: Mapping[str, Any]) -> Pod:
    """The typed pod of a wire dict. A container the model refuses stands in it by name only, so
    the rest of the pod still runs and the worker reports that container (its `container_of`
    raises) as CreateContainerConfigError, as it did before the pod was typed."""
    try:
        return Pod.model_validate(raw)
    except ValidationError:
        pass
    spec = dict(raw.get("spec") or {})
    for key in ("initContainers", "containers"):
        if isinstance(spec.get(key), list):
            spec[key] = [{"name": str(c.get("name") or "")} if isinstance(c, dict) and not _valid_container(c)
                         else c for c in spec[key]]
    return _parse(Pod, {**raw, "spec": spec}, "pod")


def _valid_container(raw: Any) -> bool:
    try:
        Container.model_validate(raw)
    except ValidationError:
        return False
    return True


def container_of(raw: Mapping[str, Any]) -> Container:
    """The typed container of a pod's container dict."""
    return _parse(Container, raw, f"container {raw.get('name', '')!r}")


def field_value(pod: Pod, path: str, *, status: Mapping[str, str | None] | None = None) -> str:
    """A downward API fieldRef's value ("" when the field is unset)."""
    meta, spec = pod.metadata, pod.spec
    simple: dict[str, str | None] = {
        "metadata.name": meta.name, "metadata.namespace": meta.namespace, "metadata.uid": meta.uid,
        "spec.nodeName": spec.nodeName if spec else None,
        "spec.serviceAccountName": spec.serviceAccountName if spec else None,
        **(status or {}),
    }
    if path in simple:
        return str(simple[path] or "")
    m = _MAP_REF.match(path)
    if m:
        values = meta.labels if m.group(1) == "labels" else meta.annotations
        return str((values or {}).get(m.group(2), ""))
    raise PodModelError(f"unsupported fieldPath {path!r}")


__all__ = ["PodModelError", "container_of", "field_value", "pod_of"]
