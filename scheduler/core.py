"""The scheduler loop: queue -> pipeline -> assume -> bind (async), with retries and events.

Contract:
- Informer handlers (`on_pod_*`, `on_node_*`, `on_service_change`) only route: unscheduled pods
  of this scheduler go to the queue, bound pods and nodes to the cache, and a change that could
  make parked pods fit (node added/changed, pod deleted/finished) flushes the queue.
- `schedule_one(key)` is level-triggered: it reads the pod's *current* state through `get_pod`,
  skips it if gone, bound, being deleted or for another scheduler, runs the pipeline, assumes
  the pod on the chosen node and starts the binding in the background (the next pod is
  scheduled at once, counting the assumed one). No await between the decision and `assume`,
  so two pods can never both take the last slot.
- Binding: on success the assumption's expiry clock starts and a `Scheduled` event is sent; on
  NotFound (pod deleted) the pod is dropped; on Conflict (bound meanwhile) the watch has the
  truth; on any other error the assumption is forgotten and the pod retried with backoff.
- Volumes (`volumes`, a `VolumeBinder`, optional): claims that are missing, being deleted or
  unbound Immediate make the pod unschedulable everywhere; bound PVs add their node affinity
  as a filter; delayed (WaitForFirstConsumer) claims are annotated with the chosen node and
  awaited until Bound before the pod is bound (a timeout forgets the assumption and retries).
- No fit: condition PodScheduled=False/Unschedulable with the FitError message (PATCH
  pods/NAME/status), a `FailedScheduling` Warning event, and the pod is parked with backoff.
- Preemption (when `delete_pod` is given; preemption.py decides): before parking a pod that
  fits nowhere, the node where evicting the fewest, lowest-priority pods makes it fit is
  nominated (status.nominatedNodeName), and each victim gets a `Preempted` event
  (`Preempted by pod <uid> on node <node>`) and is deleted gracefully (its own grace period).
  The pod is retried when the victims are gone (their deletion flushes the queue) and binds
  like any pod. Until it is bound (or deleted), the space it was nominated for is held against
  pods of lower or equal priority: they are filtered as if it already ran there (Kubernetes'
  nominated pods). Only unschedulable pods pay for it: with no nomination pending, the
  scheduling path is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from machinery import errors
from machinery.clock import now_rfc3339
from machinery.events import EventRecorder, ObjectRef
from machinery.selectors import LabelSelector
from scheduler import metrics
from scheduler.cache import SchedulerCache
from scheduler.filters import FILTERS, Filter, node_ports, resources_fit
from scheduler.framework import FitError, fit_error_message, schedule
from scheduler.info import DEFAULT_SCHEDULER, NodeInfo, PodInfo, pod_info
from scheduler.preemption import clone_node, find_preemption
from scheduler.queue import SchedulingQueue
from scheduler.volumebinding import VolumeBinder, VolumeState

log = logging.getLogger("scheduler")

BindFn = Callable[[str, str, str], Awaitable[Any]]  # (namespace, pod, node)
DeletePodFn = Callable[[str, str, str], Awaitable[Any]]  # (namespace, pod, uid precondition)
PdbsFn = Callable[[], Sequence[dict[str, Any]]]  # the PodDisruptionBudgets (wire dicts)
PatchStatusFn = Callable[[str, str, dict[str, Any]], Awaitable[Any]]  # (namespace, pod, merge patch)
SelectorsFn = Callable[[PodInfo], Sequence[LabelSelector]]


class Scheduler:
    def __init__(
        self,
        *,
        get_pod: Callable[[str], Any | None],
        bind: BindFn,
        patch_status: PatchStatusFn,
        recorder: EventRecorder,
        scheduler_name: str = DEFAULT_SCHEDULER,
        rng: random.Random | None = None,
        queue: SchedulingQueue | None = None,
        cache: SchedulerCache | None = None,
        service_selectors: SelectorsFn | None = None,
        max_binds_in_flight: int = 64,
        volumes: VolumeBinder | None = None,
        delete_pod: DeletePodFn | None = None,
        pdbs: PdbsFn | None = None,
    ) -> None:
        self.volumes = volumes
        self._delete_pod = delete_pod
        self._pdbs = pdbs
        self.preemptions = 0
        self._nominated: dict[str, tuple[str, PodInfo]] = {}  # pod key -> (node, pod) until bound
        self.get_pod = get_pod
        self._bind = bind
        self._patch_status = patch_status
        self.recorder = recorder
        self.scheduler_name = scheduler_name
        self.rng = rng or random.Random()
        self.queue = queue or SchedulingQueue()
        self.cache = cache or SchedulerCache()
        self.service_selectors = service_selectors
        self._bind_slots = asyncio.Semaphore(max_binds_in_flight)
        self._bind_tasks: set[asyncio.Task[None]] = set()
        self._attempted = False  # the current schedule_one got as far as a decision
        self._next_start = 0
        self.bound = 0

    # ---- routing (informer handlers) -----------------------------------------------------
    def _responsible(self, pod: PodInfo) -> bool:
        return not pod.node_name and pod.scheduler_name == self.scheduler_name and not pod.deleting

    def on_pod_add(self, obj: Any) -> None:
        pod = pod_info(obj)
        if pod.node_name:
            self._nominated.pop(pod.key, None)
            self.queue.remove(pod.key)
            self.cache.add_pod(pod)
        elif self._responsible(pod) and not pod.terminated:
            self.queue.add(pod.key, pod.priority, pod.creation)

    def on_pod_update(self, old: Any, new: Any) -> None:
        pod = pod_info(new)
        if pod.node_name:
            self._nominated.pop(pod.key, None)
            was_running = self.cache.node_of(pod.key) is not None and not self.cache.is_assumed(pod.key)
            self.cache.add_pod(pod)
            self.queue.remove(pod.key)
            if pod.terminated and was_running:
                self.queue.flush()  # its resources are free now
            return
        if not self._responsible(pod):
            self.queue.remove(pod.key)
            return
        before = pod_info(old)
        # Our own status patch (PodScheduled=False) must not requeue the pod: only a change of
        # what scheduling reads (spec, labels) does, as in Kubernetes' isPodUpdated.
        if pod.key not in self.queue or _sched_view(before) != _sched_view(pod):
            self.queue.add(pod.key, pod.priority, pod.creation)

    def on_pod_delete(self, obj: Any) -> None:
        pod = pod_info(obj)
        self.queue.remove(pod.key)
        self._nominated.pop(pod.key, None)
        self.recorder.forget(pod.uid)
        if self.cache.node_of(pod.key) is not None:
            self.cache.remove_pod(pod.key)
            self.queue.flush()

    def on_node_add(self, obj: Any) -> None:
        self.cache.set_node(obj)
        self.queue.flush()

    def on_node_update(self, old: Any, new: Any) -> None:
        if self.cache.set_node(new):
            self.queue.flush()

    def on_node_delete(self, obj: Any) -> None:
        d = obj if isinstance(obj, dict) else obj.to_dict()
        self.cache.remove_node((d.get("metadata") or {}).get("name") or "")

    def on_service_change(self, *_: Any) -> None:
        self.queue.flush()

    # ---- scheduling ----------------------------------------------------------------------
    def schedule_one(self, key: str) -> str | None:
        """Decide for one pod; returns the node chosen (binding started) or None."""
        start = time.perf_counter()
        self._attempted = False
        try:
            node = self._schedule_one(key)
        except Exception:
            metrics.attempt("error", time.perf_counter() - start)
            raise
        if self._attempted:
            metrics.attempt("scheduled" if node is not None else "unschedulable", time.perf_counter() - start)
        return node

    def _schedule_one(self, key: str) -> str | None:
        obj = self.get_pod(key)
        if obj is None:
            self.queue.remove(key)
            return None
        pod = pod_info(obj)
        if not self._responsible(pod) or pod.terminated or self.cache.node_of(key) is not None:
            return None
        self._attempted = True
        selectors = self.service_selectors(pod) if self.service_selectors and not pod.owner_uid else ()
        filters, state = FILTERS, None
        if self.volumes is not None:
            found = self.volumes.prefilter(obj)
            if isinstance(found, str):
                nodes = len(self.cache.nodes())
                self._unschedulable(pod, f"0/{nodes} nodes are available: {found}." if nodes
                                    else fit_error_message(0, {}))
                return None
            if not found.empty:
                state = found
                filters = [*FILTERS, self.volumes.node_filter(found)]
        if self._nominated:
            filters = [*filters, self._nominated_filter(pod)]
        try:
            result = schedule(pod, self.cache.nodes(), rng=self.rng, start=self._next_start, spread_selectors=selectors,
                              filters=filters)
        except FitError as fit:
            if self._delete_pod is not None:
                self._preempt(pod, fit.reasons, filters)
            self._unschedulable(pod, fit.message)
            return None
        self._next_start = result.next_start
        self._nominated.pop(pod.key, None)
        self.cache.assume(pod, result.node_name)
        task = asyncio.create_task(self._bind_pod(pod, result.node_name, state))
        self._bind_tasks.add(task)
        task.add_done_callback(self._bind_tasks.discard)
        return result.node_name

    def _nominated_filter(self, pod: PodInfo) -> Filter:
        """Resources and host ports as if the pods nominated to a node, of priority >= the pod's,
        already ran there (Kubernetes' addNominatedPods)."""
        held: dict[str, list[PodInfo]] = {}
        for key, (node, other) in self._nominated.items():
            if key != pod.key and other.priority >= pod.priority:
                held.setdefault(node, []).append(other)

        def nominated_pods(p: PodInfo, node: NodeInfo) -> list[str]:
            extra = [o for o in held.get(node.name, ()) if o.key not in node.pods]
            if not extra:
                return []
            trial = clone_node(node)
            for other in extra:
                trial.add_pod(other)
            return node_ports(p, trial) or resources_fit(p, trial)

        return nominated_pods

    def _preempt(self, pod: PodInfo, rejected: dict[str, list[str]], filters: list[Filter]) -> None:
        pdbs = self._pdbs() if self._pdbs is not None else ()
        candidate = find_preemption(pod, self.cache.nodes(), rejected, pdbs, filters)
        if candidate is None:
            return
        self.preemptions += 1
        self._nominated[pod.key] = (candidate.node, pod)
        log.info("pod %s preempts %s on node %s", pod.key, ", ".join(v.key for v in candidate.victims),
                 candidate.node)
        self._spawn(self._write_status(pod, {"status": {"nominatedNodeName": candidate.node}}))
        for victim in candidate.victims:
            self.recorder.record(_event_ref(victim), "Normal", "Preempted",
                                 f"Preempted by pod {pod.uid} on node {candidate.node}", "Preempting")
            self._spawn(self._delete_victim(victim))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._bind_tasks.add(task)
        task.add_done_callback(self._bind_tasks.discard)

    async def _delete_victim(self, victim: PodInfo) -> None:
        assert self._delete_pod is not None
        try:
            await self._delete_pod(victim.namespace, victim.name, victim.uid)
        except (errors.NotFound, errors.Conflict):
            pass  # gone already, or a new pod of that name: nothing of ours to evict
        except Exception as exc:  # noqa: BLE001 - the preemptor retries, preempting again if needed
            log.warning("could not delete preemption victim %s: %s", victim.key, exc)

    def _unschedulable(self, pod: PodInfo, message: str) -> None:
        log.info("pod %s unschedulable: %s", pod.key, message)
        self.queue.add_unschedulable(pod.key, pod.priority, pod.creation)
        self.recorder.record(_event_ref(pod), "Warning", "FailedScheduling", message, "Scheduling")
        conditions = [c for c in pod.conditions if c.get("type") != "PodScheduled"]
        old = next((c for c in pod.conditions if c.get("type") == "PodScheduled"), None)
        if old and old.get("status") == "False" and old.get("message") == message:
            return  # already says so: skip the write
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            }
        )
        task = asyncio.create_task(self._write_status(pod, {"status": {"conditions": conditions}}))
        self._bind_tasks.add(task)
        task.add_done_callback(self._bind_tasks.discard)

    async def _write_status(self, pod: PodInfo, patch: dict[str, Any]) -> None:
        try:
            await self._patch_status(pod.namespace, pod.name, patch)
        except errors.NotFound:
            pass
        except Exception as exc:  # noqa: BLE001 - next attempt rewrites it; never stop the loop for a status
            log.warning("could not patch the status of %s: %s", pod.key, exc)

    async def _bind_pod(self, pod: PodInfo, node: str, volumes: VolumeState | None = None) -> None:
        async with self._bind_slots:
            try:
                if volumes is not None and volumes.delayed and self.volumes is not None:
                    await self.volumes.prebind(volumes, node)
                await self._bind(pod.namespace, pod.name, node)
            except errors.NotFound:
                self.cache.forget(pod.key)
                self.queue.remove(pod.key)
                return
            except errors.Conflict as exc:
                # Already bound (by us before a restart, or by someone else): the watch will
                # bring the truth; keep the assumption until it does or it expires.
                log.info("binding %s to %s: %s", pod.key, node, exc)
                self.cache.finish_binding(pod.key)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported, never raised past this point
                log.warning("binding %s to %s failed, retrying: %s", pod.key, node, exc)
                self.cache.forget(pod.key)
                self.queue.add_unschedulable(pod.key, pod.priority, pod.creation)
                return
        self.cache.finish_binding(pod.key)
        self.queue.forget(pod.key)
        self.bound += 1
        self.recorder.record(
            _event_ref(pod), "Normal", "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {node}", "Binding"
        )

    async def run(self) -> None:
        """Pop and schedule until cancelled; expired assumptions are swept once a second."""
        sweeper = asyncio.create_task(self._sweep())
        try:
            while True:
                key = await self.queue.pop()
                try:
                    self.schedule_one(key)
                except Exception:  # a bug on one pod must not stop scheduling of the others
                    log.exception("scheduling %s failed", key)
                    self.queue.add_unschedulable(key)
                finally:
                    self.queue.done(key)
                # Let bind tasks and informer callbacks run between pods.
                await asyncio.sleep(0)
        finally:
            sweeper.cancel()
            for t in list(self._bind_tasks):
                t.cancel()
            await asyncio.gather(sweeper, *self._bind_tasks, return_exceptions=True)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for key in self.cache.cleanup_expired():
                log.warning("binding of %s never confirmed by the watch; forgetting it", key)
                obj = self.get_pod(key)
                if obj is not None:
                    self.on_pod_add(obj)

    async def wait_binds(self) -> None:
        """Wait for the bindings and status writes in flight (tests)."""
        while self._bind_tasks:
            await asyncio.gather(*list(self._bind_tasks), return_exceptions=True)


def _event_ref(pod: PodInfo) -> ObjectRef:
    return ObjectRef(kind="Pod", api_version="v1", namespace=pod.namespace, name=pod.name, uid=pod.uid)


def _sched_view(p: PodInfo) -> tuple[Any, ...]:
    return (
        p.labels,
        p.requests,
        p.node_selector,
        p.affinity_terms,
        p.tolerations,
        p.host_ports,
        p.priority,
        p.scheduler_name,
    )
