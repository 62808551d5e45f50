"""Prometheus metrics of the components: the API server's request labels (Kubernetes' verbs and
scopes), the lock-free counters/histograms and their exposition, the work queue's metrics, the
scheduler's attempts, the monitoring targets generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from apiserver.metrics import request_labels
from cli.monitoring import component_targets, kubelet_targets, write_if_changed
from machinery import prom
from machinery.workqueue import WorkQueue


@pytest.mark.parametrize(("method", "path", "query", "want"), [
    ("GET", "/api/v1/namespaces/d/pods", b"", ("LIST", "", "v1", "pods", "", "namespace")),
    ("GET", "/api/v1/namespaces/d/pods", b"watch=1&resourceVersion=5", ("WATCH", "", "v1", "pods", "", "namespace")),
    ("GET", "/api/v1/watch/namespaces/d/pods", b"", ("WATCH", "", "v1", "pods", "", "namespace")),
    ("GET", "/api/v1/namespaces/d/pods/p", b"", ("GET", "", "v1", "pods", "", "resource")),
    ("PATCH", "/api/v1/namespaces/d/pods/p/status", b"", ("PATCH", "", "v1", "pods", "status", "resource")),
    ("POST", "/apis/apps/v1/namespaces/d/deployments", b"", ("POST", "apps", "v1", "deployments", "", "namespace")),
    ("GET", "/api/v1/nodes", b"", ("LIST", "", "v1", "nodes", "", "cluster")),
    ("PUT", "/api/v1/namespaces/x/finalize", b"", ("PUT", "", "v1", "namespaces", "finalize", "resource")),
    ("DELETE", "/api/v1/namespaces/d/pods", b"", ("DELETECOLLECTION", "", "v1", "pods", "", "namespace")),
    ("GET", "/healthz", b"", ("GET", "", "", "", "", "")),
])
def test_request_labels(method: str, path: str, query: bytes, want: tuple[str, ...]) -> None:
    assert request_labels(method, path, query) == want


def test_fast_counter_and_histogram_exposition() -> None:
    c = prom.FastCounter("test_fast_things_total", "things", ["kind"])
    h = prom.FastHistogram("test_fast_seconds", "latency", ["kind"], [0.1, 1.0])
    try:
        c.inc(("a",))
        c.inc(("a",), 2)
        for v in (0.05, 0.5, 5.0):
            h.observe(("a",), v)
        text = prom.exposition()[0].decode()
        assert 'test_fast_things_total{kind="a"} 3.0' in text
        assert 'test_fast_seconds_bucket{kind="a",le="0.1"} 1.0' in text
        assert 'test_fast_seconds_bucket{kind="a",le="1.0"} 2.0' in text
        assert 'test_fast_seconds_bucket{kind="a",le="+Inf"} 3.0' in text
        assert 'test_fast_seconds_sum{kind="a"} 5.55' in text and 'test_fast_seconds_count{kind="a"} 3.0' in text
    finally:
        REGISTRY.unregister(c)
        REGISTRY.unregister(h)


def _value(name: str, labels: dict[str, str]) -> float:
    v = REGISTRY.get_sample_value(name, labels)
    return 0.0 if v is None else v


async def test_workqueue_metrics() -> None:
    q = WorkQueue(name="test-metrics-queue")
    lab = {"name": "test-metrics-queue"}
    adds0 = _value("workqueue_adds_total", lab)
    q.add("a")
    q.add("a")  # already queued: a no-op, not counted (client-go counts adds past the dirty check)
    q.add("b")
    assert _value("workqueue_depth", lab) == 2
    assert _value("workqueue_adds_total", lab) - adds0 == 2
    key = await q.get()
    assert _value("workqueue_depth", lab) == 1
    assert _value("workqueue_queue_duration_seconds_count", lab) >= 1
    q.add_rate_limited(key)
    assert _value("workqueue_retries_total", lab) >= 1
    q.done(key)
    assert _value("workqueue_work_duration_seconds_count", lab) >= 1
    q.shutdown()
    assert _value("workqueue_depth", lab) == 0


def test_scheduler_attempt_metrics() -> None:
    from scheduler import metrics

    before = _value("scheduler_schedule_attempts_total", {"result": "scheduled", "profile": "default-scheduler"})
    metrics.attempt("scheduled", 0.002)
    after = _value("scheduler_schedule_attempts_total", {"result": "scheduled", "profile": "default-scheduler"})
    assert after - before == 1


def test_monitoring_targets(tmp_path: Path) -> None:
    nodes: list[dict[str, Any]] = [{"metadata": {"name": "b"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                                                     "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}}}},
             {"metadata": {"name": "a"}, "status": {"addresses": [{"type": "Hostname", "address": "a.local"}]}},
             {"metadata": {"name": "c"}, "status": {}}]
    assert kubelet_targets(nodes) == [{"targets": ["a.local:10250"], "labels": {"node": "a"}},
                                      {"targets": ["10.0.0.2:10251"], "labels": {"node": "b"}}]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"targets": {"apiserver": "127.0.0.1:6443",
                                                                           "scheduler": "127.0.0.1:4000"}}))
    got = component_targets(tmp_path)
    assert got["apiserver"] == [{"targets": ["127.0.0.1:6443"], "labels": {}}] and got["proxy"] == []
    out = tmp_path / "t.json"
    assert write_if_changed(out, got["scheduler"]) and not write_if_changed(out, got["scheduler"])


@pytest.mark.parametrize(("user", "method", "path", "allowed"), [
    # the metrics add-on: scrape lists, publish itself, nothing else
    ("sa:metrics-server", "GET", "/api/v1/nodes", True),
    ("sa:metrics-server", "GET", "/api/v1/pods", True),
    ("sa:metrics-server", "PUT", "/api/v1/namespaces/kube-system/endpoints/metrics-server", True),
    ("sa:metrics-server", "DELETE", "/api/v1/namespaces/kube-system/endpoints/metrics-server", True),
    ("sa:metrics-server", "PUT", "/api/v1/namespaces/kube-system/endpoints/kube-dns", False),
    ("sa:metrics-server", "GET", "/api/v1/namespaces/default/secrets", False),
    # the HPA controller (the controller-manager's identity): scale subresources and pod metrics
    ("system:kube-controller-manager", "PATCH", "/apis/apps/v1/namespaces/d/deployments/web/scale", True),
    ("system:kube-controller-manager", "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/d/pods", True),
    ("system:kube-controller-manager", "PATCH",
     "/apis/autoscaling/v2/namespaces/d/horizontalpodautoscalers/web/status", True),
])
def test_rbac_roles_of_metrics_and_hpa(user: str, method: str, path: str, allowed: bool) -> None:
    from apiserver.auth import bootstrappolicy
    from apiserver.auth.authz import request_attributes
    from apiserver.auth.rbac import PolicyIndex, RbacAuthorizer
    from apiserver.auth.user import UserInfo

    index = PolicyIndex()
    index.reset("ClusterRole", bootstrappolicy.cluster_roles())
    index.reset("ClusterRoleBinding", bootstrappolicy.cluster_role_bindings())
    who = (UserInfo(f"system:serviceaccount:kube-system:{user[3:]}", groups=("system:serviceaccounts",
                                                                             "system:authenticated"))
           if user.startswith("sa:") else UserInfo(user, groups=("system:authenticated",)))
    decision, _ = RbacAuthorizer(index).authorize(request_attributes(who, method, path))
    assert (decision.name == "ALLOW") is allowed


def test_view_aggregates_the_metrics_reader() -> None:
    from apiserver.auth import bootstrappolicy

    reader = next(r for r in bootstrappolicy.cluster_roles() if r["metadata"]["name"] == "system:aggregated-metrics-reader")
    assert reader["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert reader["rules"][0]["apiGroups"] == ["metrics.k8s.io"]
