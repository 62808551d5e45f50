"""ControllerRefManager: which objects a controller owns (Kubernetes' controller_ref_manager.go).

Every workload controller (ReplicaSet, Deployment, and next StatefulSet, DaemonSet, Job,
ReplicationController) claims the objects it manages the same way, through this one class.

Contract (`BaseControllerRefManager.ClaimObject`, `PodControllerRefManager.ClaimPods`):
- `ControllerRefManager(client, controller, selector, *, can_adopt=None)`; `controller` is the
  owner as the caller's cache holds it, `selector` its label selector.
- `await m.claim(objs, *filters)` returns the objects the controller owns after claiming, for
  any owned kind (Pods, ReplicaSets, ControllerRevisions, PersistentVolumeClaims, ...). An
  object "matches" when the selector matches its labels and every filter returns True.
  - Owned by another controller (a controller ownerReference with another uid): never
    touched, not returned.
  - Owned by us and matching: returned.
  - Owned by us, not matching: released (our ownerReference removed), not returned; while the
    controller is being deleted nothing is released (the garbage collector deals with it).
  - Orphan (no controller ownerReference), matching, same namespace, the object not being
    deleted and the controller not being deleted: adopted (our controller ownerReference
    added), returned. Before the first adoption of a claim, `can_adopt()` runs once; the
    default re-reads the controller live (client-go `RecheckDeletionTimestamp`): a controller
    that is gone, re-created under the same name (other uid) or being deleted must adopt
    nothing, because the cache may lag. A refusal raises `AdoptionRefused` (a retry after the
    informer caught up decides again).
  - A NotFound while adopting or releasing (the object vanished) is skipped. Other errors
    do not stop the claim of the other objects; the first one is raised at the end, after
    every object was considered (as client-go aggregates them), so the sync retries.
- `await m.claim_pods(pods, *filters)` is `claim` for Pods (PodControllerRefManager).
- Candidates without a scan (`claim_candidates(informer, controller)`): an informer with the
  `CONTROLLER_UID_INDEX` and `ORPHAN_INDEX` indexes (`add_claim_indexes`) yields the objects a
  claim can return or change: those whose controller reference names this controller's uid
  plus the orphans of its namespace; objects of other controllers, which a claim never
  touches, are not even looked at. Same result as claiming every object of the namespace,
  at the cost of the controller's own objects instead of the namespace's (10,000 pods in one
  namespace made every ReplicaSet sync walk all of them).
- Patches are guarded: a JSON merge patch that sets the whole `metadata.ownerReferences` list
  and carries the object's `metadata.resourceVersion`, so a concurrent change of the object
  makes the API server answer 409 Conflict instead of losing someone's reference.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from controllers import podutil
from machinery import errors
from machinery.informer import Informer
from machinery.meta import Resource
from machinery.models import Pod
from machinery.selectors import LabelSelector

if TYPE_CHECKING:
    from machinery.client import KubeClient

T = TypeVar("T", bound=Resource)
Filter = Callable[[Any], bool]


CONTROLLER_UID_INDEX = "controller-uid"
"""Informer index: the uid of an object's controller reference (none for an orphan)."""
ORPHAN_INDEX = "orphan-namespace"
"""Informer index: the namespace of an object without a controller reference."""


def controller_uid_index(obj: Resource) -> list[str]:
    ref = podutil.controller_ref(obj)
    return [ref.uid] if ref is not None and ref.uid else []


def orphan_index(obj: Resource) -> list[str]:
    return [obj.namespace or ""] if podutil.controller_ref(obj) is None else []


def add_claim_indexes(informer: Informer[T]) -> None:
    """The two indexes `claim_candidates` reads (idempotent: re-adding replaces them)."""
    informer.add_index(CONTROLLER_UID_INDEX, controller_uid_index)
    informer.add_index(ORPHAN_INDEX, orphan_index)


