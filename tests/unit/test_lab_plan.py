"""The multi-host lab's pure planning: names, addresses, compose override, scaling, routes."""

from __future__ import annotations

from typing import Any

import pytest

from cli import labplan
from cli.labplan import LabConfig
from routeagent import plan


def node(name: str, ip: str | None, cidr: str | None, *, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": [{"type": "Hostname", "address": name}]
                       + ([{"type": "InternalIP", "address": ip}] if ip else [])}}


def test_config_validates_name_port_and_subnet() -> None:
    assert LabConfig().api_url == "https://127.0.0.1:6550"
    assert LabConfig(prefix="10.9.8").control_plane_ip == "10.9.8.10"
    for bad in ({"name": "Bad_Name"}, {"api_port": 0}, {"prefix": "300.1.1"}, {"prefix": "8.8.8"}):
        with pytest.raises(ValueError):
            LabConfig(**bad)


def test_node_names_addresses_and_cidrs() -> None:
    cfg = LabConfig(prefix="172.30.5")
    assert labplan.node_name(4) == "node4"
    assert labplan.node_index("node12") == 12
    for bad in ("node0", "node", "worker1", "node01", "node201"):
        with pytest.raises(ValueError):
            labplan.node_index(bad)
    assert labplan.node_ip(cfg, 3) == "172.30.5.13"
    br = labplan.bridge_name("kubelite-lab")
    assert br.startswith("klab-") and len(br) <= 15 and br != labplan.bridge_name("other")


def test_override_adds_extra_nodes_and_scales_removed_base_nodes_to_zero() -> None:
    cfg = LabConfig(name="t1", prefix="172.30.5")
    doc = labplan.override(cfg, {1, 3, 4})
    assert doc["services"]["node2"] == {"scale": 0}
    n4 = doc["services"]["node4"]
    assert n4["environment"]["NODE_IP"] == "172.30.5.14"
    assert "POD_CIDR" not in n4["environment"]  # node IPAM assigns it
    assert n4["labels"][labplan.LAB_NODE_LABEL] == "node4"
    assert n4["labels"][labplan.LAB_LABEL] == "t1"
    assert "node4:/var/lib/docker" in n4["volumes"]
    assert doc["volumes"] == {"node4": {"labels": {labplan.LAB_LABEL: "t1"}}}
    assert "node1" not in doc["services"] and "node3" not in doc["services"]
    assert labplan.override(cfg, {1, 2, 3}) == {"version": "2.4", "services": {}}


def test_scale_plan_fills_lowest_gaps_and_removes_highest() -> None:
    assert labplan.scale_plan({1, 2, 3}, 4) == ([4], [])
    assert labplan.scale_plan({1, 3}, 4) == ([2, 4], [])
    assert labplan.scale_plan({1, 2, 3, 5}, 2) == ([], [5, 3])
    assert labplan.scale_plan({1, 2}, 2) == ([], [])
    with pytest.raises(ValueError):
        labplan.scale_plan({1}, -1)


def test_desired_routes_skip_self_and_incomplete_nodes() -> None:
    nodes = [node("node1", "172.30.5.11", "10.244.1.0/24"), node("node2", "172.30.5.12", "10.244.2.0/24"),
             node("node3", None, "10.244.3.0/24"), node("node4", "172.30.5.14", None),
             node("node5", "172.30.5.15", "10.244.5.0/24", deleting=True),
             node("odd", "172.30.5.16", "192.168.0.0/24")]
    assert plan.desired_routes(nodes, self_name="node1") == {"10.244.2.0/24": "172.30.5.12"}
    assert plan.desired_routes(nodes, self_name=None) == {"10.244.1.0/24": "172.30.5.11",
                                                          "10.244.2.0/24": "172.30.5.12"}


def test_pod_cidrs_list_wins_over_single_field() -> None:
    n = node("a", "1.2.3.4", "10.244.1.0/24")
    n["spec"]["podCIDRs"] = ["10.244.9.0/24"]
    assert plan.node_pod_cidrs(n) == ["10.244.9.0/24"]


def test_parse_routes_keeps_only_gateway_routes_inside_the_cluster_cidr() -> None:
    routes = [{"dst": "10.244.2.0/24", "gateway": "172.30.5.12", "dev": "eth0"},
              {"dst": "10.244.0.0/16", "dev": "kubelite0"},  # the guard route: never ours
              {"dst": "192.168.1.0/24", "gateway": "172.30.5.1"},
              {"dst": "default", "gateway": "172.30.5.1"}]
    assert plan.parse_routes(routes) == {"10.244.2.0/24": "172.30.5.12"}


def test_route_changes_replace_moved_and_delete_gone() -> None:
    current = {"10.244.2.0/24": "172.30.5.12", "10.244.3.0/24": "172.30.5.99", "10.244.9.0/24": "172.30.5.19"}
    desired = {"10.244.2.0/24": "172.30.5.12", "10.244.3.0/24": "172.30.5.13", "10.244.4.0/24": "172.30.5.14"}
    assert plan.route_changes(current, desired) == [
        ["ip", "route", "replace", "10.244.3.0/24", "via", "172.30.5.13", "proto", "static"],
        ["ip", "route", "replace", "10.244.4.0/24", "via", "172.30.5.14", "proto", "static"],
        ["ip", "route", "del", "10.244.9.0/24", "via", "172.30.5.19", "proto", "static"],
    ]
    assert plan.route_changes(desired, desired) == []


def test_rules_never_use_the_proxy_prefix() -> None:
    text = plan.rules_text()
    assert "KUBELITE-" not in text  # the proxy deletes every KUBELITE-* chain it does not render
    assert f"-A {plan.NOMASQ_CHAIN} -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN" in text
