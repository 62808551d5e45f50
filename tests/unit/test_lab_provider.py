"""The lab cloud node controller: Docker decides whether a silent node still exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controllers.labprovider import SHUTDOWN_TAINT, InstanceState, LabCloudNodeController, provider_node
from machinery.models import Lease, Node, Pod
from tests.unit.builders import make_context, make_pod, preload
from tests.unit.fake_client import FakeClient


class FakeProvider:
    def __init__(self, states: dict[str, InstanceState]) -> None:
        self.states = states
        self.asked: list[str] = []

    def instance_state(self, node: str) -> InstanceState:
        self.asked.append(node)
        return self.states.get(node, "missing")


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_node(name: str, *, ready: bool = True, provider_id: str | None = None, taints: Any = None) -> Node:
    spec: dict[str, Any] = {"providerID": provider_id if provider_id is not None else f"lab://lab1/{name}"}
    if taints:
        spec["taints"] = taints
    return Node.from_dict({"metadata": {"name": name, "resourceVersion": "7"}, "spec": spec,
                           "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}]}})


def make_lease(name: str, age_s: float) -> Lease:
    return Lease.from_dict({"metadata": {"name": name, "namespace": "kube-node-lease"},
                            "spec": {"holderIdentity": name,
                                     "renewTime": iso(datetime.now(UTC) - timedelta(seconds=age_s))}})


def controller(states: dict[str, InstanceState], *objs: Any) -> tuple[LabCloudNodeController, FakeClient, FakeProvider]:
    client = FakeClient(namespace="default")
    ctx = make_context(client)
    prov = FakeProvider(states)
    c = LabCloudNodeController(ctx, lab="lab1", provider=prov, silence_s=12.0)
    nodes = [o for o in objs if isinstance(o, Node)]
    preload(c.nodes, *nodes)
    preload(c.leases, *[o for o in objs if isinstance(o, Lease)])
    client.add(*nodes, *[o for o in objs if isinstance(o, Pod)])
    return c, client, prov


def test_provider_node_only_for_this_lab() -> None:
    assert provider_node(make_node("node2"), "lab1") == "node2"
    assert provider_node(make_node("node2"), "lab2") is None
    assert provider_node(make_node("x", provider_id=""), "lab1") is None


async def test_heartbeating_node_is_not_asked_about() -> None:
    c, client, prov = controller({}, make_node("node1"), make_lease("node1", 2.0))
    await c.sync("node1")
    assert prov.asked == [] and client.calls_of("delete") == []


async def test_silent_node_whose_container_is_gone_is_deleted() -> None:
    pods = [make_pod("a", node="node2"), make_pod("b", node="node1")]
    c, client, prov = controller({}, make_node("node2"), make_lease("node2", 30.0), *pods)
    await c.sync("node2")
    assert prov.asked == ["node2"]
    # Only the Node: its pods are the pod garbage collector's (one owner per concept).
    assert [(call.kind, call.name) for call in client.calls_of("delete")] == [("Node", "node2")]


async def test_not_ready_node_counts_as_silent_even_with_a_fresh_lease() -> None:
    c, client, _ = controller({}, make_node("node2", ready=False), make_lease("node2", 1.0))
    await c.sync("node2")
    assert [call.name for call in client.calls_of("delete")] == ["node2"]


async def test_stopped_container_gets_the_shutdown_taint_and_keeps_the_node() -> None:
    c, client, _ = controller({"node2": "stopped"}, make_node("node2"), make_lease("node2", 30.0))
    await c.sync("node2")
    assert client.calls_of("delete") == []
    patches = client.calls_of("patch")
    assert len(patches) == 1
    assert patches[0].body["spec"]["taints"] == [{"key": SHUTDOWN_TAINT, "effect": "NoSchedule"}]


async def test_running_again_removes_the_shutdown_taint() -> None:
    n = make_node("node2", taints=[{"key": SHUTDOWN_TAINT, "effect": "NoSchedule"},
                                   {"key": "other", "effect": "NoSchedule"}])
    c, client, prov = controller({"node2": "running"}, n, make_lease("node2", 1.0))
    await c.sync("node2")
    assert prov.asked == []
    assert client.calls_of("patch")[0].body["spec"]["taints"] == [{"key": "other", "effect": "NoSchedule"}]


async def test_nodes_of_other_providers_are_left_alone() -> None:
    c, client, prov = controller({}, make_node("bare", provider_id="", ready=False))
    await c.sync("bare")
    assert prov.asked == [] and client.calls_of("delete") == []
