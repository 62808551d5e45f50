"""Bodies of subresources that are their own kinds: autoscaling/v1 Scale, policy/v1 Eviction.

They are never stored; the API server reads/writes them through `.../scale` and
`pods/NAME/eviction`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import StrictModel
from machinery.models.core_misc import DeleteOptions


class ScaleSpec(StrictModel):
    replicas: int | None = None


class ScaleStatus(StrictModel):
    replicas: int = 0
    selector: str | None = None


class Scale(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "autoscaling"
    KIND: ClassVar[str] = "Scale"
    PLURAL: ClassVar[str] = "scale"
    SINGULAR: ClassVar[str] = "scale"

    spec: ScaleSpec | None = None
    status: ScaleStatus | None = None


class Eviction(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "policy"
    KIND: ClassVar[str] = "Eviction"
    PLURAL: ClassVar[str] = "eviction"
    SINGULAR: ClassVar[str] = "eviction"

    deleteOptions: DeleteOptions | None = None


__all__ = ["Eviction", "Scale", "ScaleSpec", "ScaleStatus"]
