"""Table layouts of the RBAC kinds as kubectl prints them: Roles and ClusterRoles `CREATED AT`
(the timestamp itself), RoleBindings and ClusterRoleBindings `ROLE` (Kind/name) and `AGE`,
wide: `USERS`, `GROUPS`, `SERVICEACCOUNTS` (namespace/name). machinery/tables.py merges
`LAYOUTS` into its own."""

from __future__ import annotations

from datetime import datetime

from machinery.tablecells import Layout, Obj, human_age, meta_of


def _created_at(o: Obj, wide: bool, at: datetime) -> list[str]:
    return [str(meta_of(o).get("creationTimestamp") or "")]


def _binding(o: Obj, wide: bool, at: datetime) -> list[str]:
    ref = o.get("roleRef") or {}
    row = [f"{ref.get('kind', '')}/{ref.get('name', '')}", human_age(meta_of(o).get("creationTimestamp"), at)]
    if not wide:
        return row
    subjects = o.get("subjects") or []

    def names(kind: str) -> str:
        return ", ".join(
            (f"{s.get('namespace', '')}/{s.get('name', '')}" if kind == "ServiceAccount" else str(s.get("name", "")))
            for s in subjects if s.get("kind") == kind)
    return [*row, names("User"), names("Group"), names("ServiceAccount")]


LAYOUTS: dict[str, Layout] = {
    "Role": Layout(["CREATED AT"], [], _created_at),
    "ClusterRole": Layout(["CREATED AT"], [], _created_at),
    "RoleBinding": Layout(["ROLE", "AGE"], ["USERS", "GROUPS", "SERVICEACCOUNTS"], _binding),
    "ClusterRoleBinding": Layout(["ROLE", "AGE"], ["USERS", "GROUPS", "SERVICEACCOUNTS"], _binding),
}
