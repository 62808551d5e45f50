"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Contract (as Kubernetes' rbac/v1 types):
- A `PolicyRule` grants `verbs` on either resources (`apiGroups` + `resources`, optionally
  `resourceNames`; `pods/log` names a subresource, `*` matches anything, `*/scale` any
  resource's scale) or non-resource URLs (`nonResourceURLs`, a trailing `*` is a prefix
  match). Validation (apiserver/admission/validation_rbac.py) keeps the two apart.
- A ClusterRole with an `aggregationRule` has its `rules` written by the clusterrole
  aggregation (the union of the rules of the ClusterRoles its selectors match).
- A binding's `roleRef` (apiGroup rbac.authorization.k8s.io, kind Role or ClusterRole, name)
  is immutable; `subjects` are User, Group (apiGroup rbac.authorization.k8s.io) or
  ServiceAccount (apiGroup "", namespace defaults to the RoleBinding's).
- Roles and RoleBindings are namespaced; ClusterRoles and ClusterRoleBindings are not.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import LabelSelector, Resource
from machinery.models._base import StrictModel

RBAC_GROUP = "rbac.authorization.k8s.io"


class PolicyRule(StrictModel):
    verbs: list[str] | None = None
    apiGroups: list[str] | None = None
    resources: list[str] | None = None
    resourceNames: list[str] | None = None
    nonResourceURLs: list[str] | None = None


class AggregationRule(StrictModel):
    clusterRoleSelectors: list[LabelSelector] | None = None


class RoleRef(StrictModel):
    apiGroup: str = RBAC_GROUP
    kind: str = ""
    name: str = ""


class Subject(StrictModel):
    kind: str = ""
    apiGroup: str | None = None
    name: str = ""
    namespace: str | None = None


class Role(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = RBAC_GROUP
    KIND: ClassVar[str] = "Role"
    PLURAL: ClassVar[str] = "roles"
    SINGULAR: ClassVar[str] = "role"

    rules: list[PolicyRule] | None = None


class ClusterRole(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = RBAC_GROUP
    KIND: ClassVar[str] = "ClusterRole"
    PLURAL: ClassVar[str] = "clusterroles"
    SINGULAR: ClassVar[str] = "clusterrole"
    NAMESPACED: ClassVar[bool] = False

    rules: list[PolicyRule] | None = None
    aggregationRule: AggregationRule | None = None


class RoleBinding(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = RBAC_GROUP
    KIND: ClassVar[str] = "RoleBinding"
    PLURAL: ClassVar[str] = "rolebindings"
    SINGULAR: ClassVar[str] = "rolebinding"

    roleRef: RoleRef | None = None
    subjects: list[Subject] | None = None


class ClusterRoleBinding(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = RBAC_GROUP
    KIND: ClassVar[str] = "ClusterRoleBinding"
    PLURAL: ClassVar[str] = "clusterrolebindings"
    SINGULAR: ClassVar[str] = "clusterrolebinding"
    NAMESPACED: ClassVar[bool] = False

    roleRef: RoleRef | None = None
    subjects: list[Subject] | None = None


__all__ = ["RBAC_GROUP", "AggregationRule", "ClusterRole", "ClusterRoleBinding", "PolicyRule", "Role",
           "RoleBinding", "RoleRef", "Subject"]
