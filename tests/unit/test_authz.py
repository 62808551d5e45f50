"""Authorization without daemons: request attributes, the 403 wording, RBAC rules and index,
the Node authorizer and NodeRestriction, aggregation and the bootstrap policy."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.admission import validation
from apiserver.auth import bootstrappolicy
from apiserver.auth.aggregation import aggregated_rules
from apiserver.auth.authz import AlwaysAllow, Decision, Union, forbidden, request_attributes
from apiserver.auth.node import NodeAuthorizer, NodeGraph, admit_node_create, node_restriction
from apiserver.auth.rbac import PolicyIndex, RbacAuthorizer, Rule, rule_allows
from apiserver.auth.user import RequestAttributes, UserInfo
from machinery import registry
from machinery.defaults import apply_defaults

ALICE = UserInfo("alice", groups=("devs", "system:authenticated"))
NODE1 = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))


def attrs(method: str, path: str, query: str = "", user: UserInfo = ALICE) -> RequestAttributes:
    return request_attributes(user, method, path, query)


@pytest.mark.parametrize(("method", "path", "query", "want"), [
    ("GET", "/api/v1/namespaces/ns/pods", "", ("list", "", "pods", "", "ns", "")),
    ("GET", "/api/v1/namespaces/ns/pods", "watch=true", ("watch", "", "pods", "", "ns", "")),
    ("GET", "/api/v1/watch/namespaces/ns/pods/p", "", ("watch", "", "pods", "", "ns", "p")),
    ("GET", "/api/v1/pods", "fieldSelector=metadata.name%3Dp", ("list", "", "pods", "", "", "p")),
    ("GET", "/api/v1/namespaces/ns/pods/p/log", "", ("get", "", "pods", "log", "ns", "p")),
    ("POST", "/api/v1/namespaces/ns/pods", "", ("create", "", "pods", "", "ns", "")),
    ("PATCH", "/api/v1/nodes/n2/status", "", ("patch", "", "nodes", "status", "", "n2")),
    ("DELETE", "/apis/apps/v1/namespaces/ns/deployments", "", ("deletecollection", "apps", "deployments", "", "ns", "")),
    ("PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", "", ("update", "apps", "deployments", "scale", "ns", "d")),
    ("GET", "/api/v1/namespaces/ns", "", ("get", "", "namespaces", "", "ns", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", "", ("update", "", "namespaces", "finalize", "ns", "ns")),
    ("POST", "/api/v1/namespaces/ns/bindings", "", ("create", "", "bindings", "", "ns", "")),
])
def test_resource_attributes(method: str, path: str, query: str, want: tuple[str, ...]) -> None:
    a = attrs(method, path, query)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == want


@pytest.mark.parametrize("path", ["/healthz", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/version",
                                  "/openapi/v3"])
def test_non_resource_attributes(path: str) -> None:
    a = attrs("GET", path)
    assert not a.resource_request
    assert (a.verb, a.path) == ("get", path)


def test_forbidden_wording_is_kubernetes() -> None:
    err = forbidden(attrs("GET", "/api/v1/namespaces/ns/pods"))
    assert err.code == 403
    assert err.message == 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "ns"'
    err = forbidden(attrs("PATCH", "/api/v1/nodes/n2"), "because")
    assert err.message == ('nodes "n2" is forbidden: User "alice" cannot patch resource "nodes" in API group "" '
                           "at the cluster scope: because")
    assert err.to_status()["details"] == {"name": "n2", "kind": "nodes"}
    err = forbidden(attrs("GET", "/apis/apps/v1/namespaces/ns/deployments/d/scale"))
    assert err.message.startswith('deployments.apps "d" is forbidden: User "alice" cannot get resource '
                                  '"deployments/scale" in API group "apps" in the namespace "ns"')
    assert forbidden(attrs("GET", "/metrics")).message == 'forbidden: User "alice" cannot get path "/metrics"'


def _rule(**kw: Any) -> Rule:
    return Rule.of(kw)


def test_rule_matching() -> None:
    pods = _rule(verbs=["get", "list"], apiGroups=[""], resources=["pods"])
    assert rule_allows(pods, attrs("GET", "/api/v1/namespaces/ns/pods"))
    assert not rule_allows(pods, attrs("POST", "/api/v1/namespaces/ns/pods"))
    assert not rule_allows(pods, attrs("GET", "/api/v1/namespaces/ns/pods/p/log"))  # subresource needs pods/log
    assert not rule_allows(pods, attrs("GET", "/apis/apps/v1/namespaces/ns/deployments"))
    assert rule_allows(_rule(verbs=["get"], apiGroups=[""], resources=["pods/log"]),
                       attrs("GET", "/api/v1/namespaces/ns/pods/p/log"))
    scale = _rule(verbs=["*"], apiGroups=["*"], resources=["*/scale"])
    assert rule_allows(scale, attrs("PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale"))
    assert not rule_allows(scale, attrs("PUT", "/apis/apps/v1/namespaces/ns/deployments/d"))
    named = _rule(verbs=["get"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"])
    assert rule_allows(named, attrs("GET", "/api/v1/namespaces/ns/configmaps/a"))
    assert not rule_allows(named, attrs("GET", "/api/v1/namespaces/ns/configmaps/b"))
    assert not rule_allows(named, attrs("GET", "/api/v1/namespaces/ns/configmaps"))  # a list names nothing
    urls = _rule(verbs=["get"], nonResourceURLs=["/healthz", "/apis/*"])
    assert rule_allows(urls, attrs("GET", "/healthz"))
    assert rule_allows(urls, attrs("GET", "/apis/apps"))
    assert not rule_allows(urls, attrs("GET", "/version"))
    assert not rule_allows(urls, attrs("POST", "/healthz"))


def _obj(kind: str, name: str, ns: str = "", **body: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"kind": kind, "metadata": meta, **body}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


def test_rbac_role_binding_allows_only_in_its_namespace() -> None:
    index = PolicyIndex()
    index.apply("Role", "ADDED", _obj("Role", "reader", "ns", rules=[
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]))
    index.apply("RoleBinding", "ADDED", _obj("RoleBinding", "rb", "ns", roleRef=_ref("Role", "reader"),
                                             subjects=[{"kind": "ServiceAccount", "name": "app"}]))
    rbac = RbacAuthorizer(index)
    sa = UserInfo("system:serviceaccount:ns:app", groups=("system:serviceaccounts",))
    assert rbac.authorize(attrs("GET", "/api/v1/namespaces/ns/pods", user=sa))[0] is Decision.ALLOW
    assert rbac.authorize(attrs("GET", "/api/v1/namespaces/other/pods", user=sa))[0] is Decision.NO_OPINION
    assert rbac.authorize(attrs("GET", "/api/v1/pods", user=sa))[0] is Decision.NO_OPINION
    assert rbac.authorize(attrs("DELETE", "/api/v1/namespaces/ns/pods/p", user=sa))[0] is Decision.NO_OPINION
    index.apply("RoleBinding", "DELETED", _obj("RoleBinding", "rb", "ns"))
    assert rbac.authorize(attrs("GET", "/api/v1/namespaces/ns/pods", user=sa))[0] is Decision.NO_OPINION


def test_rbac_cluster_bindings_by_group_and_missing_roles() -> None:
    index = PolicyIndex()
    index.apply("ClusterRole", "ADDED", _obj("ClusterRole", "view", rules=[
        {"verbs": ["get", "list", "watch"], "apiGroups": ["apps"], "resources": ["deployments"]}]))
    index.apply("ClusterRoleBinding", "ADDED", _obj("ClusterRoleBinding", "devs-view", roleRef=_ref("ClusterRole", "view"),
                                                    subjects=[{"kind": "Group", "name": "devs"}]))
    index.apply("RoleBinding", "ADDED", _obj("RoleBinding", "gone", "ns", roleRef=_ref("ClusterRole", "ghost"),
                                             subjects=[{"kind": "User", "name": "alice"}]))
    rbac = RbacAuthorizer(index)
    assert rbac.authorize(attrs("GET", "/apis/apps/v1/deployments"))[0] is Decision.ALLOW
    decision, reason = rbac.authorize(attrs("POST", "/api/v1/namespaces/ns/pods"))
    assert decision is Decision.NO_OPINION
    assert reason == 'RBAC: clusterrole.rbac.authorization.k8s.io "ghost" not found'


def test_union_masters_bypass_and_order() -> None:
    index = PolicyIndex()
    union = Union([RbacAuthorizer(index)])
    root = UserInfo("admin", groups=("system:masters",))
    assert union.authorize(attrs("DELETE", "/api/v1/nodes/n1", user=root))[0] is Decision.ALLOW
    assert union.authorize(attrs("DELETE", "/api/v1/nodes/n1"))[0] is Decision.NO_OPINION
    assert Union([RbacAuthorizer(index), AlwaysAllow()]).authorize(attrs("GET", "/x"))[0] is Decision.ALLOW


def _pod(name: str, node: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"nodeName": node, "containers": [], **spec}}


def test_node_authorizer_reads_only_what_its_pods_use() -> None:
    graph = NodeGraph()
    graph.apply_pod("ADDED", _pod("a", "n1", volumes=[{"name": "v", "secret": {"secretName": "s1"}}],
                                  containers=[{"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}}]}]))
    graph.apply_pod("ADDED", _pod("b", "n2", volumes=[{"name": "v", "secret": {"secretName": "s2"}}]))
    node = NodeAuthorizer(graph)
    assert node.authorize(attrs("GET", "/api/v1/namespaces/ns/secrets/s1", user=NODE1))[0] is Decision.ALLOW
    assert node.authorize(attrs("GET", "/api/v1/namespaces/ns/configmaps/cm", user=NODE1))[0] is Decision.ALLOW
    decision, reason = node.authorize(attrs("GET", "/api/v1/namespaces/ns/secrets/s2", user=NODE1))
    assert decision is Decision.NO_OPINION
    assert reason == "no relationship found between node 'n1' and this object"
    assert node.authorize(attrs("GET", "/api/v1/namespaces/ns/secrets", user=NODE1))[0] is Decision.NO_OPINION
    graph.apply_pod("DELETED", _pod("a", "n1"))
    assert node.authorize(attrs("GET", "/api/v1/namespaces/ns/secrets/s1", user=NODE1))[0] is Decision.NO_OPINION
    # Not a node: no opinion at all.
    assert node.authorize(attrs("GET", "/api/v1/namespaces/ns/secrets/s2"))[0] is Decision.NO_OPINION


def test_node_lease_and_rules_and_restriction() -> None:
    graph = NodeGraph()
    graph.apply_pod("ADDED", _pod("mine", "n1"))
    graph.apply_pod("ADDED", _pod("theirs", "n2"))
    node = NodeAuthorizer(graph)
    lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
    assert node.authorize(attrs("PUT", lease + "n1", user=NODE1))[0] is Decision.ALLOW
    assert node.authorize(attrs("PUT", lease + "n2", user=NODE1))[0] is Decision.NO_OPINION
    assert node.authorize(attrs("PATCH", "/api/v1/nodes/n1/status", user=NODE1))[0] is Decision.ALLOW
    assert node.authorize(attrs("GET", "/api/v1/pods", "fieldSelector=spec.nodeName%3Dn1", user=NODE1))[0] \
        is Decision.ALLOW
    assert node.authorize(attrs("POST", "/apis/apps/v1/namespaces/ns/deployments", user=NODE1))[0] \
        is Decision.NO_OPINION
    other = node_restriction(attrs("PATCH", "/api/v1/nodes/n2", user=NODE1), graph)
    assert other is not None
    assert other.message == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
    assert node_restriction(attrs("PATCH", "/api/v1/nodes/n1/status", user=NODE1), graph) is None
    assert node_restriction(attrs("PATCH", "/api/v1/namespaces/ns/pods/mine/status", user=NODE1), graph) is None
    assert node_restriction(attrs("PATCH", "/api/v1/namespaces/ns/pods/theirs/status", user=NODE1), graph) is not None
    assert node_restriction(attrs("DELETE", "/api/v1/namespaces/ns/pods/theirs", user=NODE1), graph) is not None
    assert admit_node_create(NODE1, "Node", "n2", {}) is not None
    assert admit_node_create(NODE1, "Node", "n1", {}) is None
    assert admit_node_create(NODE1, "Pod", "p", {"spec": {"nodeName": "n1"}}) is not None
    assert admit_node_create(ALICE, "Node", "n2", {}) is None


def test_aggregation_unions_matching_roles() -> None:
    agg = {"metadata": {"name": "admin"}, "aggregationRule": {"clusterRoleSelectors": [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]}}
    r1 = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
    r2 = {"verbs": ["create"], "apiGroups": [""], "resources": ["pods"]}
    roles: list[dict[str, Any]] = [agg,
             {"metadata": {"name": "a", "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
              "rules": [r1]},
             {"metadata": {"name": "b", "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
              "rules": [r1, r2]},
             {"metadata": {"name": "c"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}]
    assert aggregated_rules(agg, roles) == [r1, r2]
    assert aggregated_rules(roles[1], roles) is None


def test_bootstrap_policy_is_valid() -> None:
    namespaced = [obj for _, obj in bootstrappolicy.namespaced_policy()]
    for obj in [*bootstrappolicy.cluster_roles(), *bootstrappolicy.cluster_role_bindings(), *namespaced]:
        cls = registry.model_for(obj)
        model = apply_defaults(cls.from_dict(obj))
        assert validation.validate(model) == [], obj["metadata"]["name"]


def test_bootstrap_roles_grant_components_what_kubernetes_does() -> None:
    index = PolicyIndex()
    index.reset("ClusterRole", bootstrappolicy.cluster_roles())
    index.reset("ClusterRoleBinding", bootstrappolicy.cluster_role_bindings())
    rbac = RbacAuthorizer(index)
    scheduler = UserInfo("system:kube-scheduler", groups=("system:authenticated",))
    assert rbac.authorize(attrs("POST", "/api/v1/namespaces/ns/pods/p/binding", user=scheduler))[0] is Decision.ALLOW
    assert rbac.authorize(attrs("DELETE", "/api/v1/nodes/n1", user=scheduler))[0] is Decision.NO_OPINION
    anyone = UserInfo("bob", groups=("system:authenticated",))
    assert rbac.authorize(attrs("GET", "/apis/apps/v1", user=anyone))[0] is Decision.ALLOW
    assert rbac.authorize(attrs("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", user=anyone))[0] \
        is Decision.ALLOW
    assert rbac.authorize(attrs("GET", "/api/v1/namespaces/ns/pods", user=anyone))[0] is Decision.NO_OPINION
    for kind, obj in bootstrappolicy.namespaced_policy():
        index.apply(kind, "ADDED", obj)
    anonymous = UserInfo("system:anonymous", groups=("system:unauthenticated",))
    info = "/api/v1/namespaces/kube-public/configmaps/"
    assert rbac.authorize(attrs("GET", info + "cluster-info", user=anonymous))[0] is Decision.ALLOW
    assert rbac.authorize(attrs("GET", info + "other", user=anonymous))[0] is Decision.NO_OPINION
    assert rbac.authorize(attrs("GET", "/healthz", user=anonymous))[0] is Decision.ALLOW
    proxy = UserInfo("system:kube-proxy", groups=("system:authenticated",))
    assert rbac.authorize(attrs("GET", "/api/v1/services", "watch=1", user=proxy))[0] is Decision.ALLOW
    assert rbac.authorize(attrs("POST", "/api/v1/namespaces/ns/services", user=proxy))[0] is Decision.NO_OPINION
