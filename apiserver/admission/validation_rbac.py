"""Validation of the RBAC kinds (pkg/apis/rbac/validation, as Kubernetes words it).

Contract: `validate_rbac(errs, obj, old)` adds causes for a Role, ClusterRole, RoleBinding or
ClusterRoleBinding; `RBAC_KINDS` lists them; `rbac_name_errors(name)` is Kubernetes'
ValidateRBACName (a path segment: no "/" or "%", not "." or ".."; `system:node` is fine).
- rules: verbs required; a rule is either for resources (apiGroups and resources required)
  or for nonResourceURLs (never both; never in a namespaced Role).
- roleRef: apiGroup rbac.authorization.k8s.io, kind Role or ClusterRole (ClusterRole only for
  a ClusterRoleBinding), name required; immutable on update ("cannot change roleRef").
- subjects: name required; User and Group in apiGroup rbac.authorization.k8s.io,
  ServiceAccount in apiGroup "" (a ClusterRoleBinding's needs a namespace).
"""

from __future__ import annotations

from apiserver.admission.validation_common import Errs, dns1123_subdomain_errors
from machinery.meta import Resource
from machinery.models import RBAC_GROUP, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding

RBAC_KINDS: tuple[type[Resource], ...] = (Role, ClusterRole, RoleBinding, ClusterRoleBinding)


def rbac_name_errors(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _rules(errs: Errs, rules: list[PolicyRule] | None, *, namespaced: bool) -> None:
    for i, rule in enumerate(rules or []):
        path = f"rules[{i}]"
        if not rule.verbs:
            errs.required(f"{path}.verbs", "verbs must contain at least one value")
        if rule.nonResourceURLs:
            if namespaced:
                errs.invalid(f"{path}.nonResourceURLs", rule.nonResourceURLs,
                             "namespaced rules cannot apply to non-resource URLs")
            if rule.apiGroups or rule.resources or rule.resourceNames:
                errs.invalid(f"{path}.nonResourceURLs", rule.nonResourceURLs,
                             "rules cannot apply to both regular resources and non-resource URLs")
            continue
        if not rule.apiGroups:
            errs.required(f"{path}.apiGroups", "resource rules must supply at least one api group")
        if not rule.resources:
            errs.required(f"{path}.resources", "resource rules must supply at least one resource")


def _binding(errs: Errs, obj: RoleBinding | ClusterRoleBinding) -> None:
    ref = obj.roleRef
    kinds = ("Role", "ClusterRole") if isinstance(obj, RoleBinding) else ("ClusterRole",)
    if ref is None:
        errs.required("roleRef")
    else:
        if ref.apiGroup != RBAC_GROUP:
            errs.not_supported("roleRef.apiGroup", ref.apiGroup, (RBAC_GROUP,))
        if ref.kind not in kinds:
            errs.not_supported("roleRef.kind", ref.kind, kinds)
        if not ref.name:
            errs.required("roleRef.name")
        else:
            for why in rbac_name_errors(ref.name):
                errs.invalid("roleRef.name", ref.name, why)
    for i, sub in enumerate(obj.subjects or []):
        path = f"subjects[{i}]"
        if not sub.name:
            errs.required(f"{path}.name")
        if sub.kind == "ServiceAccount":
            if sub.apiGroup:
                errs.not_supported(f"{path}.apiGroup", sub.apiGroup, ("",))
            for why in dns1123_subdomain_errors(sub.name) if sub.name else []:
                errs.invalid(f"{path}.name", sub.name, why)
            if isinstance(obj, ClusterRoleBinding) and not sub.namespace:
                errs.required(f"{path}.namespace")
        elif sub.kind in ("User", "Group"):
            if sub.apiGroup != RBAC_GROUP:
                errs.not_supported(f"{path}.apiGroup", sub.apiGroup, (RBAC_GROUP,))
        else:
            errs.not_supported(f"{path}.kind", sub.kind, ("ServiceAccount", "User", "Group"))


def validate_rbac(errs: Errs, obj: Resource, old: Resource | None = None) -> None:
    if isinstance(obj, Role):
        _rules(errs, obj.rules, namespaced=True)
    elif isinstance(obj, ClusterRole):
        _rules(errs, obj.rules, namespaced=False)
    elif isinstance(obj, RoleBinding | ClusterRoleBinding):
        _binding(errs, obj)
        if isinstance(old, RoleBinding | ClusterRoleBinding) and old.roleRef != obj.roleRef:
            errs.invalid("roleRef", obj.roleRef.to_dict() if obj.roleRef else None, "cannot change roleRef")
