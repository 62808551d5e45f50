"""Node IPAM: the CIDR set (pure) and the controller's sync on preloaded caches (fake client)."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.cidrset import CidrSet, CidrsExhausted
from controllers.nodeipam import NodeIpamController
from controllers.options import ControllerOptions
from machinery import errors
from machinery.models import Node
from tests.unit.builders import make_context, preload, unpreload
from tests.unit.fake_client import FakeClient


def test_cidrset_hands_out_each_subnet_once_round_robin() -> None:
    s = CidrSet("10.244.0.0/16", 24)
    assert s.size == 256
    first = [s.allocate_next() for _ in range(3)]
    assert first == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    s.release("10.244.1.0/24")
    assert s.allocate_next() == "10.244.3.0/24"  # round-robin: the released one is not reused at once
    assert s.used == 3


def test_cidrset_occupy_skips_taken_and_exhausts() -> None:
    s = CidrSet("10.244.0.0/30", 31)
    s.occupy("10.244.0.0/31")
    assert s.allocate_next() == "10.244.0.2/31"
    with pytest.raises(CidrsExhausted):
        s.allocate_next()
    s.release("10.244.0.0/31")
    assert s.allocate_next() == "10.244.0.0/31"


def test_cidrset_occupy_larger_block_and_outside() -> None:
    s = CidrSet("10.244.0.0/16", 24)
    s.occupy("10.244.4.0/22")  # four /24s
    assert s.used == 4 and s.is_used("10.244.7.0/24") and not s.is_used("10.244.8.0/24")
    with pytest.raises(ValueError, match="not inside"):
        s.occupy("10.245.0.0/24")
    with pytest.raises(ValueError, match="not inside"):
        s.occupy("fd00::/64")


@pytest.mark.parametrize(("cidr", "mask"), [("10.244.0.0/16", 15), ("10.0.0.0/8", 25), ("10.244.0.0/16", 33)])
def test_cidrset_rejects_bad_mask(cidr: str, mask: int) -> None:
    with pytest.raises(ValueError, match="mask size"):
        CidrSet(cidr, mask)


def test_cidrset_ipv6() -> None:
    s = CidrSet("fd00:10:244::/56", 64)
    assert s.allocate_next() == "fd00:10:244::/64"
    assert s.allocate_next() == "fd00:10:244:1::/64"


def _node(name: str, cidr: str | None = None, rv: str = "5") -> Node:
    spec: dict[str, Any] = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return Node.from_dict({"metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": rv}, "spec": spec})


def _ipam(client: FakeClient, *nodes: Node, **opts: Any) -> NodeIpamController:
    ctx = make_context(client)
    ctx.options = ControllerOptions(**opts)
    ipam = NodeIpamController(ctx)
    client.add(*nodes)
    preload(ipam.nodes, *nodes)
    ipam.rebuild()
    return ipam


async def test_new_node_gets_next_free_cidr_skipping_existing() -> None:
    client = FakeClient()
    ipam = _ipam(client, _node("a", "10.244.0.0/24"), _node("b"))
    await ipam.sync("b")
    patches = client.calls_of("patch", "Node")
    assert [(c.name, c.body) for c in patches] == [
        ("b", {"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}})]
    assert client.stored(Node, "b").spec.podCIDR == "10.244.1.0/24"


async def test_resync_while_cache_lags_reuses_the_same_cidr() -> None:
    client = FakeClient()
    ipam = _ipam(client, _node("b"))
    await ipam.sync("b")
    await ipam.sync("b")  # the watch has not brought our patch back yet
    cidrs = [c.body["spec"]["podCIDR"] for c in client.calls_of("patch", "Node")]
    assert cidrs == ["10.244.0.0/24", "10.244.0.0/24"]
    assert ipam.cidrs.used == 1


async def test_restart_rebuilds_from_node_list_and_never_gives_twice() -> None:
    client = FakeClient()
    nodes = [_node(f"n{i}", f"10.244.{i}.0/24") for i in range(3)]
    ipam = _ipam(client, *nodes, _node("new"))
    assert ipam.cidrs.used == 3
    await ipam.sync("new")
    assert client.stored(Node, "new").spec.podCIDR == "10.244.3.0/24"


async def test_deleted_node_releases_its_cidr() -> None:
    client = FakeClient()
    ipam = _ipam(client, _node("a", "10.244.0.0/24"), _node("b", "10.244.1.0/24"))
    unpreload(ipam.nodes, "a")
    await ipam.sync("a")
    assert ipam.cidrs.used == 1 and not ipam.cidrs.is_used("10.244.0.0/24")
    assert not client.calls_of("patch")


async def test_exhausted_range_records_event_and_retries() -> None:
    client = FakeClient()
    ipam = _ipam(client, _node("a", "10.244.0.0/24"), _node("b"), cluster_cidr="10.244.0.0/24", node_cidr_mask_size=24)
    with pytest.raises(CidrsExhausted):
        await ipam.sync("b")
    events = client.calls_of("create", "Event")
    assert [e.body["reason"] for e in events] == ["CIDRNotAvailable"]
    assert events[0].body["type"] == "Warning"


async def test_node_cidr_outside_cluster_cidr_gets_event_not_occupied() -> None:
    client = FakeClient()
    ipam = _ipam(client, _node("x", "192.168.5.0/24"))
    await ipam.sync("x")
    assert ipam.cidrs.used == 0
    assert [e.body["reason"] for e in client.calls_of("create", "Event")] == ["CIDRNotAvailable"]


async def test_node_that_got_a_cidr_elsewhere_makes_us_release_ours() -> None:
    client = FakeClient()
    ipam = _ipam(client, _node("b"))
    client.fail("patch", "Node", errors.Invalid("node updates may not change podCIDR"))
    with pytest.raises(errors.Invalid):
        await ipam.sync("b")
    assert ipam.cidrs.used == 0 and "b" not in ipam.assigned
    theirs = _node("b", "10.244.9.0/24", rv="6")
    preload(ipam.nodes, theirs)
    await ipam.sync("b")
    assert ipam.assigned["b"] == ["10.244.9.0/24"] and ipam.cidrs.is_used("10.244.9.0/24")
