"""PVC protection: a claim in use by a pod is not removed until no pod uses it.

Contract (pkg/controller/volume/pvcprotection):
- Every claim that is not being deleted carries the `kubernetes.io/pvc-protection` finalizer
  (added here, guarded by resourceVersion; Kubernetes' admission adds it at creation and this
  controller adds it to claims that lack it).
- A claim being deleted keeps the finalizer while a pod of its namespace that is not
  Succeeded/Failed names it in its volumes (scheduled or not); the cache answer "unused" is
  confirmed with a live pod list before the finalizer is removed (the cache may lag behind a
  pod created right now). Then the API server drops the claim.
- Pod events (deletion, finishing) re-queue the claims the pod names.
"""

from __future__ import annotations

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.models import PVC_PROTECTION_FINALIZER, PersistentVolumeClaim, Pod


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
        try:
            await self.client.patch(PersistentVolumeClaim, claim.name, patch, namespace=claim.namespace)
        except errors.NotFound:
            pass


__all__ = ["PvcProtectionController", "claims_of", "uses"]
