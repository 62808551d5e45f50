"""PersistentVolume controller: binds claims to volumes, provisions local-path volumes,
reclaims released ones, keeps the phases (pkg/controller/volume/persistentvolume).

Contract:
- Keys: `claim:<ns>/<name>` and `volume:<name>` on one queue. Claim and volume events enqueue
  themselves and their partner (a volume's claimRef, a claim's volumeName); a helper pod's
  events enqueue its volume.
- Claim without `volumeName`:
  - no `storageClassName` while a class is marked default: the default class is written into
    the claim (Kubernetes' retroactive default StorageClass assignment);
  - an Available PV of the same class that fits (capacity >= request, access modes include
    the claim's, pre-bound to this claim or to nothing; for WaitForFirstConsumer only once the
    scheduler chose a node, and only a PV whose node affinity admits it) is bound;
  - else a class of our provisioner (`localpath.PROVISIONER`) with WaitForFirstConsumer and
    the `volume.kubernetes.io/selected-node` annotation gets a new PV on that node
    (ProvisioningSucceeded event) which is then bound; without the annotation the claim waits
    (WaitForFirstConsumer event); an Immediate class of ours cannot know the node
    (ProvisioningFailed); another provisioner: ExternalProvisioning event, the claim waits.
- Binding writes, in Kubernetes' order: PV claimRef, PV status Bound, claim volumeName (+
  annotations bind-completed, bound-by-controller), claim status Bound with the PV's
  capacity and access modes. Each step is level-triggered: a failure retries from the state.
- Claim with `volumeName`: the PV gone -> claim phase Lost (ClaimLost warning); the PV bound
  to this claim -> both Bound; a PV without claimRef -> bound to it (a claim naming a volume).
- Volume: no claimRef (or a pre-binding without uid) -> Available; its claim exists with the
  same uid -> Bound; the claim is gone -> Released, then the reclaim policy: Retain keeps it
  Released (the data stays until an admin acts); Delete of a local-path PV runs the helper pod
  on the volume's node (localpath.py), then deletes the helper and the PV (a failed helper
  leaves the PV Failed with reason VolumeFailedDelete); Delete of any other PV and Recycle
  -> Failed (no plugin can do it here).
- At startup (`run`), a default StorageClass `options.default_storage_class` of our
  provisioner is created when no class is marked default.
- Status writes go through `/status` as merge patches, only when something changes.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from controllers.volume import localpath
from machinery import errors
from machinery.events import NORMAL, WARNING
from machinery.meta import Resource, now_rfc3339
from machinery.models import (
    BIND_COMPLETED_ANNOTATION,
    BOUND_BY_CONTROLLER_ANNOTATION,
    DEFAULT_CLASS_ANNOTATION,
    PROVISIONER_ANNOTATION,
    SELECTED_NODE_ANNOTATION,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    StorageClass,
)
from machinery.nodematch import term_matches
from machinery.quantity import parse_quantity

log = logging.getLogger(__name__)


def _request(claim: PersistentVolumeClaim) -> Any:
    requests = (claim.spec.resources.requests or {}) if claim.spec and claim.spec.resources else {}
    return parse_quantity(requests.get("storage", "0"))


def _capacity(pv: PersistentVolume) -> Any:
    return parse_quantity(((pv.spec.capacity or {}) if pv.spec else {}).get("storage", "0"))


def _node_admits(pv: PersistentVolume, node: str) -> bool:
    affinity = pv.spec.nodeAffinity if pv.spec else None
    if affinity is None or affinity.required is None:
        return True
    # Only the node's name is known here (no Node cache): terms on metadata.name or hostname.
    return any(term_matches(t.to_dict(), {"kubernetes.io/hostname": node}, node)
               for t in affinity.required.nodeSelectorTerms)


class PersistentVolumeController(Controller):
    NAME = "persistentvolume-binder"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.options = ctx.options
        self.claims = ctx.factory.informer(PersistentVolumeClaim)
        self.volumes = ctx.factory.informer(PersistentVolume)
        self.classes = ctx.factory.informer(StorageClass)
        self.pods = ctx.factory.informer(Pod)
        self.claims.add_handlers(on_add=self._claim_changed, on_update=lambda old, new: self._claim_changed(new),
                                 on_delete=self._claim_changed)
        self.volumes.add_handlers(on_add=self._volume_changed, on_update=lambda old, new: self._volume_changed(new),
                                  on_delete=self._volume_changed)
        self.classes.add_handlers(on_add=self._class_changed, on_update=lambda old, new: self._class_changed(new))
        self.pods.add_handlers(on_update=lambda old, new: self._helper_changed(new), on_delete=self._helper_changed)

    # -- handlers --------------------------------------------------------------------------------

    def _claim_changed(self, claim: PersistentVolumeClaim) -> None:
        self.queue.add(f"claim:{claim.key}")
        if claim.spec and claim.spec.volumeName:
            self.queue.add(f"volume:{claim.spec.volumeName}")
        for pv in self.volumes.list():  # a Released volume waits for its claim's deletion
            ref = pv.spec.claimRef if pv.spec else None
            if ref is not None and ref.namespace == claim.namespace and ref.name == claim.name:
                self.queue.add(f"volume:{pv.name}")

    def _volume_changed(self, pv: PersistentVolume) -> None:
        self.queue.add(f"volume:{pv.name}")
        ref = pv.spec.claimRef if pv.spec else None
        if ref is not None and ref.name:
            self.queue.add(f"claim:{ref.namespace}/{ref.name}")

    def _class_changed(self, sc: StorageClass) -> None:
        for claim in self.claims.list():
            if claim.spec and not claim.spec.volumeName:
                self.queue.add(f"claim:{claim.key}")

    def _helper_changed(self, pod: Pod) -> None:
        pv = (pod.metadata.labels or {}).get(localpath.HELPER_LABEL)
        if pv and pod.namespace == localpath.HELPER_NAMESPACE:
            self.queue.add(f"volume:{pv}")

    # -- startup ---------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.ensure_default_class()
        await super().run()

    async def ensure_default_class(self) -> None:
        name = self.options.default_storage_class
        if not name or self.default_class() is not None:
            return
        try:
            await self.client.create(localpath.default_class(name))
            log.info("created the default StorageClass %s", name)
        except errors.AlreadyExists:
            pass
        except errors.ApiError as exc:  # the rest of the controller works without it
            log.warning("could not create the default StorageClass %s: %s", name, exc)

    def default_class(self) -> StorageClass | None:
        defaults = [c for c in self.classes.list()
                    if (c.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
        # Several defaults: the newest wins, as Kubernetes (then the name, for determinism).
        defaults.sort(key=lambda c: (c.metadata.creationTimestamp or "", c.name), reverse=True)
        return defaults[0] if defaults else None

    # -- sync --------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        if kind == "claim":
            claim = self.claims.get(rest)
            if claim is not None and claim.spec is not None and not claim.metadata.deletionTimestamp:
                await self._sync_claim(claim)
        elif kind == "volume":
            pv = self.volumes.get(rest)
            if pv is not None and pv.spec is not None:
                await self._sync_volume(pv)

    async def _sync_claim(self, claim: PersistentVolumeClaim) -> None:
        assert claim.spec is not None
        if claim.spec.volumeName:
            await self._sync_bound_claim(claim)
            return
        if claim.spec.storageClassName is None and (default := self.default_class()) is not None:
            await self.client.patch(PersistentVolumeClaim, claim.name, {"spec": {"storageClassName": default.name}},
                                    namespace=claim.namespace)
            return
        await self._status(claim, {"phase": "Pending"})
        class_name = claim.spec.storageClassName or ""
        sc = self.classes.get(class_name) if class_name else None
        node = (claim.metadata.annotations or {}).get(SELECTED_NODE_ANNOTATION)
        delayed = sc is not None and sc.volumeBindingMode == "WaitForFirstConsumer"
        if not delayed or node:
            pv = self._find_match(claim, class_name, node)
            if pv is not None:
                await self._bind(pv, claim)
                return
        if sc is None:
            await self.recorder.event(claim, NORMAL, "FailedBinding",
                                      "no persistent volumes available for this claim and no storage class is set")
            return
        if sc.provisioner != localpath.PROVISIONER:
            await self.recorder.event(claim, NORMAL, "ExternalProvisioning",
                                      f"Waiting for a volume to be created either by the external provisioner "
                                      f"'{sc.provisioner}' or manually by the system administrator.")
            return
        if not delayed:
            await self.recorder.event(claim, WARNING, "ProvisioningFailed",
                                      f"storageclass {sc.name}: {localpath.PROVISIONER} needs volumeBindingMode "
                                      "WaitForFirstConsumer (a local volume lives on the node of its first pod)")
            return
        if not node:
            await self.recorder.event(claim, NORMAL, "WaitForFirstConsumer",
                                      "waiting for first consumer to be created before binding")
            return
        await self._provision(claim, sc, node)

    def _find_match(self, claim: PersistentVolumeClaim, class_name: str, node: str | None) -> PersistentVolume | None:
        assert claim.spec is not None
        want, modes = _request(claim), set(claim.spec.accessModes or [])
        best: PersistentVolume | None = None
        for pv in self.volumes.list():
            spec = pv.spec
            if spec is None or pv.metadata.deletionTimestamp or (spec.storageClassName or "") != class_name:
                continue
            ref = spec.claimRef
            if ref is not None and (ref.namespace != claim.namespace or ref.name != claim.name
                                    or (ref.uid and ref.uid != claim.uid)):
                continue
            phase = pv.status.phase if pv.status else None
            if ref is None and phase not in (None, "Available", "Pending"):
                continue
            if _capacity(pv) < want or not modes <= set(spec.accessModes or []):
                continue
            if node is not None and not _node_admits(pv, node):
                continue
            if ref is not None:
                return pv  # pre-bound to this claim: always the one
            if best is None or _capacity(pv) < _capacity(best):
                best = pv  # the smallest that fits, as Kubernetes
        return best

    async def _provision(self, claim: PersistentVolumeClaim, sc: StorageClass, node: str) -> None:
        annotations = claim.metadata.annotations or {}
        if annotations.get(PROVISIONER_ANNOTATION) != sc.provisioner:
            claim = await self.client.patch(PersistentVolumeClaim, claim.name, {"metadata": {"annotations": {
                PROVISIONER_ANNOTATION: sc.provisioner}}}, namespace=claim.namespace)
        pv = localpath.new_volume(claim, sc, node, self.options.local_path_dir)
        try:
            created: PersistentVolume = await self.client.create(pv)
        except errors.AlreadyExists:
            created = await self.client.get(PersistentVolume, pv.name)
        else:
            await self.recorder.event(claim, NORMAL, "ProvisioningSucceeded",
                                      f"Successfully provisioned volume {pv.name}")
        await self._bind(created, claim)

    async def _bind(self, pv: PersistentVolume, claim: PersistentVolumeClaim) -> None:
        assert pv.spec is not None
        ref = pv.spec.claimRef
        if ref is None or ref.uid != claim.uid:
            claim_ref = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": claim.namespace,
                         "name": claim.name, "uid": claim.uid, "resourceVersion": claim.resource_version}
            pv = await self.client.patch(PersistentVolume, pv.name, {
                "metadata": {"resourceVersion": pv.resource_version,
                             "annotations": {BOUND_BY_CONTROLLER_ANNOTATION: "yes"}},
                "spec": {"claimRef": claim_ref}})
        await self._status(pv, {"phase": "Bound"})
        claim = await self.client.patch(PersistentVolumeClaim, claim.name, {
            "metadata": {"resourceVersion": claim.resource_version, "annotations": {
                BIND_COMPLETED_ANNOTATION: "yes", BOUND_BY_CONTROLLER_ANNOTATION: "yes"}},
            "spec": {"volumeName": pv.name}}, namespace=claim.namespace)
        await self._claim_bound_status(claim, pv)

    async def _claim_bound_status(self, claim: PersistentVolumeClaim, pv: PersistentVolume) -> None:
        assert pv.spec is not None
        await self._status(claim, {"phase": "Bound", "accessModes": list(pv.spec.accessModes or []),
                                   "capacity": dict(pv.spec.capacity or {})})

    async def _sync_bound_claim(self, claim: PersistentVolumeClaim) -> None:
        assert claim.spec is not None and claim.spec.volumeName
        pv = self.volumes.get(claim.spec.volumeName)
        if pv is None or pv.spec is None:
            if (claim.status.phase if claim.status else None) == "Bound":
                await self.recorder.event(claim, WARNING, "ClaimLost",
                                          "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            if (claim.status.phase if claim.status else None) in ("Bound", "Lost"):
                await self._status(claim, {"phase": "Lost"})
            return  # a claim naming a volume that does not exist yet stays Pending
        ref = pv.spec.claimRef
        if ref is None or (not ref.uid and ref.namespace == claim.namespace and ref.name == claim.name):
            await self._bind(pv, claim)
        elif ref.uid == claim.uid:
            await self._status(pv, {"phase": "Bound"})
            await self._claim_bound_status(claim, pv)
        else:
            await self.recorder.event(claim, WARNING, "ClaimMisbound",
                                      "Two claims are bound to the same volume, this one is bound incorrectly")
            await self._status(claim, {"phase": "Lost"})

    async def _sync_volume(self, pv: PersistentVolume) -> None:
        assert pv.spec is not None
        ref = pv.spec.claimRef
        if ref is None or not ref.uid:
            await self._status(pv, {"phase": "Available"})
            return
        claim = self.claims.get(f"{ref.namespace}/{ref.name}")
        if claim is not None and claim.uid == ref.uid:
            if claim.spec and claim.spec.volumeName == pv.name:
                await self._status(pv, {"phase": "Bound"})
            return  # binding in progress: the claim's sync finishes it
        if claim is None:
            # The cache may lag behind a claim created right now: confirm it is gone.
            try:
                live = await self.client.get(PersistentVolumeClaim, ref.name or "", namespace=ref.namespace)
                if live.uid == ref.uid:
                    return
            except errors.NotFound:
                pass
        await self._reclaim(pv)

    async def _reclaim(self, pv: PersistentVolume) -> None:
        assert pv.spec is not None
        policy = pv.spec.persistentVolumeReclaimPolicy or "Retain"
        if (pv.status.phase if pv.status else None) == "Failed":
            return
        if policy == "Retain":
            await self._status(pv, {"phase": "Released"})
            return
        if policy == "Delete" and localpath.is_ours(pv) and pv.spec.hostPath is not None:
            await self._status(pv, {"phase": "Released"})
            await self._delete_on_node(pv)
            return
        await self._status(pv, {"phase": "Failed",
                                "reason": "VolumeFailedDelete" if policy == "Delete" else "VolumeFailedRecycle",
                                "message": "error getting deleter volume plugin for volume "
                                f'"{pv.name}": no deletable volume plugin matched'})

    async def _delete_on_node(self, pv: PersistentVolume) -> None:
        node = localpath.volume_node(pv)
        if node is None:
            await self._status(pv, {"phase": "Failed", "reason": "VolumeFailedDelete",
                                    "message": "local-path volume without a node"})
            return
        name = localpath.helper_name(pv)
        helper = self.pods.get(f"{localpath.HELPER_NAMESPACE}/{name}")
        if helper is None:
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(localpath.delete_helper(pv, node, self.options.local_path_helper_image))
            return  # its status changes re-queue this volume
        phase = helper.status.phase if helper.status else None
        if phase == "Succeeded":
            await self._delete(Pod, name, localpath.HELPER_NAMESPACE)
            await self._delete(PersistentVolume, pv.name, None)
            path = pv.spec.hostPath.path if pv.spec and pv.spec.hostPath else ""
            await self.recorder.event(pv, NORMAL, "VolumeDeleted", f"deleted {path} on {node}")
        elif phase == "Failed":
            await self._delete(Pod, name, localpath.HELPER_NAMESPACE)
            await self._status(pv, {"phase": "Failed", "reason": "VolumeFailedDelete",
                                    "message": f"the helper pod {name} failed to remove the directory on {node}"})
            await self.recorder.event(pv, WARNING, "VolumeFailedDelete", f"helper pod {name} failed on {node}")

    async def _delete(self, cls: type[Resource], name: str, namespace: str | None) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(cls, name, namespace=namespace)

    async def _status(self, obj: PersistentVolume | PersistentVolumeClaim, status: dict[str, Any]) -> None:
        current = obj.status.to_dict() if obj.status else {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        if "phase" in status and status["phase"] != current.get("phase") and isinstance(obj, PersistentVolume):
            status = {**status, "lastPhaseTransitionTime": now_rfc3339()}
            if status["phase"] != "Failed":
                status.setdefault("reason", None)
                status.setdefault("message", None)
        with contextlib.suppress(errors.NotFound):
            await self.client.patch(type(obj), obj.name, {"status": status}, namespace=obj.namespace,
                                    subresource="status")


__all__ = ["PersistentVolumeController"]
