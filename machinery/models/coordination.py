"""coordination.k8s.io/v1 Lease (node heartbeats, leader election).

`acquireTime`/`renewTime` are MicroTime: RFC 3339 with microseconds,
"2026-01-02T03:04:05.123456Z" (`machinery.clock.now_micro_rfc3339()` writes one).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import StrictModel


class LeaseSpec(StrictModel):
    holderIdentity: str | None = None
    leaseDurationSeconds: int | None = None
    acquireTime: str | None = None
    renewTime: str | None = None
    leaseTransitions: int | None = None
    strategy: str | None = None
    preferredHolder: str | None = None


class Lease(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "coordination.k8s.io"
    KIND: ClassVar[str] = "Lease"
    PLURAL: ClassVar[str] = "leases"
    SINGULAR: ClassVar[str] = "lease"

    spec: LeaseSpec | None = None


__all__ = ["Lease", "LeaseSpec"]
