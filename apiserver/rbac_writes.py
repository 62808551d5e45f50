"""The API server's own writes of RBAC objects, through the normal REST handlers (defaults,
validation, watch events, as any client's write).

Contract:
- `await reconcile(ctx)` (idempotent, at start-up when RBAC is on): creates every object of
  the bootstrap policy (apiserver/auth/bootstrappolicy.py `wanted_policy()`) that is missing;
  for the existing ones whose `rbac.authorization.kubernetes.io/autoupdate` annotation is not
  "false", writes `merged(current, wanted)` when something is missing (Kubernetes' `reconcile`
  without --remove-extra). A conflict is left for the next start.
- `await aggregate(ctx, cluster_roles) -> int`: writes the ClusterRoles whose aggregated rules
  (apiserver/auth/aggregation.py `aggregated_rules`) differ from their stored rules; returns
  how many it wrote. A conflict or a vanished role is left for the next pass (every ClusterRole
  change triggers one: apiserver/auth/authz_runtime.py).
This module sits above the handlers; the authorization modules below them never import it
(app.py hands `aggregate` to the authorization caches).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from apiserver import handlers
from apiserver.auth.aggregation import aggregated_rules
from apiserver.auth.bootstrappolicy import AUTOUPDATE, merged, wanted_policy
from apiserver.handlers_common import Ctx
from machinery import errors, registry

log = logging.getLogger(__name__)
Obj = dict[str, Any]


async def reconcile(ctx: Ctx) -> None:
    for kind, wanted in wanted_policy():
        cls = registry.by_kind(kind)
        name = wanted["metadata"]["name"]
        ns = wanted["metadata"].get("namespace")
        try:
            current = await handlers.get(ctx, cls, ns, name)
        except errors.NotFound:
            try:
                await handlers.create(ctx, cls, ns, copy.deepcopy(wanted))
                log.info("created %s %s", kind.lower(), name)
            except errors.AlreadyExists:
                pass
            continue
        if (current["metadata"].get("annotations") or {}).get(AUTOUPDATE) == "false":
            continue
        body = merged(current, wanted)
        if body is not None:
            try:
                await handlers.update(ctx, cls, ns, name, body)
                log.info("reconciled %s %s", kind.lower(), name)
            except errors.Conflict:
                log.info("%s %s changed while reconciling; next start will retry", kind.lower(), name)


async def aggregate(ctx: Ctx, cluster_roles: list[Obj]) -> int:
    """Write the aggregated roles whose rules changed; returns how many were written."""
    cls = registry.by_kind("ClusterRole")
    written = 0
    for role in cluster_roles:
        rules = aggregated_rules(role, cluster_roles)
        if rules is None or rules == (role.get("rules") or []):
            continue
        name = role["metadata"]["name"]
        body = {**role, "rules": rules}
        try:
            await handlers.update(ctx, cls, None, name, body)
            written += 1
            log.info("aggregated %d rules into clusterrole %s", len(rules), name)
        except (errors.Conflict, errors.NotFound):
            continue
    return written
