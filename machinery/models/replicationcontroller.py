"""core/v1 ReplicationController: the ReplicaSet's predecessor, with a plain map selector.

Its controller is the ReplicaSet controller (controllers/replicaset.py) run over this kind, as
in Kubernetes. `status` has the ReplicaSet's fields (replicas, fullyLabeledReplicas,
readyReplicas, availableReplicas, observedGeneration, conditions).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import StrictModel
from machinery.models.apps import ReplicaSetStatus
from machinery.models.pod import PodTemplateSpec


class ReplicationControllerSpec(StrictModel):
    replicas: int | None = None
    minReadySeconds: int | None = None
    selector: dict[str, str] | None = None
    template: PodTemplateSpec | None = None


class ReplicationControllerStatus(ReplicaSetStatus):
    """The same fields as a ReplicaSet's status (ReplicationControllerCondition has no
    lastUpdateTime; it is never set here)."""


class ReplicationController(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "ReplicationController"
    PLURAL: ClassVar[str] = "replicationcontrollers"
    SINGULAR: ClassVar[str] = "replicationcontroller"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("rc",)
    CATEGORIES: ClassVar[tuple[str, ...]] = ("all",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status", "scale")

    spec: ReplicationControllerSpec | None = None
    status: ReplicationControllerStatus | None = None


__all__ = ["ReplicationController", "ReplicationControllerSpec", "ReplicationControllerStatus"]
