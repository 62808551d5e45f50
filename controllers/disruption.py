"""Disruption controller: computes the status of every PodDisruptionBudget.

Contract (Kubernetes pkg/controller/disruption, reduced): a PDB is synced when it is added or
changed, and when a pod of its namespace that it selects is added, changes or goes away. `sync`
reads the PDB and the namespace's pods from the informer caches and writes the status of
machinery/disruption.py `compute_status` through /status (a 409 against a concurrent eviction's
decrement retries the key). expectedPods: with an integer minAvailable, the number of selected
pods; otherwise the sum of the replicas of the pods' controllers (ReplicaSet, StatefulSet,
ReplicationController; a pod without one counts for itself).
"""

from __future__ import annotations

import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import disruption, errors
from machinery.meta import Resource, now_rfc3339
from machinery.models import Pod, PodDisruptionBudget, ReplicaSet, ReplicationController, StatefulSet

log = logging.getLogger(__name__)
_SCALED: dict[str, type[Resource]] = {"ReplicaSet": ReplicaSet, "StatefulSet": StatefulSet,
                                      "ReplicationController": ReplicationController}


class DisruptionController(Controller):
    NAME = "disruption"
    KIND = PodDisruptionBudget

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.pdbs = ctx.factory.informer(PodDisruptionBudget)
        self.pods = ctx.factory.informer(Pod)
        self.pdbs.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.pods.add_handlers(on_add=self._pod_changed, on_update=lambda _old, new: self._pod_changed(new),
                               on_delete=self._pod_changed)

    def _pod_changed(self, pod: Any) -> None:
        if not isinstance(pod, Pod):
            pod = getattr(pod, "obj", None)
            if not isinstance(pod, Pod):
                for pdb in self.pdbs.list():  # a tombstone we cannot read: resync them all
                    self.enqueue(pdb)
                return
        data = pod.to_dict()
        for pdb in self.pdbs.list():
            if pdb.metadata.namespace == pod.metadata.namespace and disruption.selects(pdb.to_dict(), data):
                self.enqueue(pdb)

    async def _expected(self, pdb: PodDisruptionBudget, pods: list[dict[str, Any]]) -> int | None:
        spec = pdb.spec
        if spec is not None and isinstance(spec.minAvailable, int):
            return None
        total = 0
        seen: set[str] = set()
        for pod in pods:
            ref = next((r for r in (pod["metadata"].get("ownerReferences") or []) if r.get("controller")), None)
            cls = _SCALED.get(str(ref.get("kind"))) if ref else None
            if ref is None or cls is None:
                total += 1
                continue
            if ref["uid"] in seen:
                continue
            seen.add(ref["uid"])
            try:
                owner: Any = await self.client.get(cls, ref["name"], namespace=pdb.metadata.namespace)
            except errors.NotFound:
                continue
            total += int((owner.spec.replicas if owner.spec else None) or 0)
        return total

    async def sync(self, key: str) -> None:
        pdb = self.pdbs.get(key)
        if pdb is None or pdb.metadata.deletionTimestamp:
            return
        data = pdb.to_dict()
        pods = [p.to_dict() for p in self.pods.list() if p.metadata.namespace == pdb.metadata.namespace]
        matched = [p for p in pods if disruption.selects(data, p)]
        status = disruption.compute_status(data, matched, await self._expected(pdb, matched), now=now_rfc3339())
        if data.get("status") == status:
            return
        await self.client.replace_status(PodDisruptionBudget.from_dict({**data, "status": status}))


__all__ = ["DisruptionController"]
