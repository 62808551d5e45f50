"""The RBAC authorizer: rules of the roles bound to a user, looked up in an in-memory index.

Contract (as Kubernetes' plugin/pkg/auth/authorizer/rbac):
- `rule_allows(rule, attrs)`: verbs (`*` or the verb), then for a resource request apiGroups
  (`*` or the group), resources (`*`, `pods`, `pods/log` for a subresource, `*/scale`) and
  resourceNames (empty: any name); for a non-resource request nonResourceURLs (`*`, the exact
  path, or `prefix*`).
- `PolicyIndex` holds the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (plain
  dicts, fed by `apply(kind, type, obj)` from the watch cache) and indexes the bindings by
  subject (`User` name, `Group` name; a ServiceAccount subject is the user
  `system:serviceaccount:NS:NAME`, NS defaulting to the RoleBinding's namespace). The index is
  rebuilt lazily on the first question after a change, so a request costs dict lookups plus
  the rules of the roles actually bound to the user and its groups; never an etcd read.
- `RbacAuthorizer(index).authorize(attrs)`: ALLOW when a rule of a ClusterRole bound by a
  ClusterRoleBinding, or (namespaced requests) of a Role/ClusterRole bound by a RoleBinding of
  the request's namespace, allows it; otherwise NO_OPINION (RBAC never denies), with the
  missing roles named in the reason (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not
  found`) as Kubernetes does.
- `rules_for(user, namespace)` lists the rules that apply (for SelfSubjectRulesReview-like
  answers and tests).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from apiserver.auth.authz import Decision
from apiserver.auth.user import RequestAttributes, UserInfo

Obj = dict[str, Any]
KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Rule:
    """A PolicyRule, as sets for fast matching."""

    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    resource_names: frozenset[str]
    urls: tuple[str, ...]

    @classmethod
    def of(cls, rule: Obj) -> Rule:
        return cls(frozenset(rule.get("verbs") or ()), frozenset(rule.get("apiGroups") or ()),
                   frozenset(rule.get("resources") or ()), frozenset(rule.get("resourceNames") or ()),
                   tuple(rule.get("nonResourceURLs") or ()))


def _url_matches(urls: Iterable[str], path: str) -> bool:
    return any(url in ("*", path) or (url.endswith("*") and path.startswith(url[:-1])) for url in urls)


def rule_allows(rule: Rule, attrs: RequestAttributes) -> bool:
    if "*" not in rule.verbs and attrs.verb not in rule.verbs:
        return False
    if not attrs.resource_request:
        return _url_matches(rule.urls, attrs.path)
    if "*" not in rule.api_groups and attrs.api_group not in rule.api_groups:
        return False
    res = rule.resources
    if attrs.subresource:
        combined = f"{attrs.resource}/{attrs.subresource}"
        if "*" not in res and combined not in res and f"*/{attrs.subresource}" not in res:
            return False
    elif "*" not in res and attrs.resource not in res:
        return False
    return not rule.resource_names or attrs.name in rule.resource_names


def subject_keys(user: UserInfo) -> list[str]:
    return [f"u:{user.name}", *(f"g:{g}" for g in user.groups)]


def _subject_key(subject: Obj, binding_namespace: str) -> str | None:
    kind, name = subject.get("kind"), subject.get("name") or ""
    if kind == "User":
        return f"u:{name}"
    if kind == "Group":
        return f"g:{name}"
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return f"u:{SA_PREFIX}{ns}:{name}" if ns else None
    return None


class PolicyIndex:
    def __init__(self) -> None:
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {k: {} for k in KINDS}
        self._dirty = True
        self._crb: dict[str, list[str]] = {}
        self._rb: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._rules: dict[tuple[str, str, str], tuple[Rule, ...]] = {}
        self.revision = 0
        """Bumped on every change (tests and the aggregation wait on it)."""

    def apply(self, kind: str, event_type: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if event_type == "DELETED":
            self.objects[kind].pop(key, None)
        else:
            self.objects[kind][key] = obj
        self._dirty = True
        self.revision += 1

    def reset(self, kind: str, objs: Iterable[Obj]) -> None:
        self.objects[kind] = {}
        for obj in objs:
            self.apply(kind, "ADDED", obj)
        self._dirty = True

    def _rebuild(self) -> None:
        crb: dict[str, list[str]] = defaultdict(list)
        for b in self.objects["ClusterRoleBinding"].values():
            name = str((b.get("roleRef") or {}).get("name") or "")
            for s in b.get("subjects") or []:
                key = _subject_key(s, "")
                if key is not None:
                    crb[key].append(name)
        rb: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for (ns, _), b in self.objects["RoleBinding"].items():
            ref = b.get("roleRef") or {}
            target = (str(ref.get("kind") or ""), str(ref.get("name") or ""))
            for s in b.get("subjects") or []:
                key = _subject_key(s, ns)
                if key is not None:
                    rb[(ns, key)].append(target)
        rules: dict[tuple[str, str, str], tuple[Rule, ...]] = {}
        for kind in ("Role", "ClusterRole"):
            for (ns, name), role in self.objects[kind].items():
                rules[(kind, ns, name)] = tuple(Rule.of(r) for r in role.get("rules") or [])
        self._crb, self._rb, self._rules, self._dirty = dict(crb), dict(rb), rules, False

    def bound_roles(self, user: UserInfo, namespace: str) -> list[tuple[str, str, str]]:
        """(kind, namespace, name) of every role bound to the user (cluster-wide first)."""
        if self._dirty:
            self._rebuild()
        out: list[tuple[str, str, str]] = []
        keys = subject_keys(user)
        for key in keys:
            out.extend(("ClusterRole", "", name) for name in self._crb.get(key, ()))
        if namespace:
            for key in keys:
                for kind, name in self._rb.get((namespace, key), ()):
                    out.append((kind, namespace if kind == "Role" else "", name))
        return out

    def role_rules(self, role: tuple[str, str, str]) -> tuple[Rule, ...] | None:
        if self._dirty:
            self._rebuild()
        return self._rules.get(role)

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        return [r for role in self.bound_roles(user, namespace) for r in self.role_rules(role) or ()]


def _missing(role: tuple[str, str, str]) -> str:
    kind, ns, name = role
    what = f'{kind.lower()}.rbac.authorization.k8s.io "{name}" not found'
    return what if kind == "ClusterRole" else f"{what} in namespace {ns!r}".replace("'", '"')


class RbacAuthorizer:
    def __init__(self, index: PolicyIndex) -> None:
        self.index = index

    def authorize(self, attrs: RequestAttributes) -> tuple[Decision, str]:
        missing = []
        for role in self.index.bound_roles(attrs.user, attrs.namespace if attrs.resource_request else ""):
            rules = self.index.role_rules(role)
            if rules is None:
                missing.append(_missing(role))
                continue
            if any(rule_allows(r, attrs) for r in rules):
                return Decision.ALLOW, ""
        return Decision.NO_OPINION, ("RBAC: [" + ", ".join(missing) + "]" if len(missing) > 1 else
                                     f"RBAC: {missing[0]}" if missing else "")
