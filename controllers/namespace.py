"""Namespace controller: a deleted namespace is emptied, then finalized so it disappears.

Contract (pkg/controller/namespace):
- The API server answers DELETE namespaces/NAME with deletionTimestamp, phase Terminating and
  `kubernetes` in spec.finalizers. `sync(name)` then deletes every object of every namespaced
  kind in `registry.ALL_KINDS` inside it (list, then DELETE each with Background propagation), and
  lists again: while anything is left (pods a kubelet is still stopping, objects with
  finalizers) the key is re-checked after `recheck_s`; the status says what is left.
- When nothing is left, `kubernetes` is removed from spec.finalizers with
  PUT namespaces/NAME/finalize; the API server removes the namespace once no finalizer remains.
- A namespace that is not being deleted is left alone.
"""

from __future__ import annotations

import contextlib
import logging

from controllers.base import Controller, ControllerContext
from machinery import errors, registry
from machinery.meta import Resource
from machinery.models import Event, Namespace

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"


class NamespaceController(Controller):
    NAME = "namespace"
    KIND = Namespace

    def __init__(self, ctx: ControllerContext, *, recheck_s: float = 1.0) -> None:
        super().__init__(ctx)
        self.recheck_s = recheck_s
        self.ns_informer = ctx.factory.informer(Namespace)
        self.ns_informer.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))
        # Events last: the deletions above produce events of their own about the namespace's objects.
        kinds = [cls for cls in registry.ALL_KINDS if cls.NAMESPACED]
        self.kinds = [cls for cls in kinds if cls is not Event] + [cls for cls in kinds if cls is Event]

    async def sync(self, key: str) -> None:
        ns = self.ns_informer.get(key)
        if ns is None or not ns.metadata.deletionTimestamp:
            return
        if FINALIZER not in ((ns.spec.finalizers or []) if ns.spec else []):
            return
        left: dict[str, int] = {}
        for cls in self.kinds:
            remaining = await self._delete_all(cls, ns.name)
            if remaining:
                left[cls.PLURAL] = remaining
        if left:
            log.info("namespace %s: waiting for %s", ns.name, left)
            self.queue.add_after(key, self.recheck_s)
            return
        await self._finalize(ns)

    async def _delete_all(self, cls: type[Resource], namespace: str) -> int:
        """Delete every object of `cls` in `namespace`; return how many are still there."""
        items = (await self.client.list(cls, namespace=namespace)).items
        for obj in items:
            if obj.metadata.deletionTimestamp:
                continue  # already going (a kubelet or a finalizer will finish it)
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(cls, obj.name, namespace=namespace, propagation_policy="Background")
        if not items:
            return 0
        return len((await self.client.list(cls, namespace=namespace)).items)

    async def _finalize(self, ns: Namespace) -> None:
        try:
            fresh = await self.client.get(Namespace, ns.name)
        except errors.NotFound:
            return  # finalized by someone else meanwhile
        if fresh.spec is None or FINALIZER not in (fresh.spec.finalizers or []):
            return
        fresh.spec.finalizers = [f for f in fresh.spec.finalizers or [] if f != FINALIZER]
        try:
            await self.client.replace(fresh, subresource="finalize")
        except errors.NotFound:
            return
        log.info("namespace %s: finalized", ns.name)
