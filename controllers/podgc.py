"""Pod garbage collector: pods bound to a Node that no longer exists are force-deleted, so
their controllers recreate them on live nodes (Kubernetes' pkg/controller/podgc, gcOrphaned
and gcUnscheduledTerminating).

Contract:
- A pod whose spec.nodeName names no Node in the cache is checked again after
  `pod_gc_quarantine_s` (40 s, Kubernetes' quarantine: a Node being created may not have
  reached our cache yet); then, if the Node is still missing from the cache AND a live GET says
  404, the pod gets phase Failed with condition DisruptionTarget=True (reason DeletionByPodGC,
  "PodGC: node no longer exists") and is deleted with grace period 0 (uid precondition): no
  kubelet will ever confirm it.
- A pod being deleted that was never scheduled is deleted with grace period 0 at once.
- Triggers: a Node's deletion queues its pods; a pod added or moved to an unknown node queues
  itself; on start every pod bound to an unknown node is queued. Work keys are pod keys.
"""

from __future__ import annotations

import contextlib
import logging

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock, format_time
from machinery.informer import path_index
from machinery.models import Node, Pod

log = logging.getLogger(__name__)

NODE_INDEX = "spec.nodeName"


class PodGarbageCollector(Controller):
    NAME = "podgc"

    def __init__(self, ctx: ControllerContext, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.quarantine_s = ctx.options.pod_gc_quarantine_s
        self.nodes = ctx.factory.informer(Node)
        self.pods = ctx.factory.informer(Pod)
        self.pods.add_index(NODE_INDEX, path_index("spec.nodeName"))
        self.nodes.add_handlers(on_delete=self._node_deleted)
        self.pods.add_handlers(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n))

    def _node_deleted(self, node: Node) -> None:
        for pod in self.pods.by_index(NODE_INDEX, node.name):
            self.queue.add_after(pod.key, self.quarantine_s)

    def _pod_changed(self, pod: Pod) -> None:
        node = pod.spec.nodeName if pod.spec else None
        if not node:
            if pod.metadata.deletionTimestamp:
                self.queue.add(pod.key)
            return
        if self.nodes.has_synced and self.nodes.get(node) is None:
            self.queue.add_after(pod.key, self.quarantine_s)

    async def run(self) -> None:
        for pod in self.pods.list():  # the caches are synced: catch up on what we missed
            self._pod_changed(pod)
        await super().run()

    async def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or pod.spec is None:
            return
        if not pod.spec.nodeName:
            if pod.metadata.deletionTimestamp:
                log.info("podgc: force-deleting unscheduled terminating pod %s", key)
                await self._force_delete(pod)
            return
        if self.nodes.get(pod.spec.nodeName) is not None:
            return
        try:
            await self.client.get(Node, pod.spec.nodeName)
            return  # the cache lags behind: the node exists
        except errors.NotFound:
            pass
        log.info("podgc: deleting pod %s: its node %s no longer exists", key, pod.spec.nodeName)
        await self._fail(pod)
        await self._force_delete(pod)

    async def _fail(self, pod: Pod) -> None:
        conds = [c.to_dict() for c in (pod.status.conditions or [])] if pod.status else []
        conds = [c for c in conds if c.get("type") != "DisruptionTarget"]
        conds.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                      "message": "PodGC: node no longer exists", "lastTransitionTime": format_time(self.clock.now())})
        status: dict[str, object] = {"conditions": conds}
        if not pod.status or pod.status.phase not in ("Succeeded", "Failed"):
            status["phase"] = "Failed"
        try:
            await self.client.patch(Pod, pod.name, {"status": status}, namespace=pod.namespace, subresource="status")
        except errors.NotFound:
            return
        except errors.ApiError as exc:  # best effort: the deletion below is what matters
            log.debug("pod %s: Failed status not written: %s", pod.key, exc)

    async def _force_delete(self, pod: Pod) -> None:
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(Pod, pod.name, namespace=pod.namespace, grace_period_s=0,
                                     preconditions={"uid": pod.uid} if pod.uid else None)
