"""policy/v1 PodDisruptionBudget.

Contract: Kubernetes field names. `minAvailable`/`maxUnavailable` are int or percent strings
("50%"); the disruption controller (controllers/disruption.py) writes the status, the
eviction subresource (apiserver/handlers_sub.py) reads it and decrements
`disruptionsAllowed` (recording the pod in `disruptedPods`).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import Condition, LabelSelector, Resource
from machinery.models._base import IntOrString, StrictModel

UNHEALTHY_POD_EVICTION_POLICIES = ("IfHealthyBudget", "AlwaysAllow")


class PodDisruptionBudgetSpec(StrictModel):
    minAvailable: IntOrString | None = None
    maxUnavailable: IntOrString | None = None
    selector: LabelSelector | None = None
    unhealthyPodEvictionPolicy: str | None = None


class PodDisruptionBudgetStatus(StrictModel):
    observedGeneration: int | None = None
    disruptedPods: dict[str, str] | None = None
    disruptionsAllowed: int = 0
    currentHealthy: int = 0
    desiredHealthy: int = 0
    expectedPods: int = 0
    conditions: list[Condition] | None = None


class PodDisruptionBudget(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "policy"
    KIND: ClassVar[str] = "PodDisruptionBudget"
    PLURAL: ClassVar[str] = "poddisruptionbudgets"
    SINGULAR: ClassVar[str] = "poddisruptionbudget"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("pdb",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status",)

    spec: PodDisruptionBudgetSpec | None = None
    status: PodDisruptionBudgetStatus | None = None


__all__ = ["UNHEALTHY_POD_EVICTION_POLICIES", "PodDisruptionBudget", "PodDisruptionBudgetSpec",
           "PodDisruptionBudgetStatus"]
