"""PVC and PV protection: a claim in use by a pod, or a volume bound to a claim, is not removed
until it is no longer used.

Contract (pkg/controller/volume/pvcprotection):
- Every claim that is not being deleted carries the `kubernetes.io/pvc-protection` finalizer
  (added here, guarded by resourceVersion; Kubernetes' admission adds it at creation and this
  controller adds it to claims that lack it).
- A claim being deleted keeps the finalizer while a pod of its namespace that is not
  Succeeded/Failed names it in its volumes (scheduled or not); the cache answer "unused" is
  confirmed with a live pod list before the finalizer is removed (the cache may lag behind a
  pod created right now). Then the API server drops the claim.
- Pod events (deletion, finishing) re-queue the claims the pod names.
- PV protection (pkg/controller/volume/pvprotection): every PV carries
  `kubernetes.io/pv-protection`; a PV being deleted keeps it while its phase is Bound.
"""

from __future__ import annotations

import contextlib

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.models import (
    PV_PROTECTION_FINALIZER,
    PVC_PROTECTION_FINALIZER,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
)


def claims_of(pod: Pod) -> list[str]:
    return [str(v.persistentVolumeClaim.get("claimName") or "")
            for v in (pod.spec.volumes or [] if pod.spec else []) if v.persistentVolumeClaim]


def uses(pod: Pod, claim: str) -> bool:
    phase = pod.status.phase if pod.status else None
    return phase not in ("Succeeded", "Failed") and claim in claims_of(pod)


class PvcProtectionController(Controller):
    NAME = "pvc-protection"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims = ctx.factory.informer(PersistentVolumeClaim)
        self.pods = ctx.factory.informer(Pod)
        self.claims.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))
        self.pods.add_handlers(on_update=lambda old, new: self._pod_changed(new), on_delete=self._pod_changed)

    def _pod_changed(self, pod: Pod) -> None:
        for name in claims_of(pod):
            self.queue.add(f"{pod.namespace}/{name}")

    async def sync(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None:
            return
        finalizers = list(claim.metadata.finalizers or [])
        if not claim.metadata.deletionTimestamp:
            if PVC_PROTECTION_FINALIZER not in finalizers:
                await self._set(claim, [*finalizers, PVC_PROTECTION_FINALIZER])
            return
        if PVC_PROTECTION_FINALIZER not in finalizers:
            return
        if any(uses(p, claim.name) for p in self.pods.by_index("namespace", claim.namespace or "")):
            return  # a pod event re-queues it
        live = await self.client.list(Pod, namespace=claim.namespace)
        if any(uses(p, claim.name) for p in live.items):
            return
        await self._set(claim, [f for f in finalizers if f != PVC_PROTECTION_FINALIZER])

    async def _set(self, claim: PersistentVolumeClaim, finalizers: list[str]) -> None:
        patch = {"metadata": {"finalizers": finalizers or None, "resourceVersion": claim.resource_version}}
        with contextlib.suppress(errors.NotFound):
            await self.client.patch(PersistentVolumeClaim, claim.name, patch, namespace=claim.namespace)


class PvProtectionController(Controller):
    NAME = "pv-protection"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.volumes = ctx.factory.informer(PersistentVolume)
        self.volumes.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))

    async def sync(self, key: str) -> None:
        pv = self.volumes.get(key)
        if pv is None:
            return
        finalizers = list(pv.metadata.finalizers or [])
        if not pv.metadata.deletionTimestamp:
            if PV_PROTECTION_FINALIZER not in finalizers:
                await self._set(pv, [*finalizers, PV_PROTECTION_FINALIZER])
            return
        if PV_PROTECTION_FINALIZER in finalizers and (pv.status.phase if pv.status else None) != "Bound":
            await self._set(pv, [f for f in finalizers if f != PV_PROTECTION_FINALIZER])

    async def _set(self, pv: PersistentVolume, finalizers: list[str]) -> None:
        patch = {"metadata": {"finalizers": finalizers or None, "resourceVersion": pv.resource_version}}
        with contextlib.suppress(errors.NotFound):
            await self.client.patch(PersistentVolume, pv.name, patch)


__all__ = ["PvProtectionController", "PvcProtectionController", "claims_of", "uses"]
