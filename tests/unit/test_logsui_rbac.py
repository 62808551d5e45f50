"""The bootstrap policy's roles for the logging and dashboard add-ons, checked with the RBAC
authorizer on real request attributes (what each add-on's requests need, and no more)."""

from __future__ import annotations

import pytest

from apiserver.auth import bootstrappolicy
from apiserver.auth.authz import request_attributes
from apiserver.auth.rbac import PolicyIndex, RbacAuthorizer
from apiserver.auth.user import UserInfo
from machinery.logwire import LOGSTORE_PROXY


def _authorizer() -> RbacAuthorizer:
    index = PolicyIndex()
    index.reset("ClusterRole", bootstrappolicy.cluster_roles())
    index.reset("ClusterRoleBinding", bootstrappolicy.cluster_role_bindings())
    return RbacAuthorizer(index)


def _sa(name: str) -> UserInfo:
    return UserInfo(f"system:serviceaccount:kube-system:{name}",
                    groups=("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"))


@pytest.mark.parametrize(("sa", "method", "path", "allowed"), [
    ("logagent", "GET", "/api/v1/pods", True),
    ("logagent", "GET", "/api/v1/namespaces/kube-system/endpoints/logstore", True),
    ("logagent", "GET", "/api/v1/namespaces/kube-system/secrets", False),
    ("logagent", "DELETE", "/api/v1/namespaces/default/pods/web-1", False),
    ("logstore", "POST", "/api/v1/namespaces/kube-system/services", True),
    ("logstore", "PUT", "/api/v1/namespaces/kube-system/endpoints/logstore", True),
    ("logstore", "PUT", "/api/v1/namespaces/kube-system/endpoints/kube-dns", False),
    ("kubernetes-dashboard", "GET", "/apis/apps/v1/deployments", True),
    ("kubernetes-dashboard", "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", True),
    ("kubernetes-dashboard", "DELETE", "/api/v1/namespaces/default/pods/web-1", True),
    ("kubernetes-dashboard", "GET", LOGSTORE_PROXY + "/v1/search", True),
    ("kubernetes-dashboard", "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-1", True),
    ("kubernetes-dashboard", "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-1/history", True),
    ("kubernetes-dashboard", "POST", "/api/v1/namespaces/default/pods", False),
    ("kubernetes-dashboard", "GET", "/api/v1/namespaces/default/secrets", False),
])
def test_addon_roles(sa: str, method: str, path: str, allowed: bool) -> None:
    decision, _ = _authorizer().authorize(request_attributes(_sa(sa), method, path))
    assert (decision.name == "ALLOW") is allowed
