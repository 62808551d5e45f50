"""DaemonSet controller (apps/v1): one pod per eligible node, Kubernetes' pkg/controller/daemon.

Contract of `sync(key)` (level-triggered from the DaemonSet, Pod, Node, ControllerRevision caches):
- Ownership through the one ControllerRefManager (pods and ControllerRevisions).
- History: the revision equal to the current template is found or created (controllers/history.py:
  `current_and_update`, renumbered to the newest on a rollback); its hash is the
  `controller-revision-hash` label of new pods. Revisions beyond revisionHistoryLimit that no
  live pod uses are deleted, oldest first.
- Placement (placement.py): nodes where the pod should run and has none get one
  (`pod_for_node`: bound by the default scheduler through `matchFields metadata.name`); pods on
  nodes where they must not continue, on nodes that no longer exist, and Succeeded pods are
  deleted; a Failed pod is deleted with a per-node backoff (1 s doubling to 15 min, event
  FailedDaemonPod); with more than one running pod on a node the oldest is kept (with surge:
  the oldest updated one plus, until it is available, the oldest old one).
- Creations and deletions go under expectations (a lagging watch never double-creates), creates
  in slow-start batches of at most `BURST`.
- RollingUpdate (after the placement step, when expectations are satisfied): maxUnavailable and
  maxSurge scaled from desiredNumberScheduled rounding up (both 0 -> maxUnavailable 1). Without
  surge, old pods are deleted while the unavailable count stays under maxUnavailable (unavailable
  old pods always) and the placement step recreates them; with surge, new pods are created next
  to old ones (at most maxSurge not yet available) and an old pod goes once its node's new pod is
  available. OnDelete: only deleted pods are replaced, by the current template.
- Status (merge-patched through /status when changed): desiredNumberScheduled,
  currentNumberScheduled, numberReady, numberAvailable (minReadySeconds), updatedNumberScheduled,
  numberUnavailable, numberMisscheduled, observedGeneration, collisionCount. With minReadySeconds
  the key comes back when a ready pod becomes available.
- Events as Kubernetes: SuccessfulCreate / FailedCreate / SuccessfulDelete / FailedDelete,
  FailedDaemonPod.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from controllers import podutil
from controllers.base import Controller, ControllerContext
from controllers.daemonset.placement import (
    REVISION_HASH_LABEL,
    daemon_pod_spec,
    pod_for_node,
    should_run,
    target_node,
)
from controllers.expectations import Expectations
from controllers.history import HASH_LABEL, History, current_and_update, revisions_to_truncate, sort_revisions
from controllers.job.controller import CONTROLLER_UID_INDEX, controller_uid_index
from controllers.refmanager import ControllerRefManager
from controllers.replicaset import slow_start_batch
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock
from machinery.models import ControllerRevision, DaemonSet, Node, Pod
from machinery.selectors import selector_from_model

log = logging.getLogger(__name__)

BURST = 250
Fits = dict[str, tuple[bool, bool]]
"""Node name -> (should run, should continue running), computed once per sync."""
FAILED_BACKOFF_BASE_S = 1.0
FAILED_BACKOFF_MAX_S = 900.0


def _scaled(value: Any, total: int) -> int:
    """IntOrString scaled against `total`, percentages rounded up (GetScaledValueFromIntOrPercent)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def _created(pod: Pod) -> tuple[str, str]:
    return (pod.metadata.creationTimestamp or "", pod.name)


def _by_age_and_phase(pods: Sequence[Pod]) -> list[Pod]:
    """Kubernetes' podByCreationTimestampAndPhase: scheduled/running first, then oldest."""
    def rank(p: Pod) -> tuple[int, str, str]:
        phase = (p.status.phase if p.status else None) or "Pending"
        return (0 if phase == "Running" else 1, *_created(p))
    return sorted(pods, key=rank)


