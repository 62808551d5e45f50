"""Authorization as the API server runs it: the modes, their caches, and the per-request check.

Contract:
- `Authorization(modes)`: `modes` is `--authorization-mode` split on commas (`AlwaysAllow`,
  `AlwaysDeny`, `Node`, `RBAC`; unknown modes raise ValueError at start). The authorizers are
  asked in that order (apiserver/auth/authz.py: Union; system:masters always passes).
- `await run(storage, aggregate)` (a background task for the server's life) follows, through
  the storage's watch caches (list from the cache, then watch from its revision; relist on
  410), the RBAC kinds into `index` (RBAC mode) and pods and PVCs into `graph` (Node mode), and
  after ClusterRole changes awaits `aggregate(cluster_roles)` (the clusterrole aggregation's
  writes, apiserver/rbac_writes.py; an ApiError is retried). Nothing reads etcd per request.
  This module sits below the REST handlers (which call `admit_by_requester`) and imports none.
- `await check(scope) -> errors.ApiError | None`: None to serve the request. A request with no
  authenticated user in the scope (the authentication step did not run: no
  `--client-ca-file`/token flags) is served as before authorization existed. Before the caches
  synced, requests wait for them (at most `sync_timeout_s`, then 503 ServiceUnavailable).
  A denial is the 403 of authz.forbidden; NodeRestriction's checks on URL-named objects run
  after an ALLOW. The RequestAttributes of the request are kept in `CURRENT` (a contextvar)
  for admission (NodeRestriction on the created object's name) and the audit log.
- `admit_by_requester(kind, name, obj)` (the create path) raises NodeRestriction's 403 when a
  kubelet creates another node's Node or Lease, or a pod that is not its own mirror pod.
- `authorize(attrs)` answers a SubjectAccessReview the same way (no NodeRestriction).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from apiserver.auth.authz import (
    AlwaysAllow,
    AlwaysDeny,
    Authorizer,
    Decision,
    Union,
    forbidden,
    request_attributes,
)
from apiserver.auth.node import NodeAuthorizer, NodeGraph, admit_node_create, node_restriction
from apiserver.auth.rbac import PolicyIndex, RbacAuthorizer
from apiserver.auth.user import RequestAttributes, user_of
from apiserver.storage import keys
from machinery import errors
from machinery.backoff import Backoff

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Aggregate = Callable[[list[Obj]], Awaitable[object]]
MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")
CURRENT: contextvars.ContextVar[RequestAttributes | None] = contextvars.ContextVar("kubelite_authz", default=None)
_RBAC_PLURALS = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
                 "ClusterRoleBinding": "clusterrolebindings"}


def parse_modes(value: str) -> list[str]:
    modes = [m.strip() for m in value.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"unknown authorization mode(s) {bad or value!r}: supported {', '.join(MODES)}")
    return modes


async def follow(storage: Any, prefix: str, reset: Callable[[list[Obj]], None],
                 apply: Callable[[str, Obj], None], synced: asyncio.Event) -> None:
    """List `prefix` from the watch cache, then apply its events; relist on 410 or errors."""
    backoff = Backoff(0.2, 5.0)
    while True:
        try:
            list_cached = getattr(storage, "list_cached", None)
            listed = await (list_cached(prefix) if list_cached is not None else storage.list(prefix))
            reset(list(listed.items))
            synced.set()
            async for ev in storage.watch(prefix, from_rv=listed.resource_version):
                if ev.type in ("ADDED", "MODIFIED", "DELETED"):
                    apply(ev.type, ev.object)
            backoff.reset()
        except errors.Expired:
            continue
        except errors.ApiError as e:
            delay_s = backoff.next()
            log.warning("authorization cache of %s: %s; relisting in %.1fs", prefix, e, delay_s)
            await asyncio.sleep(delay_s)
        except Exception:
            delay_s = backoff.next()
            log.exception("authorization cache of %s failed; relisting in %.1fs", prefix, delay_s)
            await asyncio.sleep(delay_s)


class Authorization:
    def __init__(self, modes: list[str], *, sync_timeout_s: float = 30.0) -> None:
        self.modes = modes
        self.index = PolicyIndex()
        self.graph = NodeGraph()
        self.sync_timeout_s = sync_timeout_s
        authorizers: list[Authorizer] = []
        for mode in modes:
            if mode == "AlwaysAllow":
                authorizers.append(AlwaysAllow())
            elif mode == "AlwaysDeny":
                authorizers.append(AlwaysDeny())
            elif mode == "Node":
                authorizers.append(NodeAuthorizer(self.graph))
            elif mode == "RBAC":
                authorizers.append(RbacAuthorizer(self.index))
            else:
                raise ValueError(f"unknown authorization mode {mode!r}")
        self.authorizer = Union(authorizers)
        self._synced: list[asyncio.Event] = []
        self._aggregate_wanted = asyncio.Event()

    @property
    def uses_caches(self) -> bool:
        return "RBAC" in self.modes or "Node" in self.modes

    def synced(self) -> bool:
        return all(e.is_set() for e in self._synced)

    async def run(self, storage: Any, aggregate: Aggregate) -> None:
        tasks: list[asyncio.Task[None]] = []
        if "RBAC" in self.modes:
            for kind, plural in _RBAC_PLURALS.items():
                tasks.append(self._follow(storage, plural, kind))
            tasks.append(asyncio.create_task(self._aggregate_loop(aggregate), name="clusterrole aggregation"))
        if "Node" in self.modes:
            tasks.append(self._follow_fn(storage, "pods", self.graph.reset_pods, self.graph.apply_pod))
            tasks.append(self._follow_fn(storage, "persistentvolumeclaims", self.graph.reset_pvcs,
                                         self.graph.apply_pvc))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    def _follow(self, storage: Any, plural: str, kind: str) -> asyncio.Task[None]:
        def reset(objs: list[Obj]) -> None:
            self.index.reset(kind, objs)
            if kind == "ClusterRole":
                self._aggregate_wanted.set()

        def apply(event_type: str, obj: Obj) -> None:
            self.index.apply(kind, event_type, obj)
            if kind == "ClusterRole":
                self._aggregate_wanted.set()

        return self._follow_fn(storage, plural, reset, apply)

    def _follow_fn(self, storage: Any, plural: str, reset: Callable[[list[Obj]], None],
                   apply: Callable[[str, Obj], None]) -> asyncio.Task[None]:
        synced = asyncio.Event()
        self._synced.append(synced)
        return asyncio.create_task(follow(storage, keys.collection_prefix(plural), reset, apply, synced),
                                   name=f"authorization cache {plural}")

    async def _aggregate_loop(self, aggregate: Aggregate) -> None:
        while True:
            await self._aggregate_wanted.wait()
            self._aggregate_wanted.clear()
            await asyncio.sleep(0.05)  # coalesce a burst of changes (start-up reconciliation)
            try:
                await aggregate(list(self.index.objects["ClusterRole"].values()))
            except errors.ApiError as e:
                log.warning("clusterrole aggregation: %s; retrying", e)
                await asyncio.sleep(1.0)
                self._aggregate_wanted.set()

    def authorize(self, attrs: RequestAttributes) -> tuple[Decision, str]:
        return self.authorizer.authorize(attrs)

    async def wait_synced(self) -> None:
        if self.synced():
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self._synced)), self.sync_timeout_s)
        except TimeoutError:
            raise errors.ServiceUnavailable("the authorization caches are not synced yet", retry_after_s=1) from None

    async def check(self, scope: MutableMapping[str, Any]) -> errors.ApiError | None:
        user = user_of(cast(dict[str, Any], scope))
        if user is None:
            return None
        # A WebSocket upgrade (exec, attach, port-forward) asks to create, as Kubernetes checks
        # since 1.30 (AuthorizePodWebsocketUpgradeCreatePermission).
        method = scope.get("method") or ("POST" if scope.get("type") == "websocket" else "GET")
        attrs = request_attributes(user, method, scope.get("path", "/"), scope.get("query_string", b""))
        CURRENT.set(attrs)
        if self.uses_caches and not self.synced():
            await self.wait_synced()
        decision, reason = self.authorizer.authorize(attrs)
        denial = forbidden(attrs, reason) if decision is not Decision.ALLOW else (
            node_restriction(attrs, self.graph) if "Node" in self.modes else None)
        if denial is not None:
            _log_denial(attrs, denial)
        return denial


def _log_denial(attrs: RequestAttributes, denial: errors.ApiError) -> None:
    """A denied system identity (a component, a node, a ServiceAccount) is usually a missing
    bootstrap-policy rule: a warning; users' denials are ordinary (info)."""
    level = logging.WARNING if attrs.user.name.startswith("system:") else logging.INFO
    log.log(level, "%s %s: %s", attrs.verb, attrs.path, denial)


def admit_by_requester(kind: str, name: str, obj: Obj) -> None:
    """NodeRestriction on a create: a kubelet creates only its own Node/Lease, mirror pods."""
    attrs = CURRENT.get()
    if attrs is not None:
        err = admit_node_create(attrs.user, kind, name, obj)
        if err is not None:
            raise err
