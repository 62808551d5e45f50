"""scheduling.k8s.io/v1 PriorityClass (cluster-scoped; `value`, `globalDefault`, ... are top level).

Contract: the API server creates the system classes `SYSTEM_CLASSES` at start
(apiserver/bootstrap.py); the priority admission (apiserver/admission/priority.py) resolves a
pod's priorityClassName into spec.priority and spec.preemptionPolicy.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource

SYSTEM_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")


class PriorityClass(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "scheduling.k8s.io"
    KIND: ClassVar[str] = "PriorityClass"
    PLURAL: ClassVar[str] = "priorityclasses"
    SINGULAR: ClassVar[str] = "priorityclass"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("pc",)
    NAMESPACED: ClassVar[bool] = False

    value: int = 0
    globalDefault: bool | None = None
    description: str | None = None
    preemptionPolicy: str | None = None


__all__ = ["PREEMPTION_POLICIES", "SYSTEM_CLASSES", "PriorityClass"]
