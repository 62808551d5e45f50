"""Leader election on a coordination.k8s.io/v1 Lease (client-go `tools/leaderelection`).

Contract:
- `LeaderElector(client, name, *, namespace="kube-system", identity, lease_duration_s=15.0,
  renew_deadline_s=10.0, retry_period_s=2.0, clock=REAL_CLOCK, rand=random.random)`;
  `await elector.run(on_started_leading, on_stopped_leading)`. All waiting and measuring goes
  through `clock` (machinery.clock), so tests drive it with a FakeClock in no real time.
- `run` tries to acquire the Lease `namespace/name` every `retry_period_s` (jittered). It may
  take the Lease when it is absent, has no holder, is ours, or when its record (holder,
  renewTime) has not changed for `lease_duration_s` as measured on OUR monotonic clock since
  we first saw that record — never by comparing the other host's timestamps to ours, so clock
  skew cannot make two leaders.
- Every write is a create (AlreadyExists -> someone else won) or a PUT carrying the
  resourceVersion we read (Conflict -> someone else wrote first): optimistic concurrency makes
  acquisition atomic. Taking over from another holder increments leaseTransitions and sets
  acquireTime.
- While leading, `on_started_leading()` runs as a task and the Lease is renewed every
  `retry_period_s`; if no renewal succeeds for `renew_deadline_s`, leadership is lost: the task
  is cancelled, `on_stopped_leading()` is called and `run` returns. If the task ends by itself,
  `run` releases the Lease and returns. Cancelling `run` releases the Lease (holder cleared,
  duration 1 s) so a successor takes over at once, then calls `on_stopped_leading()`.
- `is_leader` tells whether we currently hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from machinery import errors
from machinery.clock import REAL_CLOCK, Clock, now_micro_rfc3339, wait_for
from machinery.meta import ObjectMeta
from machinery.models import Lease, LeaseSpec

if TYPE_CHECKING:
    from machinery.client import KubeClient

log = logging.getLogger(__name__)


class LeaderElector:
    def __init__(self, client: KubeClient, name: str, *, namespace: str = "kube-system", identity: str,
                 lease_duration_s: float = 15.0, renew_deadline_s: float = 10.0,
                 retry_period_s: float = 2.0, clock: Clock = REAL_CLOCK,
                 rand: Callable[[], float] = random.random) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        if not lease_duration_s > renew_deadline_s > retry_period_s > 0:
            raise ValueError("need lease_duration_s > renew_deadline_s > retry_period_s > 0")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self.clock = clock
        self._rand = rand
        self._observed: tuple[str | None, str | None] | None = None
        self._observed_at = 0.0
        self._lease: Lease | None = None
        self.is_leader = False

    # -- one attempt -------------------------------------------------------------------------

    def _observe(self, lease: Lease) -> None:
        spec = lease.spec or LeaseSpec()
        record = (spec.holderIdentity, spec.renewTime)
        if record != self._observed:
            self._observed = record
            self._observed_at = self.clock.monotonic()

    async def try_acquire_or_renew(self) -> bool:
        now = now_micro_rfc3339(self.clock)
        duration = max(1, round(self.lease_duration_s))
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except errors.NotFound:
            fresh = Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace),
                          spec=LeaseSpec(holderIdentity=self.identity, leaseDurationSeconds=duration,
                                         acquireTime=now, renewTime=now, leaseTransitions=0))
            try:
                self._lease = await self.client.create(fresh, namespace=self.namespace)
            except errors.AlreadyExists:
                return False
            self._observe(self._lease)
            return True
        self._observe(lease)
        spec = lease.spec or LeaseSpec()
        holder = spec.holderIdentity
        held_by_other = bool(holder) and holder != self.identity
        observed_duration = float(spec.leaseDurationSeconds or self.lease_duration_s)
        if held_by_other and self.clock.monotonic() - self._observed_at < observed_duration:
            return False
        new_spec = spec.model_copy()
        if holder != self.identity:
            new_spec.acquireTime = now
            new_spec.leaseTransitions = (spec.leaseTransitions or 0) + (1 if holder else 0)
        new_spec.holderIdentity = self.identity
        new_spec.leaseDurationSeconds = duration
        new_spec.renewTime = now
        lease.spec = new_spec
        try:
            self._lease = await self.client.replace(lease)  # carries resourceVersion: CAS
        except errors.Conflict:
            return False
        self._observe(self._lease)
        return True

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except errors.ApiError as exc:  # API unreachable or 5xx: just a failed attempt
            log.warning("leader election %s/%s: %s", self.namespace, self.name, exc)
            return False

    def _jittered(self) -> float:
        return self.retry_period_s * (1.0 + 0.2 * self._rand())

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, on_started_leading: Callable[[], Coroutine[Any, Any, None]],
                  on_stopped_leading: Callable[[], None]) -> None:
        while True:  # polling is the protocol: the Lease is the only shared state
            if await self._attempt():
                break
            await self.clock.sleep(self._jittered())
        self.is_leader = True
        log.info("leader election %s/%s: %s is the leader", self.namespace, self.name, self.identity)
        task = asyncio.create_task(on_started_leading(), name=f"leading-{self.name}")
        try:
            lost = await self._renew_until_lost(task)
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            await asyncio.shield(self.release())
            self.is_leader = False
            on_stopped_leading()
            raise
        self.is_leader = False
        if lost:
            log.error("leader election %s/%s: lost the lease", self.namespace, self.name)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            on_stopped_leading()
            return
        await self.release()
        on_stopped_leading()
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def _renew_until_lost(self, task: asyncio.Task[None]) -> bool:
        """Renew until the leading task ends (False) or renewals fail for renew_deadline_s (True)."""
        last_ok = self.clock.monotonic()
        while True:
            if await wait_for(self.clock, task, self.retry_period_s):
                return False
            if await self._attempt():
                last_ok = self.clock.monotonic()
            elif self.clock.monotonic() - last_ok > self.renew_deadline_s:
                return True

    async def release(self) -> None:
        """Give the Lease up (only if we still hold it) so a successor need not wait."""
        lease = self._lease
        if lease is None or lease.spec is None or lease.spec.holderIdentity != self.identity:
            return
        spec = lease.spec.model_copy()
        spec.holderIdentity = None
        spec.leaseDurationSeconds = 1
        spec.renewTime = now_micro_rfc3339(self.clock)
        lease.spec = spec
        try:
            self._lease = await self.client.replace(lease)
        except errors.ApiError as exc:
            log.warning("leader election %s/%s: release failed: %s", self.namespace, self.name, exc)
