"""Benchmark: the cost of one authorization decision, RBAC + Node vs AlwaysAllow, in one run.

What it prints: microseconds per request for `Authorization.check(scope)` (what the API server
runs for every authenticated request: attributes from the path, the union of authorizers,
NodeRestriction) with `--authorization-mode AlwaysAllow` and with `Node,RBAC` over the
bootstrap policy plus N namespaces each holding a Role and two RoleBindings (a user and a
ServiceAccount) and N pods bound to 10 nodes, for the identities a cluster serves: a
ServiceAccount listing pods in its namespace, a user denied elsewhere (403 built), the
controller-manager and scheduler (cluster bindings), a kubelet reading a secret of its pod
(node graph), and system:masters (bypass). The ratio is RBAC/AlwaysAllow.

    .venv/bin/python bench/authz.py            # N = 2,000
    .venv/bin/python bench/authz.py --quick    # N = 200
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apiserver.auth import bootstrappolicy  # noqa: E402
from apiserver.auth.authz_runtime import Authorization  # noqa: E402
from apiserver.auth.user import SCOPE_KEY, UserInfo  # noqa: E402

RBAC = "rbac.authorization.k8s.io"


def populate(authz: Authorization, n: int) -> None:
    authz.index.reset("ClusterRole", bootstrappolicy.cluster_roles())
    authz.index.reset("ClusterRoleBinding", bootstrappolicy.cluster_role_bindings())
    roles, bindings = [], []
    for i in range(n):
        ns = f"ns{i}"
        roles.append({"metadata": {"name": "reader", "namespace": ns}, "rules": [
            {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "configmaps"]}]})
        ref = {"apiGroup": RBAC, "kind": "Role", "name": "reader"}
        bindings.append({"metadata": {"name": "u", "namespace": ns}, "roleRef": ref,
                         "subjects": [{"kind": "User", "apiGroup": RBAC, "name": f"user{i}"}]})
        bindings.append({"metadata": {"name": "sa", "namespace": ns}, "roleRef": ref,
                         "subjects": [{"kind": "ServiceAccount", "name": "app"}]})
    authz.index.reset("Role", roles)
    authz.index.reset("RoleBinding", bindings)
    authz.graph.reset_pods([{"metadata": {"name": f"p{i}", "namespace": f"ns{i}"},
                             "spec": {"nodeName": f"n{i % 10}", "containers": [],
                                      "volumes": [{"name": "s", "secret": {"secretName": f"s{i}"}}]}}
                            for i in range(n)])
    for e in authz._synced:
        e.set()


def scope(user: UserInfo, method: str, path: str, query: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query.encode(), SCOPE_KEY: user}


def cases(n: int) -> dict[str, dict[str, Any]]:
    i = n // 2
    return {
        "serviceaccount list pods (allowed)": scope(
            UserInfo(f"system:serviceaccount:ns{i}:app", groups=("system:serviceaccounts", "system:authenticated")),
            "GET", f"/api/v1/namespaces/ns{i}/pods"),
        "user list pods elsewhere (403)": scope(UserInfo(f"user{i}", groups=("system:authenticated",)),
                                                "GET", f"/api/v1/namespaces/ns{i + 1}/pods"),
        "controller-manager update rs": scope(UserInfo("system:kube-controller-manager", groups=("system:authenticated",)),
                                              "PUT", f"/apis/apps/v1/namespaces/ns{i}/replicasets/r/status"),
        "scheduler bind pod": scope(UserInfo("system:kube-scheduler", groups=("system:authenticated",)),
                                    "POST", f"/api/v1/namespaces/ns{i}/pods/p{i}/binding"),
        "kubelet get its pod's secret": scope(UserInfo(f"system:node:n{i % 10}", groups=("system:nodes", "system:authenticated")),
                                              "GET", f"/api/v1/namespaces/ns{i}/secrets/s{i}"),
        "kubelet patch own pod status": scope(UserInfo(f"system:node:n{i % 10}", groups=("system:nodes", "system:authenticated")),
                                              "PATCH", f"/api/v1/namespaces/ns{i}/pods/p{i}/status"),
        "system:masters delete node": scope(UserInfo("admin", groups=("system:masters", "system:authenticated")),
                                            "DELETE", "/api/v1/nodes/n1"),
    }


async def per_call_us(authz: Authorization, sc: dict[str, Any], count: int) -> float:
    for _ in range(100):
        await authz.check(dict(sc))
    t0 = time.perf_counter()
    for _ in range(count):
        await authz.check(dict(sc))
    return (time.perf_counter() - t0) / count * 1e6


async def main(n: int, count: int) -> None:
    allow = Authorization(["AlwaysAllow"])
    rbac = Authorization(["Node", "RBAC"])
    populate(rbac, n)
    print(f"authorization decision per request, {n} namespaces x (1 Role, 2 RoleBindings), {n} pods on 10 nodes, "
          f"bootstrap policy; {count} calls each")
    print(f"{'request':<36} {'Node,RBAC us':>13} {'AlwaysAllow us':>15} {'ratio':>8}")
    for name, sc in cases(n).items():
        r = await per_call_us(rbac, sc, count)
        a = await per_call_us(allow, sc, count)
        print(f"{name:<36} {r:>13.1f} {a:>15.1f} {r / a:>7.2f}x")
    t0 = time.perf_counter()
    rbac.index.apply("RoleBinding", "ADDED", {"metadata": {"name": "late", "namespace": "ns0"},
                                              "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "reader"},
                                              "subjects": [{"kind": "User", "name": "late"}]})
    await rbac.check(scope(UserInfo("late"), "GET", "/api/v1/namespaces/ns0/pods"))
    print(f"first decision after a binding change (index rebuild over {3 * n} objects): "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    asyncio.run(main(200 if args.quick else 2000, 2000 if args.quick else 20000))
