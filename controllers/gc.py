"""Garbage collector: ownerReferences drive cascading deletion (Background, Foreground, Orphan).

Contract (pkg/controller/garbagecollector, without its graph: informer indexes do that job):
- Informers on `GC_KINDS` (workloads, pods, services, config) index objects by uid and by the
  uids of their owners. Work keys are `Kind|namespace/name`.
- A dependent whose owners are all gone is deleted (Background). "Gone" is checked in the
  cache first and then with a live GET comparing uids, so a watch that lags behind (the pod's
  ADDED before its ReplicaSet's) never deletes a live object's dependents. A dependent with
  some owners gone and some alive only loses the dangling references.
- Foreground: an owner with deletionTimestamp and the `foregroundDeletion` finalizer gets its
  dependents deleted (those whose own owners all wait the same way are deleted Foreground too,
  so the cascade goes down the tree); once no dependent with blockOwnerDeletion=true is left,
  the finalizer is removed and the API server drops the owner.
- Orphan: an owner with deletionTimestamp and the `orphan` finalizer: every dependent loses its
  ownerReference to it, then the finalizer is removed.
- Finalizer and ownerReference edits are merge patches guarded by resourceVersion (Conflict ->
  retry with backoff).
- Handlers route keys only: an object with owners or with a GC finalizer is queued; an owner's
  deletion queues its dependents; a dependent's deletion queues its owners (a foreground owner
  may be done waiting).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import errors, registry
from machinery.meta import OwnerReference, Resource
from machinery.models import (
    ConfigMap,
    ControllerRevision,
    DaemonSet,
    Deployment,
    Endpoints,
    Job,
    PersistentVolumeClaim,
    Pod,
    ReplicaSet,
    ReplicationController,
    Secret,
    Service,
    StatefulSet,
)

log = logging.getLogger(__name__)

GC_KINDS: list[type[Resource]] = [Pod, ReplicaSet, ReplicationController, Deployment, StatefulSet, DaemonSet, Job,
                                  Service, Endpoints, ConfigMap, Secret, ControllerRevision, PersistentVolumeClaim]
UID_INDEX = "gc-uid"
OWNER_INDEX = "gc-owner-uid"
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def _uid_index(obj: Any) -> list[str]:
    return [obj.uid] if obj.uid else []


def _owner_index(obj: Any) -> list[str]:
    return [ref.uid for ref in obj.metadata.ownerReferences or []]


def work_key(obj: Resource) -> str:
    return f"{obj.KIND}|{obj.key}"


class GarbageCollector(Controller):
    NAME = "garbagecollector"

    def __init__(self, ctx: ControllerContext, kinds: list[type[Resource]] | None = None) -> None:
        super().__init__(ctx)
        self.informers = {cls.KIND: ctx.factory.informer(cls) for cls in (kinds or GC_KINDS)}
        for inf in self.informers.values():
            inf.add_index(UID_INDEX, _uid_index)
            inf.add_index(OWNER_INDEX, _owner_index)
            inf.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new),
                             on_delete=self._deleted)

    # -- handlers ------------------------------------------------------------------------------

    def _changed(self, obj: Resource) -> None:
        finalizers = obj.metadata.finalizers or []
        if obj.metadata.ownerReferences or (obj.metadata.deletionTimestamp and
                                            (FOREGROUND in finalizers or ORPHAN in finalizers)):
            self.queue.add(work_key(obj))

    def _deleted(self, obj: Resource) -> None:
        for dep in self._dependents(obj.uid):
            self.queue.add(work_key(dep))
        for ref in obj.metadata.ownerReferences or []:
            for owner in self._cached_by_uid(ref):
                self.queue.add(work_key(owner))

    # -- lookups -------------------------------------------------------------------------------

    def _dependents(self, uid: str) -> list[Resource]:
        return [d for inf in self.informers.values() for d in inf.by_index(OWNER_INDEX, uid)]

    def _cached_by_uid(self, ref: OwnerReference) -> list[Resource]:
        inf = self.informers.get(ref.kind)
        return inf.by_index(UID_INDEX, ref.uid) if inf is not None else []

    async def _owner_alive(self, obj: Resource, ref: OwnerReference) -> Resource | None:
        """The owner if it exists with the referenced uid (cache, then a live GET)."""
        cached = self._cached_by_uid(ref)
        if cached:
            return cached[0]
        try:
            cls = registry.by_kind(ref.kind, ref.apiVersion)
        except KeyError:
            return None  # a kind this API does not serve cannot own anything
        try:
            owner = await self.client.get(cls, ref.name, namespace=obj.namespace if cls.NAMESPACED else None)
        except errors.NotFound:
            return None
        return owner if owner.uid == ref.uid else None

    def _get(self, key: str) -> Resource | None:
        kind, _, obj_key = key.partition("|")
        inf = self.informers.get(kind)
        return inf.get(obj_key) if inf is not None else None

    # -- sync ----------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        obj = self._get(key)
        if obj is None:
            return
        finalizers = obj.metadata.finalizers or []
        if obj.metadata.deletionTimestamp and ORPHAN in finalizers:
            await self._orphan_dependents(obj)
            return
        if obj.metadata.deletionTimestamp and FOREGROUND in finalizers:
            await self._delete_dependents_first(obj)
            return
        if obj.metadata.ownerReferences and not obj.metadata.deletionTimestamp:
            await self._check_owners(obj)

    async def _check_owners(self, obj: Resource) -> None:
        refs = obj.metadata.ownerReferences or []
        alive: list[tuple[OwnerReference, Resource]] = []
        dangling: list[OwnerReference] = []
        for ref in refs:
            owner = await self._owner_alive(obj, ref)
            if owner is None:
                dangling.append(ref)
            else:
                alive.append((ref, owner))
        if not alive:
            log.info("gc: deleting %s %s: its owners are gone", obj.KIND, obj.key)
            await self._delete(obj, "Background")
            return
        waiting = [o for r, o in alive if o.metadata.deletionTimestamp and FOREGROUND in (o.metadata.finalizers or [])]
        if len(waiting) == len(alive) and any(r.blockOwnerDeletion for r, _ in alive):
            await self._delete(obj, "Foreground")  # carry the foreground cascade one level down
            return
        if dangling:
            keep = [r.to_dict() for r in refs if r not in dangling]
            await self._patch_meta(obj, {"ownerReferences": keep})

    async def _delete_dependents_first(self, owner: Resource) -> None:
        dependents = self._dependents(owner.uid)
        for dep in dependents:
            if not dep.metadata.deletionTimestamp:
                await self._delete(dep, "Foreground")
        blocking = [d for d in dependents
                    if any(r.uid == owner.uid and r.blockOwnerDeletion for r in d.metadata.ownerReferences or [])]
        if blocking:
            return  # their deletion events queue us again
        await self._remove_finalizer(owner, FOREGROUND)

    async def _orphan_dependents(self, owner: Resource) -> None:
        for dep in self._dependents(owner.uid):
            keep = [r.to_dict() for r in dep.metadata.ownerReferences or [] if r.uid != owner.uid]
            await self._patch_meta(dep, {"ownerReferences": keep or None})
        await self._remove_finalizer(owner, ORPHAN)

    # -- writes --------------------------------------------------------------------------------

    async def _delete(self, obj: Resource, policy: str) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(type(obj), obj.name, namespace=obj.namespace, propagation_policy=policy,
                                     preconditions={"uid": obj.uid} if obj.uid else None)

    async def _remove_finalizer(self, obj: Resource, finalizer: str) -> None:
        left = [f for f in obj.metadata.finalizers or [] if f != finalizer]
        await self._patch_meta(obj, {"finalizers": left or None})

    async def _patch_meta(self, obj: Resource, meta: dict[str, Any]) -> None:
        patch = {"metadata": {**meta, "resourceVersion": obj.resource_version}}
        with contextlib.suppress(errors.NotFound):
            await self.client.patch(type(obj), obj.name, patch, namespace=obj.namespace)
