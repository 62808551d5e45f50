"""The clusterrole aggregation (Kubernetes' clusterrole-aggregation controller).

Contract: `aggregated_rules(role, cluster_roles) -> list | None`: for a ClusterRole with an
`aggregationRule`, the union (first-seen order, no duplicates) of the rules of every other
ClusterRole matched by any of its `clusterRoleSelectors`; None for a role without one. A
selector that does not parse matches nothing. `await aggregate(ctx, cluster_roles)` writes
the roles whose rules differ (a conflict is left for the next pass: every ClusterRole change
triggers one). Chains (view -> edit -> admin) converge because writing `edit` is itself a
change that triggers the pass that updates `admin`.

Why in the API server rather than the controller-manager: the RBAC index already follows the
ClusterRoles in this process, and a fresh cluster's `admin`/`edit`/`view` are then complete as
soon as the API server is ready, whichever controllers run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from machinery import errors, registry
from machinery.selectors import selector_from_model

if TYPE_CHECKING:
    from apiserver.handlers_common import Ctx

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def aggregated_rules(role: Obj, cluster_roles: list[Obj]) -> list[Obj] | None:
    agg = role.get("aggregationRule")
    if agg is None:
        return None
    own = (role.get("metadata") or {}).get("name")
    selectors = []
    for raw in agg.get("clusterRoleSelectors") or []:
        try:
            selectors.append(selector_from_model(raw))
        except ValueError:
            continue
    rules: list[Obj] = []
    for other in sorted(cluster_roles, key=lambda o: str((o.get("metadata") or {}).get("name"))):
        meta = other.get("metadata") or {}
        if meta.get("name") == own:
            continue
        labels = meta.get("labels") or {}
        if any(sel.matches(labels) for sel in selectors):
            for r in other.get("rules") or []:
                if r not in rules:
                    rules.append(r)
    return rules


async def aggregate(ctx: Ctx, cluster_roles: list[Obj]) -> int:
    """Write the aggregated roles whose rules changed; returns how many were written."""
    from apiserver import handlers

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