class DaemonSetController(Controller):
    NAME = "daemonset"
    KIND = DaemonSet

    def __init__(self, ctx: ControllerContext, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.expectations = Expectations(clock=clock.monotonic)
        self.history = History(self.client)
        self.failed_backoff: dict[tuple[str, str], tuple[float, float]] = {}
        """(ds key, node) -> (delay_s, monotonic time of the last deletion of a failed pod)."""
        self.ds_informer = ctx.factory.informer(DaemonSet)
        self.pod_informer = ctx.factory.informer(Pod)
        self.node_informer = ctx.factory.informer(Node)
        self.rev_informer = ctx.factory.informer(ControllerRevision)
        self.pod_informer.add_index(CONTROLLER_UID_INDEX, controller_uid_index)
        self.rev_informer.add_index(CONTROLLER_UID_INDEX, controller_uid_index)
        self.ds_informer.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self._ds_deleted)
        self.pod_informer.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                                       on_delete=self._pod_deleted)
        self.node_informer.add_handlers(on_add=self._all, on_update=self._node_updated,
                                        on_delete=self._all)
        self.rev_informer.add_handlers(on_add=self._rev_changed, on_update=lambda _o, n: self._rev_changed(n),
                                       on_delete=self._rev_changed)

    # -- handlers: route keys, account expectations ------------------------------------------

    def _ds_deleted(self, ds: DaemonSet) -> None:
        self.expectations.delete(ds.key)
        self.enqueue(ds)

    def _all(self, _obj: Any = None) -> None:
        for ds in self.ds_informer.list():
            self.enqueue(ds)

    def _node_updated(self, old: Node, new: Node) -> None:
        def view(n: Node) -> Any:
            spec = n.spec.to_dict() if n.spec else {}
            return (n.metadata.labels, spec.get("taints"), spec.get("unschedulable"))
        if view(old) != view(new):
            self._all()

    def _owner(self, obj: Pod | ControllerRevision) -> DaemonSet | None:
        ref = podutil.controller_ref(obj)
        if ref is None or ref.kind != "DaemonSet":
            return None
        ds = self.ds_informer.get(f"{obj.namespace}/{ref.name}")
        return ds if ds is not None and ds.uid == ref.uid else None

    def _matching(self, pod: Pod) -> None:
        for ds in self.ds_informer.by_index("namespace", pod.namespace or ""):
            if ds.spec and selector_from_model(ds.spec.selector).matches(pod.metadata.labels):
                self.enqueue(ds)

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletionTimestamp:
            self._pod_deleted(pod)
            return
        ds = self._owner(pod)
        if ds is not None:
            self.expectations.creation_observed(ds.key)
            self.enqueue(ds)
        elif podutil.controller_ref(pod) is None:
            self._matching(pod)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.resource_version == new.resource_version:
            return
        if new.metadata.deletionTimestamp and not old.metadata.deletionTimestamp:
            self._pod_deleted(new)
            return
        old_ds, ds = self._owner(old), self._owner(new)
        if old_ds is not None and (ds is None or old_ds.uid != ds.uid):
            self.enqueue(old_ds)
        if ds is not None:
            self.enqueue(ds)
            min_ready = (ds.spec.minReadySeconds or 0) if ds.spec else 0
            if min_ready > 0 and not podutil.is_ready(old) and podutil.is_ready(new):
                self.queue.add_after(ds.key, float(min_ready))
        elif podutil.controller_ref(new) is None:
            self._matching(new)

    def _pod_deleted(self, pod: Pod) -> None:
        ds = self._owner(pod)
        if ds is not None:
            self.expectations.deletion_observed(ds.key, pod.key)
            self.enqueue(ds)

    def _rev_changed(self, rev: ControllerRevision) -> None:
        ds = self._owner(rev)
        if ds is not None:
            self.enqueue(ds)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ds = self.ds_informer.get(key)
        if ds is None or ds.spec is None:
            self.expectations.delete(key)
            return
        nodes = self.node_informer.list()
        spec = daemon_pod_spec(ds)
        fits = {n.name: should_run(ds, n, spec) for n in nodes}
        pods = await self._claim_pods(ds)
        if ds.metadata.deletionTimestamp:
            await self._update_status(ds, nodes, pods, None, fits)
            return
        revisions = await self._claim_revisions(ds)
        collision = ds.status.collisionCount if ds.status and ds.status.collisionCount is not None else 0
        _cur, update, collision = await current_and_update(self.history, ds, revisions, None, collision)
        hash_ = (update.metadata.labels or {}).get(HASH_LABEL) or update.name.rsplit("-", 1)[-1]
        error: Exception | None = None
        if self.expectations.satisfied(key):
            try:
                await self._manage(ds, nodes, pods, hash_, fits)
                if self.expectations.satisfied(key) and self._strategy(ds) == "RollingUpdate":
                    await self._rolling_update(ds, nodes, pods, hash_, fits)
                await self._cleanup_history(ds, [*revisions, update], pods, update)
            except errors.ApiError as exc:
                error = exc
        await self._update_status(ds, nodes, pods, hash_, fits, collision=collision)
        if error is not None:
            raise error

    @staticmethod
    def _strategy(ds: DaemonSet) -> str:
        strategy = ds.spec.updateStrategy if ds.spec else None
        return (strategy.type if strategy else None) or "RollingUpdate"

    async def _claim_pods(self, ds: DaemonSet) -> list[Pod]:
        owned = {p.key: p for p in self.pod_informer.by_index(CONTROLLER_UID_INDEX, ds.uid or "")}
        orphans = [p for p in self.pod_informer.by_index("namespace", ds.namespace or "")
                   if p.key not in owned and podutil.controller_ref(p) is None]
        assert ds.spec is not None
        manager = ControllerRefManager(self.client, ds, selector_from_model(ds.spec.selector))
        return await manager.claim_pods([*owned.values(), *orphans])

    async def _claim_revisions(self, ds: DaemonSet) -> list[ControllerRevision]:
        owned = {r.key: r for r in self.rev_informer.by_index(CONTROLLER_UID_INDEX, ds.uid or "")}
        orphans = [r for r in self.rev_informer.by_index("namespace", ds.namespace or "")
                   if r.key not in owned and podutil.controller_ref(r) is None]
        assert ds.spec is not None
        manager = ControllerRefManager(self.client, ds, selector_from_model(ds.spec.selector))
        return await manager.claim([*owned.values(), *orphans])

    def _by_node(self, pods: Sequence[Pod]) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = {}
        for pod in pods:
            node = target_node(pod)
            if node is not None:
                out.setdefault(node, []).append(pod)
        return out

    # -- placement ---------------------------------------------------------------------------

    async def _manage(self, ds: DaemonSet, nodes: list[Node], pods: list[Pod], hash_: str, fits: Fits) -> None:
        by_node = self._by_node(pods)
        surge = self._strategy(ds) == "RollingUpdate" and self._max_surge_unavailable(ds, fits)[0] > 0
        create: list[str] = []
        delete: list[Pod] = []
        now_s = self.clock.monotonic()
        for node in nodes:
            run, keep = fits[node.name]
            here = by_node.get(node.name, [])
            live = [p for p in here if not p.metadata.deletionTimestamp]
            if run and not here:
                create.append(node.name)
            elif keep:
                running: list[Pod] = []
                for pod in live:
                    phase = pod.status.phase if pod.status else None
                    if phase == "Failed":
                        if self._failed_backoff(ds, node.name, now_s):
                            continue
                        await self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                                  f"Found failed daemon pod {pod.key} on node {node.name}, "
                                                  "will try to kill it")
                        delete.append(pod)
                    elif phase == "Succeeded":
                        delete.append(pod)
                    else:
                        running.append(pod)
                delete += self._excess(ds, running, hash_, surge)
            elif not keep:
                delete += live
        names = {n.name for n in nodes}
        delete += [p for node, ps in by_node.items() if node not in names for p in ps
                   if not p.metadata.deletionTimestamp]
        await self._sync_nodes(ds, delete, create, hash_)

    def _failed_backoff(self, ds: DaemonSet, node: str, now_s: float) -> bool:
        """True while the (ds, node) pair is in backoff (and re-queues for its end)."""
        delay, last = self.failed_backoff.get((ds.key, node), (0.0, -math.inf))
        if now_s - last < delay:
            self.queue.add_after(ds.key, delay - (now_s - last))
            return True
        nxt = FAILED_BACKOFF_BASE_S if delay == 0 else min(delay * 2, FAILED_BACKOFF_MAX_S)
        self.failed_backoff[(ds.key, node)] = (nxt, now_s)
        return False

    def _excess(self, ds: DaemonSet, running: list[Pod], hash_: str, surge: bool) -> list[Pod]:
        if len(running) <= 1:
            return []
        ordered = _by_age_and_phase(running)
        if not surge:
            return ordered[1:]
        newest: Pod | None = None
        oldest_old: Pod | None = None
        extra: list[Pod] = []
        for pod in ordered:
            is_new = (pod.metadata.labels or {}).get(REVISION_HASH_LABEL) == hash_
            if is_new and newest is None:
                newest = pod
            elif not is_new and oldest_old is None:
                oldest_old = pod
            else:
                extra.append(pod)
        if newest is not None and oldest_old is not None and (
                not podutil.is_ready(oldest_old) or self._available(ds, newest)):
            extra.append(oldest_old)
        return extra

    def _available(self, ds: DaemonSet, pod: Pod) -> bool:
        min_ready = (ds.spec.minReadySeconds or 0) if ds.spec else 0
        return podutil.is_available(pod, min_ready, self.clock.now())

    async def _sync_nodes(self, ds: DaemonSet, delete: list[Pod], create: list[str], hash_: str) -> None:
        create, delete = create[:BURST], delete[:BURST]
        key = ds.key
        if delete:
            self.expectations.expect_deletions(key, [p.key for p in delete])
        first_error: Exception | None = None
        for pod in delete:
            try:
                await self.client.delete(Pod, pod.name, namespace=pod.namespace)
            except errors.NotFound:
                self.expectations.deletion_observed(key, pod.key)
                continue
            except errors.ApiError as exc:
                self.expectations.deletion_observed(key, pod.key)
                await self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
                first_error = first_error or exc
                continue
            await self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.name}")
        if create:
            await self._create(ds, create, hash_)
        if first_error is not None:
            raise first_error

    async def _create(self, ds: DaemonSet, nodes: list[str], hash_: str) -> None:
        key = ds.key
        self.expectations.expect_creations(key, len(nodes))
        queue = list(nodes)

        async def create_one() -> None:
            node = queue.pop(0)
            try:
                created = await self.client.create(pod_for_node(ds, node, hash_), namespace=ds.namespace)
            except errors.ApiError as exc:
                if not podutil.namespace_going_away(exc):
                    await self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {exc.message}")
                raise
            await self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {created.name}")

        successes, err = await slow_start_batch(len(nodes), 1, create_one)
        for _ in range(len(nodes) - successes):
            self.expectations.creation_observed(key)
        if err is not None and not podutil.namespace_going_away(err):
            raise err

    # -- rolling update ----------------------------------------------------------------------

    def _max_surge_unavailable(self, ds: DaemonSet, fits: Fits) -> tuple[int, int, int]:
        desired = sum(1 for run, _ in fits.values() if run)
        strategy = ds.spec.updateStrategy if ds.spec else None
        ru = strategy.rollingUpdate if strategy else None
        surge = _scaled(ru.maxSurge if ru else 0, desired)
        unavailable = _scaled(ru.maxUnavailable if ru else 1, desired)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable, desired

    @staticmethod
    def _split(pods: list[Pod], hash_: str) -> tuple[Pod | None, Pod | None, bool]:
        """(new pod, old pod, ok) of one node; ok is False with more than one of either."""
        new = old = None
        for pod in pods:
            if pod.metadata.deletionTimestamp:
                continue
            if (pod.metadata.labels or {}).get(REVISION_HASH_LABEL) == hash_:
                if new is not None:
                    return None, None, False
                new = pod
            else:
                if old is not None:
                    return None, None, False
                old = pod
        return new, old, True

    async def _rolling_update(self, ds: DaemonSet, nodes: list[Node], pods: list[Pod], hash_: str,  # noqa: C901 - one flat sequence of cases, read best in one place
                              fits: Fits) -> None:
        by_node = self._by_node(pods)
        max_surge, max_unavailable, desired = self._max_surge_unavailable(ds, fits)
        if max_surge == 0:
            unavailable = 0
            replace: list[Pod] = []
            candidates: list[Pod] = []
            for node_pods in by_node.values():
                new, old, ok = self._split(node_pods, hash_)
                if not ok or (new is None) == (old is None):
                    unavailable += 1
                elif new is not None:
                    unavailable += 0 if self._available(ds, new) else 1
                elif old is not None and not self._available(ds, old):
                    replace.append(old)
                elif old is not None and unavailable < max_unavailable:
                    candidates.append(old)
            room = max(0, min(max_unavailable - unavailable, len(candidates)))
            await self._sync_nodes(ds, replace + candidates[:room], [], hash_)
            return
        to_delete: list[Pod] = []
        not_run: list[Pod] = []
        allowed: list[str] = []
        surge_candidates: list[str] = []
        surging = available = 0
        for name, node_pods in by_node.items():
            new, old, ok = self._split(node_pods, hash_)
            if not ok:
                surging += 1
                continue
            counted = old if old is not None else new
            if counted is not None and self._available(ds, counted):
                available += 1
            if old is None:
                continue
            runs = fits.get(name, (False, False))[0]
            if new is None:
                if not self._available(ds, old):
                    if runs:
                        allowed.append(name)
                    else:
                        to_delete.append(old)
                elif not runs:
                    not_run.append(old)
                elif surging < max_surge:
                    surge_candidates.append(name)
            elif not self._available(ds, new):
                surging += 1
            else:
                to_delete.append(old)
        deletable = min(max(0, available - desired), len(not_run))
        to_delete += not_run[:deletable]
        room = max(0, min(max_surge - surging, len(surge_candidates)))
        await self._sync_nodes(ds, to_delete, allowed + surge_candidates[:room], hash_)

    # -- history and status ------------------------------------------------------------------

    async def _cleanup_history(self, ds: DaemonSet, revisions: list[ControllerRevision], pods: list[Pod],
                               current: ControllerRevision) -> None:
        limit = ds.spec.revisionHistoryLimit if ds.spec and ds.spec.revisionHistoryLimit is not None else 10
        unique = {r.name: r for r in revisions}
        live_hashes = {(p.metadata.labels or {}).get(REVISION_HASH_LABEL) for p in pods}
        live = {current.name} | {r.name for r in unique.values()
                                 if (r.metadata.labels or {}).get(HASH_LABEL) in live_hashes}
        for rev in revisions_to_truncate(sort_revisions(unique.values()), live, limit):
            await self.history.delete(rev)

    async def _update_status(self, ds: DaemonSet, nodes: list[Node], pods: list[Pod], hash_: str | None,
                             fits: Fits, *, collision: int | None = None) -> None:
        by_node = self._by_node([p for p in pods if not p.metadata.deletionTimestamp])
        desired = current = ready = available = updated = misscheduled = 0
        now: datetime = self.clock.now()
        min_ready = (ds.spec.minReadySeconds or 0) if ds.spec else 0
        requeue = False
        for node in nodes:
            here = by_node.get(node.name, [])
            if not fits[node.name][0]:
                misscheduled += 1 if here else 0
                continue
            desired += 1
            if not here:
                continue
            current += 1
            pod = _by_age_and_phase(here)[0]
            if podutil.is_ready(pod):
                ready += 1
                if podutil.is_available(pod, min_ready, now):
                    available += 1
                else:
                    requeue = True
            if hash_ is not None and (pod.metadata.labels or {}).get(REVISION_HASH_LABEL) == hash_:
                updated += 1
        status: dict[str, Any] = {
            "desiredNumberScheduled": desired, "currentNumberScheduled": current, "numberReady": ready,
            "numberAvailable": available or None, "numberUnavailable": (desired - available) or None,
            "updatedNumberScheduled": updated or None, "numberMisscheduled": misscheduled,
            "observedGeneration": ds.metadata.generation,
        }
        if collision is not None and (collision or (ds.status and ds.status.collisionCount is not None)):
            status["collisionCount"] = collision
        before = ds.status.to_dict() if ds.status else {}
        if any(before.get(k) != v for k, v in status.items()):
            await self.client.patch(DaemonSet, ds.name, {"status": status}, namespace=ds.namespace,
                                    subresource="status")
        if requeue and min_ready > 0:
            self.queue.add_after(ds.key, float(min_ready))


__all__ = ["DaemonSetController"]
