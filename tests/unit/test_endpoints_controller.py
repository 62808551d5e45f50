"""Endpoints controller: `sync(key)` on preloaded caches against the recording fake client."""

from __future__ import annotations

from typing import Any

from controllers.endpoints import EndpointsController, desired_subsets, resolve_target_port
from machinery import errors
from machinery.models import Endpoints, Pod, Service, ServicePort
from tests.unit.builders import preload
from tests.unit.controller_fixtures import NS, make_context
from tests.unit.endpoints_builders import pod, svc
from tests.unit.fake_client import FakeClient


def setup(*objs: Any, client: FakeClient | None = None) -> tuple[EndpointsController, FakeClient]:
    client = client or FakeClient(namespace=NS)
    ctrl = EndpointsController(make_context(client))
    preload(ctrl.svc_informer, *[o for o in objs if isinstance(o, Service)])
    preload(ctrl.pod_informer, *[o for o in objs if isinstance(o, Pod)])
    preload(ctrl.ep_informer, *[o for o in objs if isinstance(o, Endpoints)])
    return ctrl, client


def ref(name: str) -> dict[str, str]:
    return {"kind": "Pod", "namespace": NS, "name": name, "uid": f"uid-{name}"}


async def test_ready_and_not_ready_pods_with_named_port() -> None:
    ctrl, client = setup(svc(), pod("b", "10.244.0.6"), pod("a", "10.244.0.5"),
                         pod("c", "10.244.0.7", ready=False), pod("nop", None),
                         pod("other", "10.244.0.9", labels={"app": "db"}))
    await ctrl.sync(f"{NS}/web")
    [call] = client.calls_of("create", "Endpoints")
    assert call.body["subsets"] == [{
        "addresses": [{"ip": "10.244.0.5", "nodeName": "n1", "targetRef": ref("a")},
                      {"ip": "10.244.0.6", "nodeName": "n1", "targetRef": ref("b")}],
        "notReadyAddresses": [{"ip": "10.244.0.7", "nodeName": "n1", "targetRef": ref("c")}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }]
    assert call.body["metadata"]["name"] == "web"


async def test_terminating_and_terminal_pods_are_removed() -> None:
    ctrl, client = setup(svc(), pod("a", "10.244.0.5", deleting=True), pod("b", "10.244.0.6", phase="Succeeded"),
                         pod("c", "10.244.0.7"))
    await ctrl.sync(f"{NS}/web")
    [call] = client.calls_of("create", "Endpoints")
    assert [a["ip"] for a in call.body["subsets"][0]["addresses"]] == ["10.244.0.7"]
    assert "notReadyAddresses" not in call.body["subsets"][0]


async def test_ports_repacked_by_resolved_target_port() -> None:
    ctrl, client = setup(svc(), pod("a", "10.244.0.5", port=8080), pod("b", "10.244.0.6", port=9090),
                         pod("c", "10.244.0.7", port_name="other"))
    await ctrl.sync(f"{NS}/web")
    [call] = client.calls_of("create", "Endpoints")
    subsets = call.body["subsets"]
    assert [(s["ports"][0]["port"], [a["ip"] for a in s["addresses"]]) for s in subsets] == [
        (8080, ["10.244.0.5"]), (9090, ["10.244.0.6"])]


def test_resolve_target_port_number_name_and_default() -> None:
    p = pod("a", "10.244.0.5")
    assert resolve_target_port(p, ServicePort(port=80, targetPort=8081)) == 8081
    assert resolve_target_port(p, ServicePort(port=80)) == 80
    assert resolve_target_port(p, ServicePort(port=80, targetPort="web", protocol="TCP")) == 8080
    assert resolve_target_port(p, ServicePort(port=80, targetPort="web", protocol="UDP")) is None
    assert resolve_target_port(p, ServicePort(port=80, targetPort="nope")) is None


def test_hostname_only_when_subdomain_is_the_service() -> None:
    s = svc("web")
    subsets = desired_subsets(s, [pod("a", "10.244.0.5", hostname="web-0", subdomain="web"),
                                  pod("b", "10.244.0.6", hostname="web-1", subdomain="other")])
    addrs = subsets[0]["addresses"]
    assert addrs[0]["hostname"] == "web-0" and "hostname" not in addrs[1]


def test_publish_not_ready_addresses_lists_everyone_as_ready() -> None:
    s = svc(publishNotReadyAddresses=True)
    subsets = desired_subsets(s, [pod("a", "10.244.0.5", ready=False), pod("b", "10.244.0.6", deleting=True)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.244.0.5", "10.244.0.6"]


def test_headless_without_ports_lists_addresses() -> None:
    s = svc(cluster_ip="None", ports=[])
    assert desired_subsets(s, [pod("a", "10.244.0.5")]) == [
        {"addresses": [{"ip": "10.244.0.5", "nodeName": "n1", "targetRef": ref("a")}]}]


async def test_unchanged_state_makes_no_call_and_change_replaces_with_resource_version() -> None:
    client = FakeClient(namespace=NS)
    ctrl, _ = setup(svc(labels={"tier": "front"}), pod("a", "10.244.0.5"), client=client)
    await ctrl.sync(f"{NS}/web")
    created = client.stored(Endpoints, "web", NS)
    assert created.metadata.labels == {"tier": "front"}
    preload(ctrl.ep_informer, created)
    client.calls.clear()
    await ctrl.sync(f"{NS}/web")
    assert client.calls == []
    # The pod turns unready (the kubelet's readiness probe failed): moved to notReadyAddresses.
    preload(ctrl.pod_informer, pod("a", "10.244.0.5", ready=False))
    await ctrl.sync(f"{NS}/web")
    [call] = client.calls_of("replace", "Endpoints")
    assert call.body["metadata"]["resourceVersion"] == created.resource_version
    assert "addresses" not in call.body["subsets"][0]
    assert call.body["subsets"][0]["notReadyAddresses"][0]["ip"] == "10.244.0.5"


async def test_stale_cache_conflict_raises_for_retry() -> None:
    client = FakeClient(namespace=NS)
    ctrl, _ = setup(svc(), pod("a", "10.244.0.5"), client=client)
    await ctrl.sync(f"{NS}/web")
    stale = client.stored(Endpoints, "web", NS)
    await client.patch(Endpoints, "web", {"metadata": {"labels": {"x": "y"}}}, namespace=NS)  # someone else wrote
    preload(ctrl.ep_informer, stale)
    preload(ctrl.pod_informer, pod("b", "10.244.0.6"))
    try:
        await ctrl.sync(f"{NS}/web")
    except errors.Conflict:
        pass
    else:
        raise AssertionError("a stale resourceVersion must surface as Conflict (the queue retries)")


async def test_selectorless_service_keeps_user_endpoints() -> None:
    user_ep = Endpoints.from_dict({"metadata": {"name": "ext", "namespace": NS, "resourceVersion": "4"},
                                   "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 5353}]}]})
    ctrl, client = setup(svc("ext", selector={}), user_ep, pod("a", "10.244.0.5"))
    await ctrl.sync(f"{NS}/ext")
    assert client.calls == []


async def test_deleted_service_deletes_endpoints() -> None:
    client = FakeClient(namespace=NS)
    client.add(Endpoints.from_dict({"metadata": {"name": "gone", "namespace": NS}}))
    ctrl, _ = setup(client=client)
    await ctrl.sync(f"{NS}/gone")
    assert [c.name for c in client.calls_of("delete", "Endpoints")] == ["gone"]
    await ctrl.sync(f"{NS}/gone")  # already gone: NotFound is fine


async def test_create_conflict_with_existing_object_updates_it() -> None:
    client = FakeClient(namespace=NS)
    client.add(Endpoints.from_dict({"metadata": {"name": "web", "namespace": NS, "resourceVersion": "1"}}))
    ctrl, _ = setup(svc(), pod("a", "10.244.0.5"), client=client)  # the informer has not seen it yet
    await ctrl.sync(f"{NS}/web")
    assert len(client.calls_of("replace", "Endpoints")) == 1
    assert client.stored(Endpoints, "web", NS).subsets[0].addresses[0].ip == "10.244.0.5"


async def test_pod_events_route_to_matching_services_only() -> None:
    ctrl, _ = setup(svc("web"), svc("db", selector={"app": "db"}), svc("ext", selector={}))
    ctrl._pod_updated(pod("a", "10.244.0.5", labels={"app": "db"}),
                      pod("a", "10.244.0.5", labels={"app": "web"}).model_copy(
                          update={"metadata": pod("a", None).metadata.model_copy(
                              update={"resourceVersion": "4", "labels": {"app": "web"}})}))
    keys = set()
    while len(ctrl.queue):
        key = await ctrl.queue.get()
        keys.add(key)
        ctrl.queue.done(key)
    assert keys == {f"{NS}/web", f"{NS}/db"}
