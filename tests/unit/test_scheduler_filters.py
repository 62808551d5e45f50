"""Each feasibility filter on its own, plus the request arithmetic of `scheduler.info`."""

from __future__ import annotations

import pytest

from scheduler import filters as f
from scheduler.info import Resources, pod_info
from tests.unit.test_scheduler_support import node, pod, pod_dict

GI = 1024**3


# ---- requests ------------------------------------------------------------------------------
def test_requests_sum_app_containers_and_take_max_of_init() -> None:
    d = pod_dict("p", cpu="500m", memory="1Gi")
    d["spec"]["containers"].append({"name": "b", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}})
    d["spec"]["initContainers"] = [
        {"name": "i1", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}},
        {"name": "i2", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
    ]
    info = pod_info(d)
    # cpu: max(750m, 2000m); memory: max(2Gi, 1Gi)
    assert info.requests == Resources(2000, 2 * GI, 1)


def test_requests_default_to_limits_and_add_overhead() -> None:
    d = pod_dict("p")
    d["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    d["spec"]["overhead"] = {"cpu": "100m"}
    assert pod_info(d).requests == Resources(1100, GI, 1)


def test_nonzero_requests_for_empty_pod() -> None:
    info = pod("p")
    assert info.requests == Resources(0, 0, 1)
    assert info.nonzero.milli_cpu == 100 and info.nonzero.memory == 200 * 1024 * 1024


# ---- ready / cordon ------------------------------------------------------------------------
def test_node_ready() -> None:
    assert f.node_ready(pod(), node(ready=True)) == []
    assert f.node_ready(pod(), node(ready=False)) == ["node(s) were not ready"]


def test_cordoned_node_rejected_unless_tolerated() -> None:
    n = node(unschedulable=True)
    assert f.node_unschedulable(pod(), n) == ["node(s) were unschedulable"]
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert f.node_unschedulable(pod(tolerations=tol), n) == []
    assert f.node_unschedulable(pod(), node()) == []


# ---- resources -----------------------------------------------------------------------------
def test_resources_fit_counts_bound_pods() -> None:
    n = node(cpu="1", memory="1Gi")
    n.add_pod(pod("a", cpu="600m", memory="512Mi", node="n"))
    assert f.resources_fit(pod("b", cpu="400m"), n) == []
    assert f.resources_fit(pod("b", cpu="500m"), n) == ["Insufficient cpu"]
    assert f.resources_fit(pod("b", cpu="500m", memory="600Mi"), n) == ["Insufficient cpu", "Insufficient memory"]


def test_terminated_pods_do_not_count() -> None:
    n = node(cpu="1")
    n.add_pod(pod("done", cpu="1", node="n", phase="Succeeded"))
    assert f.resources_fit(pod("b", cpu="1"), n) == []
    n.add_pod(pod("run", cpu="1", node="n", phase="Running"))
    assert f.resources_fit(pod("b", cpu="1"), n) == ["Insufficient cpu"]
    n.remove_pod("default/run")
    assert f.resources_fit(pod("b", cpu="1"), n) == []


def test_too_many_pods() -> None:
    n = node(pods="1")
    assert f.resources_fit(pod("a"), n) == []
    n.add_pod(pod("a", node="n"))
    assert f.resources_fit(pod("b"), n) == ["Too many pods"]


def test_zero_request_pod_fits_full_node() -> None:
    n = node(cpu="1")
    n.add_pod(pod("a", cpu="1", node="n"))
    assert f.resources_fit(pod("b"), n) == []


# ---- node selector / affinity --------------------------------------------------------------
def test_node_selector() -> None:
    n = node(labels={"disk": "ssd", "zone": "a"})
    assert f.node_affinity(pod(node_selector={"disk": "ssd"}), n) == []
    assert f.node_affinity(pod(node_selector={"disk": "hdd"}), n) == ["node(s) didn't match node selector"]
    assert f.node_affinity(pod(node_selector={"gpu": "yes"}), n) == ["node(s) didn't match node selector"]


def _expr(key: str, op: str, *values: str) -> dict[str, object]:
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


@pytest.mark.parametrize(
    ("term", "fits"),
    [
        (_expr("zone", "In", "a", "b"), True),
        (_expr("zone", "In", "c"), False),
        (_expr("zone", "NotIn", "c"), True),
        (_expr("zone", "NotIn", "a"), False),
        (_expr("missing", "NotIn", "a"), True),
        (_expr("zone", "Exists"), True),
        (_expr("missing", "Exists"), False),
        (_expr("missing", "DoesNotExist"), True),
        (_expr("zone", "DoesNotExist"), False),
        (_expr("cores", "Gt", "7"), True),
        (_expr("cores", "Gt", "8"), False),
        (_expr("cores", "Lt", "9"), True),
        (_expr("cores", "Lt", "8"), False),
        (_expr("zone", "Gt", "1"), False),  # not an integer: no match
        ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}, True),
        ({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n"]}]}, False),
        ({}, False),  # an empty term matches nothing
    ],
)
def test_affinity_operators(term: dict[str, object], fits: bool) -> None:
    n = node("n", labels={"zone": "a", "cores": "8"})
    assert (f.node_affinity(pod(affinity_terms=[term]), n) == []) is fits


def test_affinity_terms_ored_expressions_anded() -> None:
    n = node("n", labels={"zone": "a", "disk": "ssd"})
    both = {
        "matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a"]},
            {"key": "disk", "operator": "In", "values": ["hdd"]},
        ]
    }
    assert f.node_affinity(pod(affinity_terms=[both]), n) == ["node(s) didn't match Pod's node affinity"]
    assert f.node_affinity(pod(affinity_terms=[both, _expr("disk", "In", "ssd")]), n) == []


