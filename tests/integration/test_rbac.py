"""RBAC on a real API server and etcd (`--authorization-mode Node,RBAC`): the bootstrap policy
is reconciled at start, aggregated ClusterRoles are filled and follow new labelled roles, and
SubjectAccessReviews answer from the watch-fed caches as bindings, roles and pods change
(RBAC for users and ServiceAccounts, the Node authorizer for kubelets)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdProcess

SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


@pytest.fixture(scope="module")
def rbac_server() -> Iterator[ApiServerProcess]:
    with EtcdProcess(name="kubelite-rbac") as etcd:
        server = ApiServerProcess(etcd.url, extra_args=("--authorization-mode", "Node,RBAC"))
        try:
            server.start()
            yield server
        finally:
            server.cleanup()


@pytest.fixture
def http(rbac_server: ApiServerProcess) -> Iterator[httpx.Client]:
    with rbac_server.http_sync(timeout=20.0) as client:
        yield client


def review(http: httpx.Client, user: str, groups: list[str], **res: str) -> dict[str, Any]:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": res}}
    r = http.post(SAR, json=body)
    assert r.status_code == 201, r.text
    status: dict[str, Any] = r.json()["status"]
    return status


def eventually(check: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_bootstrap_policy_and_aggregation(http: httpx.Client) -> None:
    names = {o["metadata"]["name"] for o in http.get("/apis/rbac.authorization.k8s.io/v1/clusterroles").json()["items"]}
    assert {"cluster-admin", "admin", "edit", "view", "system:kube-scheduler", "system:kube-controller-manager",
            "system:node", "system:node-proxier", "system:discovery", "system:basic-user",
            "system:public-info-viewer", "system:kube-dns"} <= names
    crbs = http.get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cluster-admin").json()
    assert crbs["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters"}]

    def view_rules() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = http.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/view").json().get(
            "rules") or []
        return out

    def admin_rules() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = http.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/admin").json().get(
            "rules") or []
        return out

    eventually(lambda: any("rolebindings" in r.get("resources", []) for r in admin_rules()))
    eventually(lambda: any("pods/log" in r.get("resources", []) for r in admin_rules()))  # view -> edit -> admin
    extra = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}
    r = http.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", json={
        "metadata": {"name": "widget-viewer", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [extra]})
    assert r.status_code == 201, r.text
    eventually(lambda: extra in view_rules())
    eventually(lambda: extra in admin_rules())


def test_role_binding_grants_only_its_namespace(http: httpx.Client) -> None:
    for ns in ("team-a", "team-b"):
        assert http.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code in (201, 409)
    sa = "system:serviceaccount:team-a:app"
    sa_groups = ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"]
    assert review(http, sa, sa_groups, namespace="team-a", verb="list", resource="pods")["allowed"] is False
    r = http.post("/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles", json={
        "metadata": {"name": "pod-reader"},
        "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]}]})
    assert r.status_code == 201, r.text
    r = http.post("/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", json={
        "metadata": {"name": "app-reads-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app"}]})
    assert r.status_code == 201, r.text
    eventually(lambda: review(http, sa, sa_groups, namespace="team-a", verb="list", resource="pods")["allowed"])
    assert review(http, sa, sa_groups, namespace="team-b", verb="list", resource="pods")["allowed"] is False
    assert review(http, sa, sa_groups, namespace="team-a", verb="delete", resource="pods", name="x")["allowed"] is False
    assert review(http, sa, sa_groups, verb="list", resource="pods")["allowed"] is False  # all namespaces
    assert review(http, "root", ["system:masters"], verb="delete", resource="nodes", name="n")["allowed"] is True
    # roleRef is immutable, as Kubernetes.
    r = http.patch("/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/app-reads-pods",
                   json={"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}},
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422, r.text
    assert "cannot change roleRef" in r.json()["message"]
    http.delete("/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/app-reads-pods")
    eventually(lambda: not review(http, sa, sa_groups, namespace="team-a", verb="list", resource="pods")["allowed"])


def test_node_authorizer_follows_pods(http: httpx.Client) -> None:
    assert http.post("/api/v1/namespaces", json={"metadata": {"name": "node-graph"}}).status_code in (201, 409)
    node, groups = "system:node:n1", ["system:nodes", "system:authenticated"]
    status = review(http, node, groups, namespace="node-graph", verb="get", resource="secrets", name="s1")
    assert status["allowed"] is False
    assert status["reason"] == "no relationship found between node 'n1' and this object"
    r = http.post("/api/v1/namespaces/node-graph/pods", json={"metadata": {"name": "p"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "kubelite/busybox:latest"}],
        "volumes": [{"name": "s", "secret": {"secretName": "s1"}}]}})
    assert r.status_code == 201, r.text
    eventually(lambda: review(http, node, groups, namespace="node-graph", verb="get", resource="secrets",
                              name="s1")["allowed"])
    other = ["system:nodes", "system:authenticated"]
    assert review(http, "system:node:n2", other, namespace="node-graph", verb="get", resource="secrets",
                  name="s1")["allowed"] is False
    assert review(http, node, groups, verb="patch", resource="nodes", subresource="status", name="n1")["allowed"]


def test_review_validation(http: httpx.Client) -> None:
    r = http.post(SAR, json={"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                             "spec": {"user": "u"}})
    assert r.status_code == 422, r.text
    assert "exactly one of nonResourceAttributes or resourceAttributes" in r.json()["message"]
    r = http.post(SAR, json={"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                             "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}})
    assert r.status_code == 422, r.text
    r = http.post(SAR, json={"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
        "user": "anyone", "groups": ["system:unauthenticated"],
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"}}})
    assert r.json()["status"]["allowed"] is True
    groups = http.get("/apis").json()["groups"]
    assert "authorization.k8s.io" in {g["name"] for g in groups}
    resources = http.get("/apis/authorization.k8s.io/v1").json()["resources"]
    assert {r["name"]: r["verbs"] for r in resources}["selfsubjectaccessreviews"] == ["create"]


def test_can_i_with_real_kubectl_and_kubelite(rbac_server: ApiServerProcess) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    kubectl = [str(root / ".venv" / "bin" / "kubectl"), "--kubeconfig", rbac_server.kubeconfig]
    kubelite = [sys.executable, "-m", "cli.main", "--kubeconfig", rbac_server.kubeconfig]
    for cmd in (kubectl, kubelite):
        r = subprocess.run([*cmd, "auth", "can-i", "create", "deployments.apps", "-n", "team-a"],
                           capture_output=True, text=True, timeout=60, cwd=root)
        assert (r.returncode, r.stdout.strip()) == (0, "yes"), r.stderr
        r = subprocess.run([*cmd, "auth", "can-i", "get", "/healthz"], capture_output=True, text=True, timeout=60,
                           cwd=root)
        assert (r.returncode, r.stdout.strip()) == (0, "yes"), r.stderr


def test_impersonation_with_real_kubectl(rbac_server: ApiServerProcess) -> None:
    """`kubectl --as`: the admin acts as alice (allowed: system:masters may impersonate anyone)
    and gets alice's rights; alice herself may not impersonate bob (403 worded as Kubernetes);
    a ServiceAccount gets its groups; groups without a user are a 400."""
    import json
    import subprocess
    from pathlib import Path

    from machinery.pki import write_pair
    from tests.support import session_pki, write_test_kubeconfig

    root = Path(__file__).resolve().parents[2]
    pki = session_pki()
    write_pair(pki.dir, "user-alice", pki.ca().issue("alice", ["devs"]))
    alice_kc = rbac_server.dir / "kubeconfig-alice"
    write_test_kubeconfig(alice_kc, rbac_server.url, user="user-alice")

    def kubectl(*args: str, kubeconfig: str = rbac_server.kubeconfig) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(root / ".venv" / "bin" / "kubectl"), "--kubeconfig", kubeconfig, *args],
                              capture_output=True, text=True, timeout=60, cwd=root)

    assert kubectl("create", "namespace", "imp").returncode == 0
    assert kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", "imp").returncode == 0
    assert kubectl("create", "rolebinding", "alice-reads", "--role=pod-reader", "--user=alice",
                   "-n", "imp").returncode == 0

    def can_i(*args: str) -> str:
        return kubectl("auth", "can-i", *args).stdout.strip()

    eventually(lambda: can_i("list", "pods", "-n", "imp", "--as", "alice") == "yes")
    assert can_i("delete", "pods", "-n", "imp", "--as", "alice") == "no"
    got = kubectl("get", "pods", "-n", "imp", "--as", "alice")
    assert got.returncode == 0, got.stderr
    denied = kubectl("get", "secrets", "-n", "imp", "--as", "alice")
    assert denied.returncode == 1
    assert denied.stderr.strip() == ('Error from server (Forbidden): secrets is forbidden: User "alice" cannot list '
                                     'resource "secrets" in API group "" in the namespace "imp"')
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json", "--as", "alice", "--as-group", "devs").stdout)
    assert whoami["status"]["userInfo"] == {"username": "alice", "groups": ["devs", "system:authenticated"]}

    refused = kubectl("get", "pods", "-n", "imp", "--as", "bob", kubeconfig=str(alice_kc))
    assert refused.returncode == 1
    assert refused.stderr.strip() == ('Error from server (Forbidden): users "bob" is forbidden: User "alice" cannot '
                                      'impersonate resource "users" in API group "" at the cluster scope')
    assert kubectl("get", "pods", "-n", "imp", kubeconfig=str(alice_kc)).returncode == 0  # her own rights

    sa = json.loads(kubectl("auth", "whoami", "-o", "json", "--as", "system:serviceaccount:imp:robot").stdout)
    assert sa["status"]["userInfo"]["groups"] == ["system:serviceaccounts", "system:serviceaccounts:imp",
                                                  "system:authenticated"]
    with rbac_server.http_sync(timeout=20.0) as http:
        r = http.get("/api/v1/namespaces/imp/pods", headers={"Impersonate-Group": "devs"})
        assert r.status_code == 400 and "without impersonating a user" in r.json()["message"]
