"""ReplicaSet controller: keeps `spec.replicas` active pods matching the selector.

The same controller serves core/v1 ReplicationControllers (`ReplicationControllerController`:
the class run over that kind, as Kubernetes' ReplicationManager wraps its ReplicaSet
controller): only the kind of the owner, its informer and its selector (a plain label map)
differ; everything below holds for both.

Contract (client-go `pkg/controller/replicaset/replica_set.go`):
- Pods are created from `spec.template` with generateName `<rs>-`, the template's labels and
  annotations, and a controller ownerReference (controller=true, blockOwnerDeletion=true).
- Ownership through `controllers.refmanager.ControllerRefManager` over the RS's own pods and the
  namespace's orphans (`claim_candidates`: no walk over the namespace's pods): a matching orphan pod is
  adopted (after a live GET confirms the RS still exists with the same uid and is not being
  deleted), an owned pod whose labels stop matching is released, pods owned by another
  controller are never touched.
- Expectations: after asking for N creations/deletions the controller does not manage the set
  again until the informer has seen them (or 5 min passed), so a lagging watch never causes
  double creation or over-deletion. Status is still written.
- Creates go in slow-start batches 1, 2, 4, ... and stop at the first failed batch; the
  never-attempted creations are subtracted from the expectations and the sync raises (retry).
- Scale-down deletes the least valuable pods first (`podutil.deletion_rank`).
- Status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas with
  minReadySeconds, observedGeneration, ReplicaFailure condition) is merge-patched through
  `/status` only when it changed. With minReadySeconds > 0 and ready != available the key is
  re-queued after minReadySeconds so availability is noticed without any event.
- Events: SuccessfulCreate / SuccessfulDelete (Normal), FailedCreate / FailedDelete (Warning).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, cast

from controllers import podutil
from controllers.base import Controller, ControllerContext
from controllers.expectations import Expectations
from controllers.refmanager import ControllerRefManager, add_claim_indexes, claim_candidates
from machinery import errors
from machinery.clock import now_rfc3339
from machinery.events import NORMAL, WARNING
from machinery.informer import Informer
from machinery.meta import ObjectMeta
from machinery.models import Pod, PodSpec, ReplicaSet, ReplicationController
from machinery.selectors import LabelSelector, selector_from_map, selector_from_model

log = logging.getLogger(__name__)

BURST_REPLICAS = 500  # at most this many creates/deletes per sync, as Kubernetes


async def slow_start_batch(count: int, initial: int, fn: Callable[[], Awaitable[None]]) -> tuple[int, Exception | None]:
    """Call `fn` `count` times in growing concurrent batches (1, 2, 4...); stop after the first
    batch with a failure. Returns (successes, first error)."""
    successes = 0
    remaining = count
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(failures)
        if failures:
            err = failures[0]
            if not isinstance(err, Exception):
                raise err
            return successes, err
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


Owner = ReplicaSet | ReplicationController


def owner_selector(owner: Owner) -> LabelSelector:
    """The pods an owner manages: a ReplicaSet's LabelSelector, a ReplicationController's map."""
    assert owner.spec is not None
    if isinstance(owner, ReplicationController):
        return selector_from_map(owner.spec.selector or {})
    return selector_from_model(owner.spec.selector)


class _NamespaceGone(Exception):
    """A create refused because the namespace is terminating or gone: stop, do not retry."""


def pod_from_template(owner: Owner) -> Pod:
    assert owner.spec is not None and owner.spec.template is not None
    tmeta = owner.spec.template.metadata or ObjectMeta()
    spec = owner.spec.template.spec
    return Pod(
        metadata=ObjectMeta(generateName=f"{owner.name}-", namespace=owner.namespace,
                            labels=dict(tmeta.labels or {}) or None,
                            annotations=dict(tmeta.annotations or {}) or None,
                            ownerReferences=[podutil.new_controller_ref(owner)]),
        spec=PodSpec.model_validate(spec.to_dict()) if spec else None,
    )


class ReplicaSetController(Controller):
    NAME = "replicaset"
    KIND: ClassVar[type[Owner]] = ReplicaSet
    """The owner kind this controller runs over."""

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()
        self.rs_informer = cast(Informer[Owner], ctx.factory.informer(self.KIND))
        self.pod_informer = ctx.factory.informer(Pod)
        add_claim_indexes(self.pod_informer)
        self.rs_informer.add_handlers(on_add=self.enqueue, on_update=self._rs_updated, on_delete=self._rs_deleted)
        self.pod_informer.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                                       on_delete=self._pod_deleted)

    # -- handlers: route keys (and account expectations), nothing else ----------------------

    def _rs_updated(self, old: Owner, new: Owner) -> None:
        self.enqueue(new)

    def _rs_deleted(self, rs: Owner) -> None:
        self.expectations.delete(rs.key)
        self.enqueue(rs)

    def _owner(self, pod: Pod, ref: Any) -> Owner | None:
        if ref is None or ref.kind != self.KIND.KIND:
            return None
        rs = self.rs_informer.get(f"{pod.namespace}/{ref.name}")
        return rs if rs is not None and rs.uid == ref.uid else None

    def _enqueue_matching(self, pod: Pod) -> None:
        for rs in self.rs_informer.by_index("namespace", pod.namespace or ""):
            if rs.spec and owner_selector(rs).matches(pod.metadata.labels):
                self.enqueue(rs)

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletionTimestamp:
            self._pod_deleted(pod)  # restarted controller: a pod already being deleted
            return
        ref = podutil.controller_ref(pod)
        if ref is not None:
            rs = self._owner(pod, ref)
            if rs is not None:
                self.expectations.creation_observed(rs.key)
                self.enqueue(rs)
            return
        self._enqueue_matching(pod)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.resource_version == new.resource_version:
            return  # a resync: nothing changed
        if new.metadata.deletionTimestamp:
            self._pod_deleted(new)
            return
        old_ref, new_ref = podutil.controller_ref(old), podutil.controller_ref(new)
        if (old_ref is not None and (new_ref is None or old_ref.uid != new_ref.uid)
                and (old_rs := self._owner(old, old_ref)) is not None):
            self.enqueue(old_rs)
        if new_ref is not None:
            rs = self._owner(new, new_ref)
            if rs is None:
                return
            self.enqueue(rs)
            min_ready = (rs.spec.minReadySeconds or 0) if rs.spec else 0
            if min_ready > 0 and not podutil.is_ready(old) and podutil.is_ready(new):
                self.queue.add_after(rs.key, float(min_ready))
            return
        if old.metadata.labels != new.metadata.labels or old_ref is not None:
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Pod) -> None:
        rs = self._owner(pod, podutil.controller_ref(pod))
        if rs is not None:
            self.expectations.deletion_observed(rs.key, pod.key)
            self.enqueue(rs)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        rs = self.rs_informer.get(key)
        if rs is None or rs.spec is None:
            self.expectations.delete(key)
            return
        satisfied = self.expectations.satisfied(key)
        # Our pods and the namespace's orphans: the only ones a claim may return or change.
        candidates = [p for p in claim_candidates(self.pod_informer, rs) if podutil.is_active(p)]
        refs = ControllerRefManager(self.client, rs, owner_selector(rs))
        pods = await refs.claim_pods(candidates)
        manage_error: Exception | None = None
        if satisfied and not rs.metadata.deletionTimestamp:
            try:
                await self._manage(rs, pods)
            except errors.ApiError as exc:
                manage_error = exc
        await self._update_status(rs, pods, manage_error)
        if manage_error is not None:
            raise manage_error
        min_ready = rs.spec.minReadySeconds or 0
        if min_ready > 0 and any(podutil.is_ready(p) and not podutil.is_available(p, min_ready) for p in pods):
            self.queue.add_after(key, float(min_ready))

    async def _manage(self, rs: Owner, pods: list[Pod]) -> None:
        assert rs.spec is not None
        replicas = rs.spec.replicas if rs.spec.replicas is not None else 1
        diff = len(pods) - replicas
        if diff < 0:
            await self._create(rs, min(-diff, BURST_REPLICAS))
        elif diff > 0:
            await self._delete(rs, pods, min(diff, BURST_REPLICAS))

    async def _create(self, rs: Owner, count: int) -> None:
        self.expectations.expect_creations(rs.key, count)
        template = pod_from_template(rs)

        async def create_one() -> None:
            try:
                created = await self.client.create(template.model_copy(deep=True), namespace=rs.namespace)
            except errors.ApiError as exc:
                if podutil.namespace_going_away(exc):
                    raise _NamespaceGone() from exc
                await self.recorder.event(rs, WARNING, "FailedCreate", f"Error creating: {exc.message}")
                raise
            await self.recorder.event(rs, NORMAL, "SuccessfulCreate", f"Created pod: {created.name}")

        successes, err = await slow_start_batch(count, 1, create_one)
        # Failed and never-attempted creations: no pod will ever arrive for them.
        for _ in range(count - successes):
            self.expectations.creation_observed(rs.key)
        if isinstance(err, _NamespaceGone):
            log.info("%s %s: namespace is going away; not creating pods", self.NAME, rs.key)
            return
        if err is not None:
            raise err

    async def _delete(self, rs: Owner, pods: list[Pod], count: int) -> None:
        victims = sorted(pods, key=podutil.deletion_rank)[:count]
        self.expectations.expect_deletions(rs.key, [p.key for p in victims])

        async def delete_one(pod: Pod) -> None:
            try:
                await self.client.delete(Pod, pod.name, namespace=pod.namespace)
            except errors.NotFound:
                self.expectations.deletion_observed(rs.key, pod.key)
                return
            except errors.ApiError as exc:
                self.expectations.deletion_observed(rs.key, pod.key)
                await self.recorder.event(rs, WARNING, "FailedDelete", f"Error deleting: {exc.message}")
                raise
            await self.recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.name}")

        results = await asyncio.gather(*(delete_one(p) for p in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _update_status(self, rs: Owner, pods: list[Pod], manage_error: Exception | None) -> None:
        status = calculate_status(rs, pods, manage_error)
        current = rs.status.to_dict() if rs.status else {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        with contextlib.suppress(errors.NotFound):  # deleted meanwhile: nothing to report on
            await self.client.patch(self.KIND, rs.name, {"status": status}, namespace=rs.namespace,
                                    subresource="status")


def calculate_status(rs: Owner, pods: list[Pod], manage_error: Exception | None) -> dict[str, Any]:
    """The status dict for a merge patch (None removes a field, so every key is present)."""
    assert rs.spec is not None
    template_labels = (rs.spec.template.metadata.labels if rs.spec.template and rs.spec.template.metadata
                       else None) or {}
    min_ready = rs.spec.minReadySeconds or 0
    fully = sum(1 for p in pods if all((p.metadata.labels or {}).get(k) == v for k, v in template_labels.items()))
    ready = sum(1 for p in pods if podutil.is_ready(p))
    available = sum(1 for p in pods if podutil.is_available(p, min_ready))
    conditions = [c.to_dict() for c in (rs.status.conditions or [])] if rs.status else []
    conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    if manage_error is not None:
        replicas = rs.spec.replicas if rs.spec.replicas is not None else 1
        reason = "FailedCreate" if len(pods) < replicas else "FailedDelete"
        message = getattr(manage_error, "message", str(manage_error))
        previous = [c for c in (rs.status.conditions or []) if c.type == "ReplicaFailure"] if rs.status else []
        stamp = previous[0].lastTransitionTime if previous else None
        conditions.append({"type": "ReplicaFailure", "status": "True", "reason": reason, "message": message,
                           "lastTransitionTime": stamp or now_rfc3339()})
    return {
        "replicas": len(pods), "fullyLabeledReplicas": fully, "readyReplicas": ready,
        "availableReplicas": available, "observedGeneration": rs.metadata.generation,
        "conditions": conditions or None,
    }


class ReplicationControllerController(ReplicaSetController):
    """core/v1 ReplicationControllers, managed exactly as ReplicaSets (see module docstring)."""

    NAME = "replicationcontroller"
    KIND = ReplicationController
