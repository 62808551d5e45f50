"""ResourceQuota arithmetic (machinery/quota.py): usage, scopes, recount, exceeded, formatting."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from machinery import quota

Obj = dict[str, Any]


def _pod(resources: Obj | None = None, **spec: Any) -> Obj:
    c: Obj = {"name": "c", "image": "x"}
    if resources is not None:
        c["resources"] = resources
    return {"metadata": {"name": "p"}, "spec": {"containers": [c], **spec}, "status": {"phase": "Pending"}}


def _quota(hard: dict[str, str], scopes: list[str] | None = None) -> Obj:
    spec: Obj = {"hard": hard}
    if scopes:
        spec["scopes"] = scopes
    return {"metadata": {"name": "q"}, "spec": spec}


def test_pod_usage_counts_and_compute() -> None:
    use = quota.usage("pods", "", _pod({"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1"}}))
    assert use == {"count/pods": 1, "pods": 1, "requests.cpu": Decimal("0.250"), "cpu": Decimal("0.250"),
                   "requests.memory": 64 * 2**20, "memory": 64 * 2**20, "limits.cpu": 1}
    done = _pod()
    done["status"]["phase"] = "Succeeded"
    assert quota.usage("pods", "", done) == {}


def test_object_counts() -> None:
    assert quota.usage("configmaps", "", {}) == {"count/configmaps": 1, "configmaps": 1}
    assert quota.usage("deployments", "apps", {}) == {"count/deployments.apps": 1}
    svc = {"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}}
    assert quota.usage("services", "", svc)["services.nodeports"] == 2


def test_scopes_select_pods() -> None:
    best_effort, burstable = _pod(), _pod({"requests": {"cpu": "1"}})
    terminating = _pod(activeDeadlineSeconds=30)
    q = _quota({"pods": "1"}, ["BestEffort"])
    assert quota.matches(q, "pods", best_effort) and not quota.matches(q, "pods", burstable)
    assert not quota.matches(q, "configmaps", {})
    assert quota.matches(_quota({"pods": "1"}, ["NotBestEffort"]), "pods", burstable)
    assert quota.matches(_quota({"pods": "1"}, ["Terminating"]), "pods", terminating)
    assert not quota.matches(_quota({"pods": "1"}, ["NotTerminating"]), "pods", terminating)


def test_used_of_recounts_only_hard_resources() -> None:
    q = _quota({"pods": "5", "requests.cpu": "2", "count/deployments.apps": "3"})
    assert quota.kinds_for(q["spec"]["hard"]) == {("pods", ""), ("deployments", "apps")}
    used = quota.used_of(q, {("pods", ""): [_pod({"requests": {"cpu": "500m"}}), _pod()],
                             ("deployments", "apps"): [{}]})
    assert used == {"pods": 2, "requests.cpu": Decimal("0.5"), "count/deployments.apps": 1}
    assert {n: quota.fmt(n, v) for n, v in used.items()} == {"pods": "2", "requests.cpu": "500m",
                                                              "count/deployments.apps": "1"}


def test_missing_requests_and_exceeded() -> None:
    q = _quota({"limits.cpu": "2", "memory": "1Gi"})
    assert quota.missing_requests(q, _pod()) == ["limits.cpu for: c", "memory for: c"]
    assert quota.missing_requests(q, _pod({"requests": {"memory": "1Mi"}, "limits": {"cpu": "1"}})) == []
    hard = {"pods": Decimal(3), "cpu": Decimal(1)}
    assert quota.exceeded(hard, {"pods": Decimal(3)}, {"pods": Decimal(1), "cpu": Decimal("0.5")}) == ["pods"]
    assert quota.fmt("requests.memory", Decimal(2**30)) == "1Gi"
