"""The API writes of the StatefulSet controller about one pod and its claims, with Events.

Contract (Kubernetes pkg/controller/statefulset/stateful_pod_control.go):
- `create_pod(sts, pod)`: first every claim of the pod that does not exist yet (a claim that
  exists but is being deleted is an error: the pod must not start on a dying volume), then
  the pod; then the claims' ownerReferences are set for the retention policy. Returns the
  created pod, or None when a pod of that name already exists (the watch has not shown it
  yet; its event re-queues the set).
- `update_pod(sts, pod)`: restores identity and storage (creating missing claims) and the
  retention ownerReferences; writes the pod only when something changed (PUT with its
  resourceVersion). `delete_pod(sts, pod)`. `create_missing_claims(sts, pod)` for a pending
  pod whose claim was removed.
- Retention (`persistentVolumeClaimRetentionPolicy`, KEP-1847): whenDeleted=Delete gives a
  claim an ownerReference to the set (the garbage collector deletes it with the set);
  whenScaled=Delete gives the claim of a pod beyond the replica count an ownerReference to the
  pod (deleted with the condemned pod). Retain removes those references.
  `claims_match_policy(sts, pod)`, `update_claims_for_policy(sts, pod)`.
- `claim_is_stale(sts, pod)`: with whenScaled=Delete, a claim still owned by an older pod of
  the same name (other uid) is about to be deleted: the pod waits instead of reusing it.
- Events as Kubernetes words them: SuccessfulCreate "create Pod web-0 in StatefulSet web
  successful", "create Claim www-web-0 Pod web-0 in StatefulSet web success",
  SuccessfulDelete, SuccessfulUpdate, and FailedCreate/FailedDelete/FailedUpdate warnings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controllers.statefulset import identity
from machinery import errors
from machinery.events import NORMAL, WARNING
from machinery.meta import OwnerReference, Resource
from machinery.models import PersistentVolumeClaim, Pod, StatefulSet

if TYPE_CHECKING:
    from machinery.client import KubeClient

ClaimGetter = Callable[[str], PersistentVolumeClaim | None]


def _policy(sts: StatefulSet) -> tuple[str, str]:
    policy = (sts.spec.persistentVolumeClaimRetentionPolicy if sts.spec else None) or {}
    return str(policy.get("whenDeleted") or "Retain"), str(policy.get("whenScaled") or "Retain")


def _ref(owner: Resource) -> OwnerReference:
    return OwnerReference(apiVersion=owner.api_version(), kind=owner.KIND, name=owner.name, uid=owner.uid)


def desired_claim_refs(claim: PersistentVolumeClaim, sts: StatefulSet, pod: Pod) -> list[OwnerReference]:
    """The claim's ownerReferences under the set's retention policy (Kubernetes'
    updateClaimOwnerRefForSetAndPod)."""
    when_deleted, when_scaled = _policy(sts)
    scaled_down = not identity.in_ordinal_range(sts, pod)
    want_set = when_deleted == "Delete" and not (when_scaled == "Delete" and scaled_down)
    want_pod = when_scaled == "Delete" and scaled_down
    refs = [r for r in claim.metadata.ownerReferences or [] if r.uid not in (sts.uid, pod.uid)]
    if want_set:
        refs.append(_ref(sts))
    if want_pod and pod.uid:
        refs.append(_ref(pod))
    return refs


def _same_refs(a: list[OwnerReference] | None, b: list[OwnerReference]) -> bool:
    return sorted(r.uid for r in a or []) == sorted(r.uid for r in b)


class PodControl:
    def __init__(self, client: KubeClient, recorder: Any, get_claim: ClaimGetter) -> None:
        self.client = client
        self.recorder = recorder
        self.get_claim = get_claim

    async def _claim(self, claim: PersistentVolumeClaim) -> PersistentVolumeClaim | None:
        return self.get_claim(claim.key)

    async def create_missing_claims(self, sts: StatefulSet, pod: Pod) -> None:
        failures: list[str] = []
        for claim in identity.claims_for(sts, identity.ordinal_of(pod)):
            existing = await self._claim(claim)
            if existing is not None:
                if existing.metadata.deletionTimestamp:
                    failures.append(f"pvc {claim.name} is being deleted")
                continue
            try:
                await self.client.create(claim, namespace=sts.namespace)
            except errors.AlreadyExists:
                continue  # created meanwhile (our informer lags): fine
            except errors.ApiError as exc:
                await self.recorder.event(sts, WARNING, "FailedCreate", f"create Claim {claim.name} for Pod "
                                          f"{pod.name} in StatefulSet {sts.name} failed error: {exc.message}")
                raise
            await self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                                      f"create Claim {claim.name} Pod {pod.name} in StatefulSet {sts.name} success")
        if failures:
            raise errors.Conflict("; ".join(failures))

    async def create_pod(self, sts: StatefulSet, pod: Pod) -> Pod | None:
        await self.create_missing_claims(sts, pod)
        try:
            created: Pod = await self.client.create(pod, namespace=sts.namespace)
        except errors.AlreadyExists:
            return None
        except errors.ApiError as exc:
            await self.recorder.event(sts, WARNING, "FailedCreate",
                                      f"create Pod {pod.name} in StatefulSet {sts.name} failed error: {exc.message}")
            raise
        await self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                                  f"create Pod {pod.name} in StatefulSet {sts.name} successful")
        await self.update_claims_for_policy(sts, created)
        return created

    async def delete_pod(self, sts: StatefulSet, pod: Pod) -> None:
        try:
            await self.client.delete(Pod, pod.name, namespace=pod.namespace)
        except errors.NotFound:
            return
        except errors.ApiError as exc:
            await self.recorder.event(sts, WARNING, "FailedDelete",
                                      f"delete Pod {pod.name} in StatefulSet {sts.name} failed error: {exc.message}")
            raise
        await self.recorder.event(sts, NORMAL, "SuccessfulDelete",
                                  f"delete Pod {pod.name} in StatefulSet {sts.name} successful")

    async def claims_match_policy(self, sts: StatefulSet, pod: Pod) -> bool:
        for claim in identity.claims_for(sts, identity.ordinal_of(pod)):
            existing = await self._claim(claim)
            if existing is not None and not _same_refs(existing.metadata.ownerReferences,
                                                       desired_claim_refs(existing, sts, pod)):
                return False
        return True

    async def update_claims_for_policy(self, sts: StatefulSet, pod: Pod) -> None:
        for claim in identity.claims_for(sts, identity.ordinal_of(pod)):
            existing = await self._claim(claim)
            if existing is None:
                continue
            refs = desired_claim_refs(existing, sts, pod)
            if _same_refs(existing.metadata.ownerReferences, refs):
                continue
            patch = {"metadata": {"ownerReferences": [r.to_dict() for r in refs] or None,
                                  "resourceVersion": existing.resource_version}}
            try:
                await self.client.patch(PersistentVolumeClaim, existing.name, patch, namespace=existing.namespace)
            except errors.NotFound:
                continue

    async def claim_is_stale(self, sts: StatefulSet, pod: Pod) -> bool:
        if _policy(sts)[1] == "Retain":
            return False  # retained claims are meant to be reused
        for claim in identity.claims_for(sts, identity.ordinal_of(pod)):
            existing = await self._claim(claim)
            for ref in existing.metadata.ownerReferences or [] if existing is not None else []:
                if ref.kind == "Pod" and ref.name == pod.name and ref.uid != pod.uid:
                    return True
        return False

    async def update_pod(self, sts: StatefulSet, pod: Pod) -> None:
        consistent = True
        if not identity.identity_matches(sts, pod):
            identity.update_identity(sts, pod)
            consistent = False
        if not identity.storage_matches(sts, pod):
            identity.update_storage(sts, pod)
            consistent = False
            await self.create_missing_claims(sts, pod)
        if not await self.claims_match_policy(sts, pod):
            await self.update_claims_for_policy(sts, pod)
        if consistent:
            return
        try:
            await self.client.replace(pod)
        except errors.ApiError as exc:
            await self.recorder.event(sts, WARNING, "FailedUpdate",
                                      f"update Pod {pod.name} in StatefulSet {sts.name} failed error: {exc.message}")
            raise
        await self.recorder.event(sts, NORMAL, "SuccessfulUpdate",
                                  f"update Pod {pod.name} in StatefulSet {sts.name} successful")


__all__ = ["ClaimGetter", "PodControl", "desired_claim_refs"]
