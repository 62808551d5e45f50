"""ResourceQuota controller: recomputes status.hard and status.used of every quota.

Contract (Kubernetes pkg/controller/resourcequota, reduced):
- A quota is synced when it is added or its spec changes, when a pod of its namespace is
  deleted or becomes terminal (the release of its charge), and every `RESYNC_S` for all quotas
  (which also releases charges of creates that failed after the admission charged them, and
  counts deleted objects of the other counted kinds).
- `sync(key)` reads the quota live, lists the counted objects of its namespace live
  (machinery/quota.py `kinds_for`), and writes `status: {hard: spec.hard, used: ...}` through
  /status with the resourceVersion read: a concurrent admission charge makes it 409 and the
  key is retried, so a charge is never overwritten by a count that predates it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import errors, quota, registry
from machinery.models import Pod, ResourceQuota

log = logging.getLogger(__name__)
RESYNC_S = 30.0


class ResourceQuotaController(Controller):
    NAME = "resourcequota"
    KIND = ResourceQuota

    def __init__(self, ctx: ControllerContext, *, resync_s: float = RESYNC_S) -> None:
        super().__init__(ctx)
        self.resync_s = resync_s
        self.quotas = ctx.factory.informer(ResourceQuota)
        self.quotas.add_handlers(on_add=self.enqueue, on_update=self._quota_updated)
        ctx.factory.informer(Pod).add_handlers(on_update=self._pod_updated, on_delete=self._pod_deleted)

    def _quota_updated(self, old: ResourceQuota, new: ResourceQuota) -> None:
        hard = new.spec.hard if new.spec else None
        status_hard = new.status.hard if new.status else None
        if old.spec != new.spec or hard != status_hard:
            self.enqueue(new)

    def _enqueue_namespace(self, namespace: str | None) -> None:
        for q in self.quotas.list():
            if q.metadata.namespace == namespace:
                self.enqueue(q)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        old_phase = old.status.phase if old.status else None
        new_phase = new.status.phase if new.status else None
        if (new_phase != old_phase and new_phase in ("Succeeded", "Failed")) or \
                (new.metadata.deletionTimestamp and not old.metadata.deletionTimestamp):
            self._enqueue_namespace(new.metadata.namespace)

    def _pod_deleted(self, pod: Any) -> None:
        namespace = getattr(getattr(pod, "metadata", None), "namespace", None)
        if namespace is not None:
            self._enqueue_namespace(namespace)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            for q in self.quotas.list():
                self.enqueue(q)

    async def run(self) -> None:
        resync = asyncio.create_task(self._resync())
        try:
            await super().run()
        finally:
            resync.cancel()

    async def sync(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        try:
            rq = await self.client.get(ResourceQuota, name, namespace=namespace)
        except errors.NotFound:
            return
        data = rq.to_dict()
        hard = (rq.spec.hard if rq.spec else None) or {}
        objects: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for plural, group in sorted(quota.kinds_for(hard)):
            try:
                cls = registry.resolve(f"{plural}.{group}" if group else plural)
            except KeyError:
                continue  # a kind kubelite does not serve: nothing to count
            listed = await self.client.list(cls, namespace=namespace)
            objects[(plural, group)] = [o.to_dict() for o in listed.items]
        used = {n: quota.fmt(n, v) for n, v in quota.used_of(data, objects).items()}
        status = {"hard": dict(hard), "used": used}
        if data.get("status") == status:
            return
        new = ResourceQuota.from_dict({**data, "status": status})
        log.info("resourcequota %s: used %s", key, used)
        await self.client.replace_status(new)


__all__ = ["RESYNC_S", "ResourceQuotaController"]
