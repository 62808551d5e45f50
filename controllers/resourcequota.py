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
- A count that would LOWER a used value is written only once the quota has not changed for
  `settle_s`: admission charges the quota first and writes the object a moment later, so a
  count taken in between misses an object that is being created (the quota would then admit
  one too many: an overshoot). Unchanged for `settle_s` means no charge is in flight; the key is
  requeued after `settle_s` and recounted then. Raising a value (or a first status) is written
  at once. A quota charged without pause for longer than that keeps its higher value until a
  quiet moment (refusing early, never overshooting). Kubernetes' controller has this race; the
  settle closes it for creates that reach etcd within `settle_s` of their charge.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import errors, quota, registry
from machinery.clock import REAL_CLOCK, Clock
from machinery.models import Pod, ResourceQuota

log = logging.getLogger(__name__)
RESYNC_S = 30.0
SETTLE_S = 3.0


class ResourceQuotaController(Controller):
    NAME = "resourcequota"
    KIND = ResourceQuota

    def __init__(self, ctx: ControllerContext, *, resync_s: float = RESYNC_S, settle_s: float = SETTLE_S,
                 clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.resync_s = resync_s
        self.settle_s = settle_s
        self.clock = clock
        self._lowering: dict[str, tuple[str, float]] = {}  # key -> (resourceVersion, first seen at)
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
            self._lowering.pop(key, None)
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
            self._lowering.pop(key, None)
            return
        if self._lowers(data, used) and not self._settled(key, str(rq.metadata.resourceVersion or "")):
            return
        self._lowering.pop(key, None)
        new = ResourceQuota.from_dict({**data, "status": status})
        log.info("resourcequota %s: used %s", key, used)
        await self.client.replace_status(new)


    @staticmethod
    def _lowers(data: dict[str, Any], used: dict[str, str]) -> bool:
        old = quota.parse_list((data.get("status") or {}).get("used"))
        new = quota.parse_list(used)
        return any(name in old and value < old[name] for name, value in new.items())

    def _settled(self, key: str, resource_version: str) -> bool:
        """True once the quota kept `resource_version` for settle_s; else requeue the key then."""
        now = self.clock.monotonic()
        seen = self._lowering.get(key)
        if seen is None or seen[0] != resource_version:
            self._lowering[key] = seen = (resource_version, now)
        waited_s = now - seen[1]
        if waited_s >= self.settle_s:
            return True
        self.queue.add_after(key, self.settle_s - waited_s)
        return False


__all__ = ["RESYNC_S", "SETTLE_S", "ResourceQuotaController"]
