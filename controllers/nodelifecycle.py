"""Node lifecycle controller: node health from Leases and status, taints, pods on lost nodes.

Contract (Kubernetes' pkg/controller/nodelifecycle/node_lifecycle_controller.go):
- Every `node_monitor_period_s` (5 s) it checks every Node. A node's probe time is refreshed
  (on this controller's monotonic clock, never by comparing another host's wall clock) when its
  Lease `kube-node-lease/<node>` shows a newer renewTime or its Ready condition a new
  lastHeartbeatTime. A node not refreshed for `node_monitor_grace_period_s` (50 s;
  `node_startup_grace_period_s` for a node that never posted Ready) gets Ready, MemoryPressure,
  DiskPressure and PIDPressure Unknown (reason NodeStatusUnknown), written through /status
  guarded by resourceVersion. A newly seen node (also every node after a restart) starts
  with a fresh grace period.
- Ready turning from True to anything else records `NodeNotReady` on the node and sets every
  pod on it Ready=False (status write guarded by resourceVersion) so the Endpoints controller
  drops them at once; a pod bound later to a not-Ready node gets the same.
- NoSchedule taints follow conditions at once (Ready False -> not-ready, Unknown -> unreachable,
  pressures, cordoned -> unschedulable): handled per node from a work queue on node events.
- NoExecute taints (not-ready / unreachable, mutually exclusive) are added through a per-zone
  rate-limited queue (`node_eviction_rate` nodes/s, burst 1); a Ready node loses them at once.
  Zones (topology.kubernetes.io/region+zone, "" by default) are Normal, PartialDisruption
  (> 2 and >= `unhealthy_zone_threshold` not Ready: `secondary_node_eviction_rate` when the zone
  has more than `large_cluster_size_threshold` nodes, else 0) or FullDisruption (no Ready node:
  the normal rate, so workloads move to other zones). When every zone is fully disrupted the
  controller assumes its own network is the problem: no NoExecute taint is added anywhere and
  the existing ones are removed, until some node is Ready again (then every node gets a fresh
  grace period). Nodes labelled node.kubernetes.io/exclude-disruption do not count in zones.
- Events on the Node: RegisteredNode (first seen), RemovingNode (gone), NodeNotReady.
Taint writes swap taints in one merge patch guarded by resourceVersion (Conflict: re-read and
retry). NoExecute decisions use the Ready state observed before the pass's own update (as
Kubernetes: a node marked Unknown is queued for tainting one period later, once its zone's
state accounts for it); NoSchedule taints follow the written conditions at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge

from controllers.base import Controller, ControllerContext
from controllers.nodehealth import (
    DISRUPTION_EXCLUSION_LABEL,
    FULL,
    INITIAL,
    NO_EXECUTE,
    NORMAL,
    NOT_READY,
    UNREACHABLE,
    TaintQueue,
    condition,
    condition_taints,
    is_condition_taint,
    mark_unknown,
    same_taint,
    zone_key,
    zone_state,
)
from machinery import errors
from machinery.clock import REAL_CLOCK, Clock, format_time, parse_time
from machinery.events import NORMAL as EV_NORMAL
from machinery.events import WARNING as EV_WARNING
from machinery.informer import path_index
from machinery.models import Lease, Node, Pod
from machinery.workqueue import WorkQueue, run_workers

# 1 while the node's Ready condition is True (Prometheus: the KubeNodeNotReady alert).
NODE_READY = Gauge("kubelite_node_ready", "Whether the node's Ready condition is True, as the node lifecycle controller sees it", ["node"])
log = logging.getLogger(__name__)

NODE_LEASE_NS = "kube-node-lease"
NODE_INDEX = "spec.nodeName"
TAINT_PASS_S = 0.1  # Kubernetes' NodeEvictionPeriod
UNREACHABLE_TAINT = {"key": UNREACHABLE, "effect": NO_EXECUTE}
NOT_READY_TAINT = {"key": NOT_READY, "effect": NO_EXECUTE}
SWAP_ATTEMPTS = 5


@dataclass
class NodeHealth:
    probe_s: float
    """Last time (our monotonic clock) the node showed a sign of life."""
    ready_transition_s: float
    heartbeat: str | None
    """lastHeartbeatTime of the Ready condition we last saw."""
    transition: str | None
    """lastTransitionTime of that condition."""
    has_ready: bool
    lease_renew: str | None
    """renewTime of the Lease we last saw."""


def taint_dicts(node: Node) -> list[dict[str, Any]]:
    return [t.to_dict() for t in (node.spec.taints or [])] if node.spec else []


def conditions_of(node: Node) -> list[dict[str, Any]]:
    return [c.to_dict() for c in (node.status.conditions or [])] if node.status else []


def ready_status(node: Node) -> str | None:
    cond = condition(conditions_of(node), "Ready")
    return None if cond is None else str(cond.get("status"))


async def swap_taints(client: Any, node: Node, add: list[dict[str, Any]], remove: list[dict[str, Any]],
                      now: str) -> Node | None:
    """Add `add` and drop `remove` (matched by key+effect) in one guarded patch; re-read on
    Conflict. Returns the node as written (or unchanged), None if it is gone."""
    for attempt in range(SWAP_ATTEMPTS):
        current = taint_dicts(node)
        new = [t for t in current if not any(same_taint(t, r) for r in remove)]
        for a in add:
            if not any(same_taint(t, a) for t in new):
                new.append({**a, "timeAdded": now})
        if [(t.get("key"), t.get("effect")) for t in new] == [(t.get("key"), t.get("effect")) for t in current]:
            return node
        patch = {"metadata": {"resourceVersion": node.resource_version}, "spec": {"taints": new or None}}
        try:
            written: Node = await client.patch(Node, node.name, patch)
            return written
        except errors.NotFound:
            return None
        except errors.Conflict:
            if attempt + 1 == SWAP_ATTEMPTS:
                raise
            try:
                node = await client.get(Node, node.name)
            except errors.NotFound:
                return None
    return node


class NodeLifecycleController(Controller):
    NAME = "nodelifecycle"

    def __init__(self, ctx: ControllerContext, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.opts = ctx.options
        self.nodes = ctx.factory.informer(Node)
        self.leases = ctx.factory.informer(Lease, namespace=NODE_LEASE_NS)
        self.pods = ctx.factory.informer(Pod)
        self.pods.add_index(NODE_INDEX, path_index("spec.nodeName"))
        self.nodes.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.pods.add_handlers(on_add=lambda p: self._pod_changed(None, p), on_update=self._pod_changed)
        self.pod_queue = WorkQueue(name="nodelifecycle-pods")
        self.health: dict[str, NodeHealth] = {}
        self.known: dict[str, Node] = {}
        self.zone_states: dict[str, str] = {}
        self.tainters: dict[str, TaintQueue] = {}
        self.retry_pods: set[str] = set()
        self._writes = asyncio.Semaphore(8)

    # -- handlers ------------------------------------------------------------------------------

    def _pod_changed(self, old: Pod | None, new: Pod) -> None:
        node = new.spec.nodeName if new.spec else None
        if node and (old is None or old.spec is None or old.spec.nodeName != node):
            self.pod_queue.add(new.key)

    # -- loops ---------------------------------------------------------------------------------

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._monitor_loop(), name="node-monitor"),
                 asyncio.create_task(self._taint_loop(), name="node-noexecute-tainter"),
                 asyncio.create_task(run_workers(self.pod_queue, self.sync_pod, workers=self.ctx.workers))]
        try:
            await super().run()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    def shutdown(self) -> None:
        super().shutdown()
        self.pod_queue.shutdown()

    async def _monitor_loop(self) -> None:
        while True:
            start_s = self.clock.monotonic()
            try:
                await self.monitor_once()
                took_s = self.clock.monotonic() - start_s
                if took_s > 2 * self.opts.node_monitor_period_s:
                    log.warning("node health pass took %.1fs (period %.1fs): API server slow?", took_s,
                                self.opts.node_monitor_period_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node health monitoring pass failed")
            await self.clock.sleep(self.opts.node_monitor_period_s)

    async def _taint_loop(self) -> None:
        while True:
            try:
                await self.taint_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("NoExecute tainting pass failed")
            await self.clock.sleep(TAINT_PASS_S)

    # -- NoSchedule taints from conditions (work queue of node names) --------------------------

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            return
        spec_unschedulable = bool(node.spec and node.spec.unschedulable)
        want = condition_taints(conditions_of(node), spec_unschedulable)
        have = [t for t in taint_dicts(node) if is_condition_taint(t)]
        add = [t for t in want if not any(same_taint(t, h) for h in have)]
        drop = [h for h in have if not any(same_taint(h, t) for t in want)]
        if add or drop:
            await swap_taints(self.client, node, add, drop, format_time(self.clock.now()))

    # -- pods bound to a not-Ready node ----------------------------------------------------------

    async def sync_pod(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or pod.spec is None or not pod.spec.nodeName:
            return
        node = self.nodes.get(pod.spec.nodeName)
        if node is None or pod.spec.nodeName not in self.health:
            return
        status = ready_status(node)
        if status is not None and status != "True":
            await self.mark_pod_not_ready(pod, pod.spec.nodeName)

    async def mark_pod_not_ready(self, pod: Pod, node_name: str) -> None:
        """Ready=False on `pod` (guarded by resourceVersion), as Kubernetes' MarkPodsNotReady."""
        if pod.spec is None or pod.spec.nodeName != node_name or pod.metadata.deletionTimestamp:
            return
        conds = [c.to_dict() for c in (pod.status.conditions or [])] if pod.status else []
        ready = next((c for c in conds if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") == "False":
            return
        ready.update(status="False", lastTransitionTime=format_time(self.clock.now()))
        ready.pop("reason", None)
        ready.pop("message", None)
        patch = {"metadata": {"resourceVersion": pod.resource_version}, "status": {"conditions": conds}}
        try:
            await self.client.patch(Pod, pod.name, patch, namespace=pod.namespace, subresource="status")
        except errors.NotFound:
            return
        await self.recorder.event(pod, EV_WARNING, "NodeNotReady", "Node is not ready")

    async def mark_pods_not_ready(self, node_name: str) -> bool:
        async def one(pod: Pod) -> bool:
            async with self._writes:
                try:
                    await self.mark_pod_not_ready(pod, node_name)
                    return True
                except errors.ApiError as exc:
                    log.warning("pod %s on node %s: cannot set Ready=False: %s", pod.key, node_name, exc)
                    return False

        results = await asyncio.gather(*(one(p) for p in self.pods.by_index(NODE_INDEX, node_name)))
        return all(results)

    # -- health ----------------------------------------------------------------------------------

    def _observe(self, node: Node) -> tuple[NodeHealth, float]:
        """Update the node's probe time from its status and Lease; return it and its grace."""
        now_s = self.clock.monotonic()
        ready = condition(conditions_of(node), "Ready")
        saved = self.health.get(node.name)
        if ready is None:
            grace = self.opts.node_startup_grace_period_s
            if saved is not None and saved.has_ready:  # the Ready condition was removed: start over
                saved = NodeHealth(probe_s=now_s, ready_transition_s=now_s, heartbeat=None, transition=None,
                                   has_ready=False, lease_renew=saved.lease_renew)
            if saved is None:
                created = parse_time(node.metadata.creationTimestamp)
                age = (self.clock.now() - created).total_seconds() if created else 0.0
                saved = NodeHealth(probe_s=now_s - max(0.0, age), ready_transition_s=now_s - max(0.0, age),
                                   heartbeat=None, transition=None, has_ready=False, lease_renew=None)
        else:
            grace = self.opts.node_monitor_grace_period_s
            heartbeat, transition = ready.get("lastHeartbeatTime"), ready.get("lastTransitionTime")
            if saved is None or not saved.has_ready:
                saved = NodeHealth(probe_s=now_s, ready_transition_s=now_s, heartbeat=heartbeat,
                                   transition=transition, has_ready=True,
                                   lease_renew=saved.lease_renew if saved else None)
            elif saved.heartbeat != heartbeat:
                if saved.transition != transition:
                    saved.ready_transition_s = now_s
                saved.probe_s, saved.heartbeat, saved.transition = now_s, heartbeat, transition
        observed_lease = self.leases.get(f"{NODE_LEASE_NS}/{node.name}")
        renew = observed_lease.spec.renewTime if observed_lease is not None and observed_lease.spec else None
        if renew and (saved.lease_renew is None or _later(renew, saved.lease_renew)):
            saved.lease_renew = renew
            saved.probe_s = now_s
        self.health[node.name] = saved
        return saved, grace

    async def update_health(self, node: Node) -> tuple[str | None, str | None]:
        """(observed, current) Ready status, after marking the node Unknown if its grace passed."""
        for attempt in range(3):
            health, grace = self._observe(node)
            observed = ready_status(node)
            if self.clock.monotonic() <= health.probe_s + grace:
                return observed, observed
            conds = mark_unknown(conditions_of(node), now=format_time(self.clock.now()),
                                 creation=node.metadata.creationTimestamp)
            current = condition(conds, "Ready")
            if current == condition(conditions_of(node), "Ready"):
                return observed, observed
            patch = {"metadata": {"resourceVersion": node.resource_version}, "status": {"conditions": conds}}
            try:
                written: Node = await self.client.patch(Node, node.name, patch, subresource="status")
            except errors.NotFound:
                return observed, None
            except errors.Conflict:
                if attempt == 2:
                    raise
                node = await self.client.get(Node, node.name)
                continue
            health.heartbeat = (condition(conditions_of(written), "Ready") or {}).get("lastHeartbeatTime")
            health.transition = (condition(conditions_of(written), "Ready") or {}).get("lastTransitionTime")
            health.ready_transition_s = self.clock.monotonic()
            log.info("node %s: no heartbeat for %.0fs: status Unknown", node.name,
                     self.clock.monotonic() - health.probe_s)
            return observed, "Unknown"
        return ready_status(node), ready_status(node)

    # -- the monitoring pass ---------------------------------------------------------------------

    def _tainter(self, zone: str) -> TaintQueue:
        if zone not in self.tainters:
            self.tainters[zone] = TaintQueue(self.opts.node_eviction_rate, now_s=self.clock.monotonic())
            self.zone_states[zone] = INITIAL
        return self.tainters[zone]

    async def monitor_once(self) -> None:
        nodes = self.nodes.list()
        names = {n.name for n in nodes}
        for node in nodes:
            self._tainter(zone_key(node.metadata.labels))
            if node.name not in self.known:
                self.known[node.name] = node
                await self.recorder.event(node, EV_NORMAL, "RegisteredNode", f"Registered Node {node.name} in Controller")
                await self.mark_reachable(node)
        for name in [n for n in self.known if n not in names]:
            gone = self.known.pop(name)
            with contextlib.suppress(KeyError):
                NODE_READY.remove(name)
            self.health.pop(name, None)
            self.retry_pods.discard(name)
            for q in self.tainters.values():
                q.remove(name)
            await self.recorder.event(gone, EV_NORMAL, "RemovingNode", f"Removing Node {name} from Controller")

        zones: dict[str, list[str | None]] = {}

        async def one(node: Node) -> None:
            try:
                observed, current = await self.update_health(node)
            except errors.ApiError as exc:
                log.warning("node %s: health update failed, no eviction decision this pass: %s", node.name, exc)
                return
            if DISRUPTION_EXCLUSION_LABEL not in (node.metadata.labels or {}):
                zones.setdefault(zone_key(node.metadata.labels), []).append(current)
            NODE_READY.labels(node.name).set(1 if current == "True" else 0)
            if current is None:
                return
            fresh = self.nodes.get(node.name) or node
            # As Kubernetes: NoExecute decisions use the state observed before this pass's own
            # update, so the zone's disruption state (computed at the end of the pass from the
            # new states) is in place before a node that just went Unknown can be tainted.
            await self.process_taint_eviction(fresh, observed or "Unknown")
            if current != "True" and observed == "True":
                await self.recorder.event(node, EV_NORMAL, "NodeNotReady",
                                          f"Node {node.name} status is now: NodeNotReady")
                self.retry_pods.add(node.name)
            if node.name in self.retry_pods and (current == "True" or await self.mark_pods_not_ready(node.name)):
                self.retry_pods.discard(node.name)

        sem = asyncio.Semaphore(8)

        async def bounded(node: Node) -> None:
            async with sem:
                await one(node)

        await asyncio.gather(*(bounded(n) for n in nodes))
        await self.handle_disruption(zones, nodes)

    async def process_taint_eviction(self, node: Node, ready: str) -> None:
        now_s = self.clock.monotonic()
        queue = self._tainter(zone_key(node.metadata.labels))
        taints = taint_dicts(node)
        stamp = format_time(self.clock.now())
        if ready == "False":
            if any(same_taint(t, UNREACHABLE_TAINT) for t in taints):
                await swap_taints(self.client, node, [NOT_READY_TAINT], [UNREACHABLE_TAINT], stamp)
            else:
                if not any(same_taint(t, NOT_READY_TAINT) for t in taints):
                    queue.remove(node.name)
                queue.add(node.name, now_s)
        elif ready == "Unknown":
            if any(same_taint(t, NOT_READY_TAINT) for t in taints):
                await swap_taints(self.client, node, [UNREACHABLE_TAINT], [NOT_READY_TAINT], stamp)
            else:
                if not any(same_taint(t, UNREACHABLE_TAINT) for t in taints):
                    queue.remove(node.name)
                queue.add(node.name, now_s)
        elif ready == "True":
            await self.mark_reachable(node)

    async def mark_reachable(self, node: Node) -> None:
        """Drop the NoExecute not-ready/unreachable taints and forget the node in its queue."""
        if any(same_taint(t, UNREACHABLE_TAINT) or same_taint(t, NOT_READY_TAINT) for t in taint_dicts(node)):
            await swap_taints(self.client, node, [], [UNREACHABLE_TAINT, NOT_READY_TAINT],
                              format_time(self.clock.now()))
            log.info("node %s is healthy again: NoExecute taints removed", node.name)
        self._tainter(zone_key(node.metadata.labels)).remove(node.name)

    async def taint_pass(self) -> None:
        """Add the NoExecute taint to the queued nodes each zone's rate allows (every 0.1 s)."""
        now_s = self.clock.monotonic()
        for queue in list(self.tainters.values()):
            for name in queue.take(now_s):
                node = self.nodes.get(name)
                if node is None:
                    continue  # gone: done
                status = ready_status(node)
                if status is None:
                    queue.retry(name, now_s + 0.05)
                    continue
                if status == "True":
                    continue
                add, opposite = ((NOT_READY_TAINT, UNREACHABLE_TAINT) if status == "False"
                                 else (UNREACHABLE_TAINT, NOT_READY_TAINT))
                try:
                    await swap_taints(self.client, node, [add], [opposite], format_time(self.clock.now()))
                    log.info("node %s (Ready=%s): tainted %s:NoExecute", name, status, add["key"])
                except errors.ApiError as exc:
                    log.warning("node %s: NoExecute taint failed (%s); retrying", name, exc)
                    queue.retry(name, now_s)

    # -- zones -----------------------------------------------------------------------------------

    def _zone_rate(self, size: int, state: str) -> float:
        if state in (NORMAL, FULL):
            return self.opts.node_eviction_rate
        if size > self.opts.large_cluster_size_threshold:
            return self.opts.secondary_node_eviction_rate
        return 0.0

    async def handle_disruption(self, zones: dict[str, list[str | None]], nodes: list[Node]) -> None:
        now_s = self.clock.monotonic()
        new_states: dict[str, str] = {}
        for zone, statuses in zones.items():
            _, new_states[zone] = zone_state(statuses, self.opts.unhealthy_zone_threshold)
            self.zone_states.setdefault(zone, INITIAL)
        all_full = bool(new_states) and all(s == FULL for s in new_states.values())
        for zone in [z for z in self.zone_states if z not in zones]:
            del self.zone_states[zone]
        all_were_full = all(s == FULL for s in self.zone_states.values()) and bool(self.zone_states)
        if all_full and all_were_full:
            return
        if all_full:
            log.warning("every node is not Ready: entering master disruption mode (no eviction)")
            for node in nodes:
                with contextlib.suppress(errors.ApiError):
                    await self.mark_reachable(node)
            for zone in self.zone_states:
                self._tainter(zone).swap_rate(0.0, now_s)
                self.zone_states[zone] = FULL
            return
        if all_were_full:
            log.info("some nodes are Ready: leaving master disruption mode")
            for h in self.health.values():
                h.probe_s = now_s
                h.ready_transition_s = now_s
            for zone in self.zone_states:
                self._tainter(zone).swap_rate(self._zone_rate(len(zones.get(zone, [])), new_states[zone]), now_s)
                self.zone_states[zone] = new_states[zone]
            return
        for zone, old in list(self.zone_states.items()):
            new = new_states[zone]
            if new == old:
                continue
            rate = self._zone_rate(len(zones[zone]), new)
            log.info("zone %r is now %s: eviction rate %.3g nodes/s", zone, new, rate)
            self._tainter(zone).swap_rate(rate, now_s)
            self.zone_states[zone] = new


def _later(a: str, b: str) -> bool:
    ta, tb = parse_time(a), parse_time(b)
    if ta is None or tb is None:
        return a != b
    return ta > tb
