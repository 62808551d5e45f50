"""Taint eviction controller (the "taint manager"): pods that do not tolerate a NoExecute taint
of their node are deleted, at once or when their tolerationSeconds run out.

Contract (Kubernetes' pkg/controller/tainteviction/taint_eviction.go):
- For a pod bound to a node with NoExecute taints: if some taint is tolerated by none of the
  pod's tolerations, the pod is deleted now. Otherwise the smallest tolerationSeconds among the
  tolerations used decides (none set: tolerated forever; <= 0: now) and the pod is deleted once
  that much time has passed since the taint was added (the earliest `timeAdded` of the node's
  NoExecute taints, or when this controller first saw it without one). Kubernetes counts from
  when its in-memory timer started; counting from `timeAdded` makes a controller-manager
  restart neither restart nor skip the countdown.
- Deletion: the pod gets the condition DisruptionTarget=True (reason DeletionByTaintManager)
  through /status (best effort), an Event `TaintManagerEviction` ("Marking for deletion Pod
  ns/name"), then a normal DELETE (its grace period applies) with a uid precondition. A
  scheduled deletion whose taint disappears records `TaintManagerEviction` "Cancelling deletion
  of Pod ns/name".
- Level-triggered: keys are `node:<name>` (every pod of the node is re-checked) and
  `pod:<ns>/<name>`; a future deletion is a delayed re-check of the pod key, which decides again
  from the current caches. Rate limiting of evictions is the node lifecycle controller's job
  (it rate-limits adding the NoExecute taints per zone).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock, format_time, parse_time
from machinery.events import NORMAL
from machinery.informer import path_index
from machinery.models import Node, Pod
from machinery.nodematch import toleration_matches

log = logging.getLogger(__name__)

NODE_INDEX = "spec.nodeName"
NO_EXECUTE = "NoExecute"


def no_execute_taints(node: Node | None) -> list[dict[str, Any]]:
    if node is None or node.spec is None:
        return []
    return [t.to_dict() for t in node.spec.taints or [] if t.effect == NO_EXECUTE]


def tolerations_of(pod: Pod) -> list[dict[str, Any]]:
    return [t.to_dict() for t in (pod.spec.tolerations or [])] if pod.spec else []


def eviction_delay(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]]) -> float | None:
    """Seconds a pod may stay on a node with these NoExecute taints: 0 = evict now, None = forever
    (Kubernetes' GetMatchingTolerations + getMinTolerationTime)."""
    if not taints:
        return None
    used: list[Mapping[str, Any]] = []
    for taint in taints:
        match = next((t for t in tolerations if toleration_matches(t, taint)), None)
        if match is None:
            return 0.0
        used.append(match)
    delays = [t["tolerationSeconds"] for t in used if t.get("tolerationSeconds") is not None]
    if not delays:
        return None
    return max(0.0, float(min(delays)))


class TaintEvictionController(Controller):
    NAME = "tainteviction"

    def __init__(self, ctx: ControllerContext, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.nodes = ctx.factory.informer(Node)
        self.pods = ctx.factory.informer(Pod)
        self.pods.add_index(NODE_INDEX, path_index("spec.nodeName"))
        self.nodes.add_handlers(on_add=lambda n: self._node_changed(None, n), on_update=self._node_changed)
        self.pods.add_handlers(on_add=lambda p: self._pod_changed(None, p), on_update=self._pod_changed,
                               on_delete=self._pod_deleted)
        self.first_seen: dict[str, datetime] = {}
        """node name -> when we first saw NoExecute taints without timeAdded on it."""
        self.scheduled: set[str] = set()
        """pod keys with a future deletion pending."""

    # -- handlers ------------------------------------------------------------------------------

    def _node_changed(self, old: Node | None, new: Node) -> None:
        if no_execute_taints(old) != no_execute_taints(new):
            self.queue.add(f"node:{new.name}")

    def _pod_changed(self, old: Pod | None, new: Pod) -> None:
        node = new.spec.nodeName if new.spec else None
        if not node:
            return
        if old is None or old.spec is None or old.spec.nodeName != node or tolerations_of(old) != tolerations_of(new):
            self.queue.add(f"pod:{new.key}")

    def _pod_deleted(self, pod: Pod) -> None:
        self.scheduled.discard(pod.key)

    # -- sync ----------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        kind, _, name = key.partition(":")
        if kind == "node":
            node = self.nodes.get(name)
            if not no_execute_taints(node):
                self.first_seen.pop(name, None)
            for on_node in self.pods.by_index(NODE_INDEX, name):
                await self.process_pod(on_node, node)
            return
        pod = self.pods.get(name)
        if pod is None or pod.spec is None or not pod.spec.nodeName:
            self.scheduled.discard(name)
            return
        await self.process_pod(pod, self.nodes.get(pod.spec.nodeName))

    def _taint_start(self, node: Node, taints: list[dict[str, Any]]) -> datetime:
        added = [t for t in (parse_time(t.get("timeAdded")) for t in taints) if t is not None]
        if added:
            return min(added)
        return self.first_seen.setdefault(node.name, self.clock.now())

    async def _cancel(self, pod: Pod) -> None:
        if pod.key in self.scheduled:
            self.scheduled.discard(pod.key)
            await self.recorder.event(pod, NORMAL, "TaintManagerEviction", f"Cancelling deletion of Pod {pod.key}")

    async def process_pod(self, pod: Pod, node: Node | None) -> None:
        if pod.metadata.deletionTimestamp:
            self.scheduled.discard(pod.key)
            return
        taints = no_execute_taints(node)
        delay_s = eviction_delay(taints, tolerations_of(pod))
        if node is None or delay_s is None:
            await self._cancel(pod)
            return
        if delay_s > 0:
            due = self._taint_start(node, taints).timestamp() + delay_s
            left_s = due - self.clock.now().timestamp()
            if left_s > 0:
                self.scheduled.add(pod.key)
                self.queue.add_after(f"pod:{pod.key}", left_s)
                return
        await self.evict(pod)

    async def evict(self, pod: Pod) -> None:
        self.scheduled.discard(pod.key)
        log.info("taint eviction: deleting pod %s from node %s", pod.key, pod.spec.nodeName if pod.spec else "")
        conds = [c.to_dict() for c in (pod.status.conditions or [])] if pod.status else []
        if not any(c.get("type") == "DisruptionTarget" for c in conds):
            conds.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                          "message": "Taint manager: deleting due to NoExecute taint",
                          "lastTransitionTime": format_time(self.clock.now())})
            try:
                await self.client.patch(Pod, pod.name, {"metadata": {"resourceVersion": pod.resource_version},
                                                        "status": {"conditions": conds}},
                                        namespace=pod.namespace, subresource="status")
            except errors.NotFound:
                return
            except errors.ApiError as exc:  # best effort, as Kubernetes: the deletion matters
                log.debug("pod %s: DisruptionTarget condition not written: %s", pod.key, exc)
        await self.recorder.event(pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {pod.key}")
        with contextlib.suppress(errors.NotFound, errors.Conflict):  # gone, or a new pod of the same name
            await self.client.delete(Pod, pod.name, namespace=pod.namespace,
                                     preconditions={"uid": pod.uid} if pod.uid else None)
