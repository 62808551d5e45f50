"""The built-in RBAC policy, reconciled at API server start (Kubernetes' bootstrappolicy).

Contract:
- `cluster_roles()` and `cluster_role_bindings()` are the ClusterRoles/ClusterRoleBindings every
  cluster has, labelled `kubernetes.io/bootstrapping: rbac-defaults` and annotated
  `rbac.authorization.kubernetes.io/autoupdate: "true"`:
  * `cluster-admin` (everything; bound to the group `system:masters`), `system:discovery`,
    `system:basic-user` (bound to `system:authenticated`), `system:public-info-viewer`
    (/healthz, /livez, /readyz, /version: also `system:unauthenticated`);
  * `admin`, `edit`, `view`: aggregated ClusterRoles (aggregationRule on the labels
    `rbac.authorization.k8s.io/aggregate-to-{admin,edit,view}: "true"`) filled from
    `system:aggregate-to-{admin,edit,view}` by the clusterrole aggregation; `edit` is itself
    aggregated into `admin`, and `view` into `edit`, as in Kubernetes;
  * one role per component, bound to the identity it authenticates as:
    `system:kube-scheduler` (+ `system:volume-scheduler`) -> user `system:kube-scheduler`,
    `system:kube-controller-manager` -> user `system:kube-controller-manager`,
    `system:node-proxier` -> user `system:kube-proxy`, `system:kube-dns` -> user
    `system:kube-dns` and ServiceAccount kube-system/kube-dns, kubelite's own daemons
    `system:kubelite-{routeagent,logagent,logstore,dashboard}` -> the users of the same names
    (and the add-ons' ServiceAccounts kube-system/logagent, logstore, kubernetes-dashboard),
    `system:node-bootstrapper` -> kubeadm's join-token group
    `system:bootstrappers:kubeadm:default-node-token` (binding `kubeadm:kubelet-bootstrap`),
    `system:monitoring` -> group `system:monitoring`, `system:kubelet-api-admin` (the whole
    kubelet API; no subjects); `system:node`
    has no subjects: kubelets (`system:node:NAME` in `system:nodes`) are authorized by the
    Node authorizer (apiserver/auth/node.py), which applies `NODE_RULES` and the graph of
    their pods.
- ADD-ONS AND NEW CONTROLLERS: append the rules they need here (a ClusterRole in
  `_addon_roles()` plus its binding in `_addon_bindings()`), as Kubernetes' bootstrappolicy
  does. The controller-manager runs every controller under one identity, so its role is the
  union of Kubernetes' per-controller roles (`--use-service-account-credentials=false`):
  a new controller that writes a new kind adds its verbs to `CONTROLLER_MANAGER_RULES`.
- `wanted_policy()` is all of it as (kind, object), the aggregated roles' rules filled in;
  `merged(current, wanted)` is `current` plus the rules / aggregationRule / subjects of
  `wanted` it lacks, keeping anything extra (Kubernetes' `reconcile` without --remove-extra),
  or None when nothing is missing. The writes at start-up are apiserver/rbac_writes.py's:
  this module is pure data and imports no handler.
"""

from __future__ import annotations

import copy
from typing import Any

from apiserver.auth.aggregation import aggregated_rules

Obj = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = [*READ, *WRITE]


