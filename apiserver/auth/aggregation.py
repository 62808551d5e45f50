"""The clusterrole aggregation (Kubernetes' clusterrole-aggregation controller).

Contract: `aggregated_rules(role, cluster_roles) -> list | None`: for a ClusterRole with an
`aggregationRule`, the union (first-seen order, no duplicates) of the rules of every other
ClusterRole matched by any of its `clusterRoleSelectors`; None for a role without one. A
selector that does not parse matches nothing. The writes of the roles whose rules differ are
apiserver/rbac_writes.py's `aggregate`, run by the authorization caches
(apiserver/auth/authz_runtime.py) after ClusterRole changes. Chains (view -> edit -> admin)
converge because writing `edit` is itself a change that triggers the pass that updates `admin`.

Why in the API server rather than the controller-manager: the RBAC index already follows the
ClusterRoles in this process, and a fresh cluster's `admin`/`edit`/`view` are then complete as
soon as the API server is ready, whichever controllers run.
"""

from __future__ import annotations

from typing import Any

from machinery.selectors import selector_from_model

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