# ---- taints --------------------------------------------------------------------------------
def test_taints_and_tolerations() -> None:
    n = node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    assert f.taint_toleration(pod(), n) == ["node(s) had untolerated taint {dedicated: gpu}"]
    equal = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    assert f.taint_toleration(pod(tolerations=equal), n) == []
    wrong_value = [{"key": "dedicated", "operator": "Equal", "value": "cpu"}]
    assert f.taint_toleration(pod(tolerations=wrong_value), n) != []
    wrong_effect = [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]
    assert f.taint_toleration(pod(tolerations=wrong_effect), n) != []
    exists_any_effect = [{"key": "dedicated", "operator": "Exists"}]
    assert f.taint_toleration(pod(tolerations=exists_any_effect), n) == []
    tolerate_all = [{"operator": "Exists"}]
    assert f.taint_toleration(pod(tolerations=tolerate_all), n) == []


def test_no_execute_blocks_and_prefer_no_schedule_does_not() -> None:
    assert f.taint_toleration(pod(), node(taints=[{"key": "k", "effect": "NoExecute"}])) == [
        "node(s) had untolerated taint {k: }"
    ]
    assert f.taint_toleration(pod(), node(taints=[{"key": "k", "effect": "PreferNoSchedule"}])) == []


# ---- host ports ----------------------------------------------------------------------------
def test_host_port_conflict() -> None:
    n = node()
    assert f.node_ports(pod("a", host_port=8080), n) == []
    n.add_pod(pod("a", host_port=8080, node="n"))
    assert f.node_ports(pod("b", host_port=8080), n) == [f.PORTS_TAKEN]
    assert f.node_ports(pod("b", host_port=8081), n) == []
    n.remove_pod("default/a")
    assert f.node_ports(pod("b", host_port=8080), n) == []


def test_host_port_ip_and_protocol() -> None:
    n = node()
    d = pod_dict("a", node="n")
    d["spec"]["containers"][0]["ports"] = [{"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "127.0.0.1"}]
    n.add_pod(pod_info(d))
    tcp = pod_dict("b")
    tcp["spec"]["containers"][0]["ports"] = [{"containerPort": 53, "hostPort": 53, "protocol": "TCP"}]
    assert f.node_ports(pod_info(tcp), n) == []  # other protocol
    other_ip = pod_dict("c")
    other_ip["spec"]["containers"][0]["ports"] = [{"hostPort": 53, "protocol": "UDP", "hostIP": "127.0.0.2"}]
    assert f.node_ports(pod_info(other_ip), n) == []
    wildcard = pod_dict("d")
    wildcard["spec"]["containers"][0]["ports"] = [{"hostPort": 53, "protocol": "UDP"}]
    assert f.node_ports(pod_info(wildcard), n) == [f.PORTS_TAKEN]


# ---- order ---------------------------------------------------------------------------------
def test_run_filters_reports_first_failing_filter_only() -> None:
    n = node(cpu="1", labels={}, ready=True, unschedulable=True)
    assert f.run_filters(pod(cpu="2", node_selector={"a": "b"}), n) == ["node(s) were unschedulable"]
    assert f.run_filters(pod(cpu="2"), node(cpu="1")) == ["Insufficient cpu"]
    assert f.run_filters(pod(cpu="1"), node(cpu="1")) == []
