"""Shared building blocks of the API models: the strict base class and common small types.

Contract: every nested structure derives from `StrictModel`, which is `KubeModel` in
pydantic strict mode. Strict mode is what Kubernetes' JSON decoding does: `"80"` is never
turned into `80` (nor the reverse) and `"yes"` is not a boolean, so a manifest keeps exactly
what the user sent. Quantities are the exception, on purpose: Kubernetes accepts `cpu: 1`
(a JSON number) for a quantity, so `Quantity` turns numbers into their string form.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, StrictInt, StrictStr

from machinery.meta import KubeModel


def _quantity_to_str(value: Any) -> Any:
    # bool is an int subclass: leave it alone so strict str validation rejects it.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


IntOrString = StrictInt | StrictStr
"""An int-or-string field (ports, maxSurge): the type the user sent is kept."""

Quantity = Annotated[str, BeforeValidator(_quantity_to_str)]
"""A resource quantity ("100m", "64Mi"); numbers are accepted and kept as their string."""

ResourceList = dict[str, Quantity]


class StrictModel(KubeModel):
    """Base of the typed nested structures: no silent type coercion (see module docstring)."""

    model_config = ConfigDict(strict=True)


class ObjectReference(StrictModel):
    apiVersion: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    fieldPath: str | None = None


class LocalObjectReference(StrictModel):
    name: str | None = None
