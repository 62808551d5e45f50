"""StatefulSetController: handlers route keys; `sync(key)` runs one ordered step.

Contract (Kubernetes pkg/controller/statefulset/stateful_set.go):
- StatefulSet add/update/delete enqueue it. A pod event enqueues its controlling set; an
  orphan pod enqueues every set in its namespace whose selector matches (adoption). A pod
  that becomes Ready re-queues its set after minReadySeconds when that is set.
- `sync(key)`: gone -> nothing. An empty selector is refused with a Warning event
  (SelectingAll). Orphan ControllerRevisions matching the selector are adopted, then pods and
  revisions are claimed through the one `ControllerRefManager` (only pods named
  `<set>-<ordinal>` are claimed: another name is released or ignored). One
  `StatefulSetControl.update` step runs (control.py) and the status is merge-patched
  through `/status` when it changed. With minReadySeconds, a set whose ready pods are not yet
  available is re-checked after minReadySeconds.
- The claims of the pods are read from the PVC informer (PodControl).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from controllers import history, podutil
from controllers.base import Controller, ControllerContext
from controllers.refmanager import ControllerRefManager
from controllers.statefulset import identity
from controllers.statefulset.control import StatefulSetControl, running_and_available, running_and_ready
from controllers.statefulset.podcontrol import PodControl
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock
from machinery.events import WARNING
from machinery.models import ControllerRevision, PersistentVolumeClaim, Pod, StatefulSet
from machinery.selectors import selector_from_model

log = logging.getLogger(__name__)


class StatefulSetController(Controller):
    NAME = "statefulset"
    KIND = StatefulSet

    def __init__(self, ctx: ControllerContext, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.set_informer = ctx.factory.informer(StatefulSet)
        self.pod_informer = ctx.factory.informer(Pod)
        self.revision_informer = ctx.factory.informer(ControllerRevision)
        self.claim_informer = ctx.factory.informer(PersistentVolumeClaim)
        self.history = history.History(ctx.client)
        self.clock = clock
        self.control = StatefulSetControl(PodControl(ctx.client, ctx.recorder, self.claim_informer.get),
                                          self.history, clock)
        self.set_informer.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                       on_delete=self.enqueue)
        self.pod_informer.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                                       on_delete=self._pod_deleted)

    # -- handlers: route keys only -----------------------------------------------------------

    def _owner(self, pod: Pod) -> StatefulSet | None:
        ref = podutil.controller_ref(pod)
        if ref is None or ref.kind != "StatefulSet":
            return None
        sts = self.set_informer.get(f"{pod.namespace}/{ref.name}")
        return sts if sts is not None and sts.uid == ref.uid else None

    def _enqueue_matching(self, pod: Pod) -> None:
        for sts in self.set_informer.by_index("namespace", pod.namespace or ""):
            if sts.spec and selector_from_model(sts.spec.selector).matches(pod.metadata.labels):
                self.enqueue(sts)

    def _pod_added(self, pod: Pod) -> None:
        if (sts := self._owner(pod)) is not None:
            self.enqueue(sts)
        elif podutil.controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.resource_version == new.resource_version:
            return
        old_ref, new_ref = podutil.controller_ref(old), podutil.controller_ref(new)
        if (old_ref is not None and (new_ref is None or new_ref.uid != old_ref.uid)
                and (previous := self._owner(old)) is not None):
            self.enqueue(previous)
        sts = self._owner(new)
        if sts is not None:
            self.enqueue(sts)
            min_ready = (sts.spec.minReadySeconds or 0) if sts.spec else 0
            if min_ready > 0 and not podutil.is_ready(old) and podutil.is_ready(new):
                self.queue.add_after(sts.key, float(min_ready))
        elif new_ref is None and (old.metadata.labels != new.metadata.labels or old_ref is not None):
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Pod) -> None:
        if (sts := self._owner(pod)) is not None:
            self.enqueue(sts)

    # -- sync ----------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        cached = self.set_informer.get(key)
        if cached is None or cached.spec is None:
            return
        sts = cached.model_copy(deep=True)  # never mutate the shared cache
        assert sts.spec is not None
        selector = selector_from_model(sts.spec.selector)
        if selector.empty():
            await self.recorder.event(sts, WARNING, "SelectingAll",
                                      "This statefulset is selecting all pods. A non-empty selector is required.")
            return
        namespace = sts.namespace or ""
        refs = ControllerRefManager(self.client, sts, selector)
        revisions = await refs.claim(self.revision_informer.by_index("namespace", namespace))
        pods = await refs.claim_pods(self.pod_informer.by_index("namespace", namespace),
                                     lambda pod: identity.is_member(sts, pod))
        status = await self.control.update(sts, pods, revisions)
        await self._write_status(sts, status)
        min_ready = sts.spec.minReadySeconds or 0
        now = self.clock.now()
        if min_ready > 0 and any(running_and_ready(p) and not running_and_available(p, min_ready, now) for p in pods):
            self.queue.add_after(key, float(min_ready))

    async def _write_status(self, sts: StatefulSet, status: dict[str, Any]) -> None:
        current = sts.status.to_dict() if sts.status else {}
        if all(current.get(k, 0 if isinstance(v, int) else None) == v for k, v in status.items()):
            return
        with contextlib.suppress(errors.NotFound):  # deleted meanwhile
            await self.client.patch(StatefulSet, sts.name, {"status": status}, namespace=sts.namespace,
                                    subresource="status")


__all__ = ["StatefulSetController"]
