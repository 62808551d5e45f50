"""EndpointSlice controller: `sync(key)` on preloaded caches against the one fake client."""

from __future__ import annotations

from typing import Any

from controllers.endpointslice import EndpointSliceController, desired_groups
from machinery.endpointslices import endpoints_for_port, slices_from_endpoints, usable
from machinery.models import (
    MANAGED_BY_CONTROLLER,
    MANAGED_BY_LABEL,
    MANAGED_BY_MIRRORING,
    SERVICE_NAME_LABEL,
    Endpoints,
    EndpointSlice,
    Node,
    Pod,
    Service,
)
from tests.unit.builders import NS, make_context, preload, unpreload
from tests.unit.endpoints_builders import pod, svc
from tests.unit.fake_client import FakeClient


def setup(*objs: Any, max_per_slice: int = 100) -> tuple[EndpointSliceController, FakeClient]:
    client = FakeClient(namespace=NS)
    ctrl = EndpointSliceController(make_context(client), max_per_slice=max_per_slice)
    for inf, cls in ((ctrl.svc_informer, Service), (ctrl.pod_informer, Pod), (ctrl.node_informer, Node),
                     (ctrl.ep_informer, Endpoints), (ctrl.slice_informer, EndpointSlice)):
        preload(inf, *[o for o in objs if isinstance(o, cls)])
    return ctrl, client


def stored_slices(client: FakeClient) -> list[EndpointSlice]:
    return [EndpointSlice.model_validate(d) for (kind, _, _), d in client.objects.items() if kind == "EndpointSlice"]


def settle(ctrl: EndpointSliceController, client: FakeClient) -> None:
    """Let the informer see what the fake stored (as the watch would)."""
    unpreload(ctrl.slice_informer, *ctrl.slice_informer.keys())
    preload(ctrl.slice_informer, *stored_slices(client))


async def test_slice_labels_owner_conditions_zone() -> None:
    node = Node.from_dict({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}}})
    ctrl, client = setup(svc(labels={"tier": "front"}), node, pod("a", "10.244.0.5"),
                         pod("b", "10.244.0.6", ready=False), pod("c", "10.244.0.7", deleting=True),
                         pod("d", "10.244.0.8", phase="Failed"))
    await ctrl.sync(f"{NS}/web")
    [call] = client.calls_of("create", "EndpointSlice")
    body = call.body
    assert body["metadata"]["generateName"] == "web-"
    assert body["metadata"]["labels"] == {"tier": "front", SERVICE_NAME_LABEL: "web",
                                          MANAGED_BY_LABEL: MANAGED_BY_CONTROLLER}
    [owner] = body["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Service", "web", "svc-web", True)
    assert body["addressType"] == "IPv4"
    assert body["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    conds = {e["addresses"][0]: e["conditions"] for e in body["endpoints"]}
    assert conds == {"10.244.0.5": {"ready": True, "serving": True, "terminating": False},
                     "10.244.0.6": {"ready": False, "serving": False, "terminating": False},
                     "10.244.0.7": {"ready": False, "serving": True, "terminating": True}}
    assert {e["zone"] for e in body["endpoints"]} == {"z1"} and {e["nodeName"] for e in body["endpoints"]} == {"n1"}
    settle(ctrl, client)
    client.calls.clear()
    await ctrl.sync(f"{NS}/web")
    assert [c.verb for c in client.calls if c.kind == "EndpointSlice"] == []  # nothing changed: no write


async def test_max_per_slice_and_scaling_keeps_endpoints_in_place() -> None:
    pods = [pod(f"p{i}", f"10.244.0.{10 + i}") for i in range(5)]
    ctrl, client = setup(svc(), *pods, max_per_slice=2)
    await ctrl.sync(f"{NS}/web")
    settle(ctrl, client)
    slices = stored_slices(client)
    assert sorted(len(s.endpoints or []) for s in slices) == [1, 2, 2]
    before = {e.addresses[0]: s.name for s in slices for e in s.endpoints or []}
    # scale down two pods and up one: the survivors stay where they were, the new one fills a gap.
    for key in (f"{NS}/p0", f"{NS}/p1"):
        ctrl.pod_informer._store(key, None)
    preload(ctrl.pod_informer, pod("p9", "10.244.0.99"))
    client.calls.clear()
    await ctrl.sync(f"{NS}/web")
    settle(ctrl, client)
    after = {e.addresses[0]: s.name for s in stored_slices(client) for e in s.endpoints or []}
    assert set(after) == {"10.244.0.12", "10.244.0.13", "10.244.0.14", "10.244.0.99"}
    assert all(after[ip] == before[ip] for ip in before if ip in after)
    assert not client.calls_of("create", "EndpointSlice")


async def test_no_endpoints_keeps_one_placeholder_and_deleted_service_removes_slices() -> None:
    ctrl, client = setup(svc())
    await ctrl.sync(f"{NS}/web")
    settle(ctrl, client)
    [placeholder] = stored_slices(client)
    assert not placeholder.endpoints and not placeholder.ports
    await ctrl.sync(f"{NS}/web")
    assert len(stored_slices(client)) == 1
    ctrl.svc_informer._store(f"{NS}/web", None)
    await ctrl.sync(f"{NS}/web")
    assert stored_slices(client) == []


async def test_stale_cache_requeues_instead_of_duplicating() -> None:
    ctrl, client = setup(svc(), pod("a", "10.244.0.5"))
    await ctrl.sync(f"{NS}/web")
    await ctrl.sync(f"{NS}/web")  # the informer has not seen the created slice yet
    assert len(client.calls_of("create", "EndpointSlice")) == 1
    settle(ctrl, client)
    await ctrl.sync(f"{NS}/web")
    assert len(client.calls_of("create", "EndpointSlice")) == 1


async def test_mirroring_selectorless_endpoints() -> None:
    ep = Endpoints.from_dict({"metadata": {"name": "dns", "namespace": NS, "uid": "ep-uid"}, "subsets": [{
        "addresses": [{"ip": "10.244.0.1"}], "notReadyAddresses": [{"ip": "10.244.0.2"}],
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}]})
    ctrl, client = setup(svc("dns", selector={}), ep)
    await ctrl.sync(f"{NS}/dns")
    [call] = client.calls_of("create", "EndpointSlice")
    assert call.body["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY_MIRRORING
    assert call.body["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    assert [(e["addresses"][0], e["conditions"]["ready"]) for e in call.body["endpoints"]] == [
        ("10.244.0.1", True), ("10.244.0.2", False)]


def test_consumers_use_terminating_endpoints_only_without_ready_ones() -> None:
    s = svc()
    groups = desired_groups(s, [pod("a", "10.244.0.5", deleting=True), pod("b", "10.244.0.6", ready=False)])
    assert list(groups) == [(("http", 8080, "TCP"),)]
    ep = Endpoints.from_dict({"metadata": {"name": "web", "namespace": NS}, "subsets": [
        {"addresses": [{"ip": "10.244.0.9"}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]})
    slices = slices_from_endpoints(ep)
    assert [e.address for e in usable(endpoints_for_port(slices, "http", "TCP"))] == ["10.244.0.9:8080"]
    draining = EndpointSlice.from_dict({"metadata": {"name": "web-x", "namespace": NS}, "addressType": "IPv4",
                                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                                        "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {
                                            "ready": False, "serving": True, "terminating": True}},
                                            {"addresses": ["10.244.0.6"], "conditions": {"ready": False}}]})
    assert [e.address for e in usable(endpoints_for_port([draining], "http", "TCP"))] == ["10.244.0.5:8080"]
    assert usable(endpoints_for_port([draining], "other", "TCP")) == []