def rule(verbs: list[str] | str, groups: list[str] | str = "", resources: list[str] | str = "*",
         names: list[str] | None = None) -> Obj:
    """A resource PolicyRule (`groups`/`resources` may be one string)."""
    out: Obj = {"verbs": [verbs] if isinstance(verbs, str) else list(verbs),
                "apiGroups": [groups] if isinstance(groups, str) else list(groups),
                "resources": [resources] if isinstance(resources, str) else list(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def url_rule(verbs: list[str] | str, *urls: str) -> Obj:
    return {"verbs": [verbs] if isinstance(verbs, str) else list(verbs), "nonResourceURLs": list(urls)}


EVENTS_RULE = rule(["create", "update", "patch"], ["", "events.k8s.io"], "events")

NODE_RULES: list[Obj] = [
    rule("create", "authentication.k8s.io", "tokenreviews"),
    rule("create", "authorization.k8s.io", ["subjectaccessreviews", "localsubjectaccessreviews"]),
    rule(READ, "", "services"),
    rule(["create", "get", "list", "watch"], "", "nodes"),
    rule(["update", "patch"], "", ["nodes/status", "nodes"]),
    EVENTS_RULE,
    rule(READ, "", "pods"),
    rule(["create", "delete"], "", "pods"),
    rule(["update", "patch"], "", "pods/status"),
    rule("create", "", "pods/eviction"),
    # secrets, configmaps, PVCs, PVs, ServiceAccount tokens and Leases: the Node authorizer
    # allows only those of its own pods / its own Lease (see apiserver/auth/node.py).
    rule("get", "", "endpoints"),
    rule(["create", "get", "list", "watch"], "certificates.k8s.io", "certificatesigningrequests"),
    rule(READ, "node.k8s.io", "runtimeclasses"),
]

CONTROLLER_MANAGER_RULES: list[Obj] = [
    EVENTS_RULE,
    # Informers of every controller, and the garbage collector and namespace controller that
    # update and delete any kind (their Kubernetes roles: */* get list watch patch update
    # delete deletecollection).
    rule([*READ, "patch", "update", "delete", "deletecollection"], "*", "*"),
    rule("create", "", ["pods", "endpoints", "secrets", "serviceaccounts", "serviceaccounts/token", "configmaps",
                        "persistentvolumes", "persistentvolumeclaims", "pods/eviction", "pods/binding", "bindings",
                        "namespaces"]),
    rule("create", "apps", ["replicasets", "controllerrevisions", "deployments", "statefulsets", "daemonsets"]),
    rule("create", "batch", ["jobs"]),
    rule("create", "storage.k8s.io", ["storageclasses"]),  # the volume binder's default class
    rule("create", "coordination.k8s.io", ["leases"]),
    rule("create", "discovery.k8s.io", ["endpointslices"]),
    rule("create", "authentication.k8s.io", "tokenreviews"),
    rule("create", "authorization.k8s.io", "subjectaccessreviews"),
    rule(["create", "approve", "sign"], "certificates.k8s.io",
         ["certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status",
          "signers"]),
]

SCHEDULER_RULES: list[Obj] = [
    EVENTS_RULE,
    rule(["create"], "coordination.k8s.io", "leases"),
    rule(["get", "update", "list", "watch"], "coordination.k8s.io", "leases"),
    rule(READ, "", "nodes"),
    rule([*READ, "delete"], "", "pods"),
    rule("create", "", ["bindings", "pods/binding"]),
    rule(["patch", "update"], "", "pods/status"),
    rule(READ, "", ["replicationcontrollers", "services", "namespaces", "persistentvolumeclaims",
                    "persistentvolumes", "resourcequotas", "limitranges"]),
    rule(READ, "apps", ["replicasets", "statefulsets", "daemonsets", "deployments"]),
    rule(READ, "policy", "poddisruptionbudgets"),
    rule(READ, "storage.k8s.io", ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities"]),
    rule(READ, "scheduling.k8s.io", "priorityclasses"),
    rule("create", "authentication.k8s.io", "tokenreviews"),
    rule("create", "authorization.k8s.io", "subjectaccessreviews"),
]


def _view_rules() -> list[Obj]:
    return [
        rule(READ, "", ["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                        "services", "services/status", "endpoints", "persistentvolumeclaims",
                        "persistentvolumeclaims/status", "configmaps"]),
        rule(READ, "", ["limitranges", "resourcequotas", "bindings", "events", "pods/status",
                        "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log"]),
        rule(READ, "", "namespaces"),
        rule(READ, "discovery.k8s.io", "endpointslices"),
        rule(READ, "apps", ["controllerrevisions", "statefulsets", "statefulsets/scale", "statefulsets/status",
                            "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                            "deployments/status", "replicasets", "replicasets/scale", "replicasets/status"]),
        rule(READ, "autoscaling", ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        rule(READ, "batch", ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        rule(READ, "policy", ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, "networking.k8s.io", ["ingresses", "ingresses/status", "networkpolicies"]),
    ]


def _edit_rules() -> list[Obj]:
    return [
        rule("impersonate", "", "serviceaccounts"),
        rule(WRITE, "", ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
        rule("create", "", "pods/eviction"),
        rule(WRITE, "", ["replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                         "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events"]),
        rule("create", "", "serviceaccounts/token"),
        rule(READ, "", ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
        rule(WRITE, "apps", ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                             "replicasets/scale", "statefulsets", "statefulsets/scale"]),
        rule(WRITE, "autoscaling", "horizontalpodautoscalers"),
        rule(WRITE, "batch", ["cronjobs", "jobs"]),
        rule(WRITE, "policy", "poddisruptionbudgets"),
        rule(WRITE, "networking.k8s.io", ["ingresses", "networkpolicies"]),
        rule(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
             "coordination.k8s.io", "leases"),
    ]


def _admin_rules() -> list[Obj]:
    return [
        rule("create", "authorization.k8s.io", "localsubjectaccessreviews"),
        rule(READ_WRITE, RBAC_GROUP, ["rolebindings", "roles"]),
    ]


def _addon_roles() -> list[tuple[str, list[Obj]]]:
    """Rules of the add-ons (DNS, metrics, logs, dashboard) and other helpers' controllers."""
    return [
        # cluster DNS (addons/dns): CoreDNS' system:coredns reads, plus publishing itself as
        # kube-system/kube-dns (Service + Endpoints, machinery/selfpublish.py)
        ("system:kube-dns", [rule(["list", "watch"], "", ["endpoints", "services"]),
                             rule(["list", "watch"], "discovery.k8s.io", "endpointslices"),
                             rule("create", "", ["services", "endpoints"]),
                             rule(["get", "update"], "", ["services", "endpoints"], names=["kube-dns"])]),
        ("system:kubelite-routeagent", [rule(READ, "", "nodes")]),
        # node log agent (addons/logagent): its node's pods for labels, the store's Endpoints
        ("system:kubelite-logagent", [rule(READ, "", ["pods", "nodes", "namespaces"]), EVENTS_RULE,
                                      rule("get", "", "endpoints", names=["logstore"])]),
        # log store (addons/logstore): publishes kube-system/logstore (Service + Endpoints)
        ("system:kubelite-logstore", [rule(READ, "", ["pods", "namespaces"]),
                                      rule("create", "", ["services", "endpoints"]),
                                      rule(["get", "update"], "", ["services", "endpoints"], names=["logstore"])]),
        # resource metrics add-on (addons/metrics, Kubernetes' system:metrics-server): the nodes and
        # pods it scrapes and labels, the kubelets' stats, and its own kube-system/metrics-server
        ("system:metrics-server", [rule(READ, "", ["pods", "nodes"]), rule("get", "", ["nodes/metrics", "nodes/stats"]),
                                   rule("create", "", ["services", "endpoints"]),
                                   rule(["get", "update", "delete"], "", ["services", "endpoints"],
                                        names=["metrics-server"])]),
        ("system:monitoring", [url_rule("get", "/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz",
                                        "/livez/*", "/readyz/*", "/healthz/*")]),
        # web dashboard (addons/dashboard) running as its own ServiceAccount: view, the two actions
        # it offers (scale a Deployment, delete a pod), log search and charts
        ("system:kubelite-dashboard", [
            *_view_rules(), rule(READ, "", "nodes"), rule(READ, "events.k8s.io", "events"),
            rule(["get", "patch", "update"], "apps", "deployments/scale"), rule("delete", "", "pods"),
            rule("get", "", "services/proxy", names=["logstore:http"]),
            rule(READ, "metrics.k8s.io", ["pods", "nodes", "pods/history", "nodes/history"])]),
    ]


def _addon_bindings() -> list[Obj]:
    return [
        binding("system:kube-dns", users=["system:kube-dns"], sa=("kube-system", "kube-dns")),
        binding("system:kubelite-routeagent", users=["system:kubelite-routeagent"]),
        binding("system:kubelite-logagent", users=["system:kubelite-logagent"], sa=("kube-system", "logagent")),
        binding("system:kubelite-logstore", users=["system:kubelite-logstore"], sa=("kube-system", "logstore")),
        binding("system:kubelite-dashboard", users=["system:kubelite-dashboard"],
                sa=("kube-system", "kubernetes-dashboard")),
        binding("system:monitoring", groups=["system:monitoring"]),
        binding("system:metrics-server", users=["system:metrics-server"], sa=("kube-system", "metrics-server")),
    ]


def _cluster_role(name: str, rules: list[Obj], *, labels: dict[str, str] | None = None,
                  aggregate_from: str | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": {**BOOTSTRAP_LABEL, **(labels or {})},
                 "annotations": {AUTOUPDATE: "true"}}
    out: Obj = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules}
    if aggregate_from is not None:
        out["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + aggregate_from: "true"}}]}
    return out


def cluster_roles() -> list[Obj]:
    roles = [
        _cluster_role("cluster-admin", [rule("*", "*", "*"), url_rule("*", "*")]),
        _cluster_role("system:discovery", [url_rule("get", "/api", "/api/*", "/apis", "/apis/*", "/openapi",
                                                    "/openapi/*", "/version", "/version/")]),
        _cluster_role("system:basic-user", [rule("create", "authorization.k8s.io",
                                                 ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                                            rule("create", "authentication.k8s.io", "selfsubjectreviews")]),
        _cluster_role("system:public-info-viewer", [url_rule("get", "/healthz", "/livez", "/readyz", "/version",
                                                             "/version/")]),
        _cluster_role("admin", [], aggregate_from="admin"),
        _cluster_role("edit", [], labels={AGGREGATE_TO + "admin": "true"}, aggregate_from="edit"),
        _cluster_role("view", [], labels={AGGREGATE_TO + "edit": "true"}, aggregate_from="view"),
        _cluster_role("system:aggregate-to-admin", _admin_rules(), labels={AGGREGATE_TO + "admin": "true"}),
        _cluster_role("system:aggregate-to-edit", _edit_rules(), labels={AGGREGATE_TO + "edit": "true"}),
        _cluster_role("system:aggregate-to-view", _view_rules(), labels={AGGREGATE_TO + "view": "true"}),
        # metrics-server's aggregated reader: kubectl top (and the history) for view, edit and admin
        _cluster_role("system:aggregated-metrics-reader",
                      [rule(READ, "metrics.k8s.io", ["pods", "nodes", "pods/history", "nodes/history"])],
                      labels={AGGREGATE_TO + "view": "true", AGGREGATE_TO + "edit": "true",
                              AGGREGATE_TO + "admin": "true"}),
        _cluster_role("system:node", NODE_RULES),
        _cluster_role("system:node-proxier", [
            rule(["list", "watch"], "", ["services", "endpoints"]),
            rule(READ, "", "nodes"), EVENTS_RULE,
            rule(["list", "watch"], "discovery.k8s.io", "endpointslices"),
            # NetworkPolicy enforcement (proxy/netpol.py) runs in the proxy process
            rule(["list", "watch"], "", ["pods", "namespaces"]),
            rule(["list", "watch"], "networking.k8s.io", "networkpolicies")]),
        _cluster_role("system:kube-controller-manager", CONTROLLER_MANAGER_RULES),
        _cluster_role("system:kube-scheduler", SCHEDULER_RULES),
        _cluster_role("system:volume-scheduler", [
            rule(["get", "list", "patch", "update", "watch"], "", ["persistentvolumes", "persistentvolumeclaims"]),
            rule(READ, "storage.k8s.io", "storageclasses")]),
        _cluster_role("system:auth-delegator", [rule("create", "authentication.k8s.io", "tokenreviews"),
                                                rule("create", "authorization.k8s.io", "subjectaccessreviews")]),
        _cluster_role("system:node-bootstrapper", [
            rule(["create", "get", "list", "watch"], "certificates.k8s.io", "certificatesigningrequests")]),
        # Full access to the kubelet API (kubelet/auth.py asks nodes/proxy|stats|metrics|log by
        # SubjectAccessReview); no subjects by default, as Kubernetes: the API server's
        # kube-apiserver-kubelet-client is in system:masters (machinery/pki.py).
        _cluster_role("system:kubelet-api-admin", [
            rule(READ, "", "nodes"), rule("proxy", "", "nodes"),
            rule("*", "", ["nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log"])]),
    ]
    roles.extend(_cluster_role(name, rules) for name, rules in _addon_roles())
    return roles


def binding(role: str, *, users: list[str] | None = None, groups: list[str] | None = None,
            sa: tuple[str, str] | None = None, name: str | None = None) -> Obj:
    subjects: list[Obj] = [{"kind": "User", "apiGroup": RBAC_GROUP, "name": u} for u in users or []]
    subjects += [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": g} for g in groups or []]
    if sa is not None:
        subjects.append({"kind": "ServiceAccount", "namespace": sa[0], "name": sa[1]})
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name or role, "labels": dict(BOOTSTRAP_LABEL), "annotations": {AUTOUPDATE: "true"}},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role}, "subjects": subjects}


def cluster_role_bindings() -> list[Obj]:
    return [
        binding("cluster-admin", groups=["system:masters"]),
        binding("system:discovery", groups=["system:authenticated"]),
        binding("system:basic-user", groups=["system:authenticated"]),
        binding("system:public-info-viewer", groups=["system:authenticated", "system:unauthenticated"]),
        binding("system:node"),
        binding("system:node-proxier", users=["system:kube-proxy"]),
        binding("system:kube-controller-manager", users=["system:kube-controller-manager"]),
        binding("system:kube-scheduler", users=["system:kube-scheduler"]),
        binding("system:volume-scheduler", users=["system:kube-scheduler"]),
        # kubeadm's kubeadm:kubelet-bootstrap: join tokens may ask for (and read) their CSRs
        binding("system:node-bootstrapper", groups=["system:bootstrappers:kubeadm:default-node-token"],
                name="kubeadm:kubelet-bootstrap"),
        *_addon_bindings(),
    ]


def namespaced_policy() -> list[tuple[str, Obj]]:
    """(kind, object) of the namespaced Roles/RoleBindings: kubeadm's
    `kubeadm:bootstrap-signer-clusterinfo` lets anyone (system:anonymous) read the signed
    cluster-info ConfigMap in kube-public, which token discovery (`kubelite join`) needs."""
    name = "kubeadm:bootstrap-signer-clusterinfo"
    meta = {"name": name, "namespace": "kube-public", "labels": dict(BOOTSTRAP_LABEL),
            "annotations": {AUTOUPDATE: "true"}}
    role = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role", "metadata": meta,
            "rules": [rule("get", "", "configmaps", names=["cluster-info"])]}
    role_binding = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding", "metadata": dict(meta),
                    "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
                    "subjects": [{"kind": "User", "apiGroup": RBAC_GROUP, "name": "system:anonymous"}]}
    return [("Role", role), ("RoleBinding", role_binding)]


def merged(current: Obj, wanted: Obj) -> Obj | None:
    """`current` plus what `wanted` has and it lacks; None when nothing is missing."""
    out = copy.deepcopy(current)
    changed = False
    for field in ("rules", "subjects"):
        if field not in wanted:
            continue
        have = list(out.get(field) or [])
        if "aggregationRule" in wanted and field == "rules":
            continue  # the aggregation owns an aggregated role's rules
        for item in wanted[field]:
            if item not in have:
                have.append(item)
                changed = True
        out[field] = have
    if "aggregationRule" in wanted and out.get("aggregationRule") != wanted["aggregationRule"]:
        out["aggregationRule"] = wanted["aggregationRule"]
        changed = True
    return out if changed else None


def _with_aggregation(roles: list[Obj]) -> list[Obj]:
    """The bootstrap roles with aggregated rules filled in (view, then edit, then admin), so
    a fresh cluster's admin/edit/view are complete in the first write."""
    out = [copy.deepcopy(r) for r in roles]
    for _ in range(3):  # chains are at most view -> edit -> admin
        for role in out:
            rules = aggregated_rules(role, out)
            if rules is not None:
                role["rules"] = rules
    return out


def wanted_policy() -> list[tuple[str, Obj]]:
    """(kind, object) of every bootstrap object, in the order they are reconciled."""
    wanted_all = [("ClusterRole", r) for r in _with_aggregation(cluster_roles())]
    wanted_all += [("ClusterRoleBinding", b) for b in cluster_role_bindings()]
    wanted_all += namespaced_policy()
    return wanted_all