def claim_candidates(informer: Informer[T], controller: Resource) -> list[T]:
    """The objects a claim by `controller` may return or change (see module docstring)."""
    owned = informer.by_index(CONTROLLER_UID_INDEX, controller.uid) if controller.uid else []
    return [*owned, *informer.by_index(ORPHAN_INDEX, controller.namespace or "")]


class AdoptionRefused(Exception):
    """The controller may not adopt now: it is gone, replaced, or being deleted."""


class ControllerRefManager:
    """See module docstring."""

    def __init__(self, client: KubeClient, controller: Resource, selector: LabelSelector, *,
                 can_adopt: Callable[[], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.controller = controller
        self.selector = selector
        self._can_adopt = can_adopt or self.recheck_deletion_timestamp
        self._adoption_checked = False
        self._adoption_error: Exception | None = None

    @property
    def _deleting(self) -> bool:
        return bool(self.controller.metadata.deletionTimestamp)

    async def claim_pods(self, pods: Sequence[Pod], *filters: Filter) -> list[Pod]:
        return await self.claim(pods, *filters)

    async def claim(self, objs: Sequence[T], *filters: Filter) -> list[T]:
        claimed: list[T] = []
        first_error: Exception | None = None
        for obj in objs:
            try:
                if await self._claim_one(obj, filters):
                    claimed.append(obj)
            except Exception as exc:  # noqa: BLE001 - collected and raised after the loop
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return claimed

    async def _claim_one(self, obj: T, filters: Sequence[Filter]) -> bool:
        matches = self.selector.matches(obj.metadata.labels) and all(f(obj) for f in filters)
        ref = podutil.controller_ref(obj)
        if ref is not None:
            if ref.uid != self.controller.uid:
                return False  # another controller's: never touched
            if matches:
                return True
            if not self._deleting:
                await self.release(obj)
            return False
        if not matches or self._deleting or obj.metadata.deletionTimestamp:
            return False
        if self.controller.NAMESPACED and obj.namespace != self.controller.namespace:
            return False  # ownerReferences never cross namespaces
        return await self.adopt(obj)

    async def recheck_deletion_timestamp(self) -> None:
        """The default `can_adopt`: a live read of the controller (see module docstring)."""
        c = self.controller
        try:
            fresh = await self.client.get(type(c), c.name, namespace=c.namespace)
        except errors.NotFound as exc:
            raise AdoptionRefused(f"{c.KIND} {c.key} is gone") from exc
        if fresh.uid != c.uid:
            raise AdoptionRefused(f"original {c.KIND} {c.key} is gone: got uid {fresh.uid}, wanted {c.uid}")
        if fresh.metadata.deletionTimestamp:
            raise AdoptionRefused(f"{c.KIND} {c.key} has just been deleted at {fresh.metadata.deletionTimestamp}")

    async def adopt(self, obj: T) -> bool:
        """Add our controller ownerReference; False if the object vanished."""
        if not self._adoption_checked:  # once per manager; a refusal is remembered too
            self._adoption_checked = True
            try:
                await self._can_adopt()
            except Exception as exc:  # noqa: BLE001 - re-raised below, for this and every later adoption
                self._adoption_error = exc
        if self._adoption_error is not None:
            raise self._adoption_error
        refs = [r.to_dict() for r in obj.metadata.ownerReferences or []]
        refs.append(podutil.new_controller_ref(self.controller).to_dict())
        return await self._patch_refs(obj, refs)

    async def release(self, obj: T) -> bool:
        """Remove our ownerReference; False if the object vanished."""
        refs = [r.to_dict() for r in obj.metadata.ownerReferences or [] if r.uid != self.controller.uid]
        return await self._patch_refs(obj, refs or None)

    async def _patch_refs(self, obj: T, refs: list[dict[str, Any]] | None) -> bool:
        # resourceVersion makes this a compare-and-swap: an object changed meanwhile gets 409.
        patch = {"metadata": {"ownerReferences": refs, "resourceVersion": obj.resource_version}}
        try:
            await self.client.patch(type(obj), obj.name, patch, namespace=obj.namespace)
        except errors.NotFound:
            return False
        return True
