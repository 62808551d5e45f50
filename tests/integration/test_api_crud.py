"""CRUD through the real API server on real etcd: every verb, subresources, deletion flows."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
import pytest

from machinery.client import ApiClient
from machinery.models import ConfigMap, Pod

pytestmark = pytest.mark.integration


def pod(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": {"containers": [{"name": "app", "image": "kubelite/busybox:latest"}]}}


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "kubelite/busybox:latest"}]}}}}


async def test_pod_create_get_list_update_delete(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    r = await http.post(base, json=pod("p1", resourceVersion="999", uid="mine"))
    assert r.status_code == 201, r.text
    created = r.json()
    meta = created["metadata"]
    assert meta["namespace"] == namespace and meta["uid"] != "mine" and len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert meta["resourceVersion"] != "999" and created["status"]["phase"] == "Pending"
    assert created["kind"] == "Pod" and created["apiVersion"] == "v1"

    got = (await http.get(f"{base}/p1")).json()
    assert got == created

    listed = (await http.get(base)).json()
    assert listed["kind"] == "PodList" and listed["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["p1"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
    all_ns = (await http.get("/api/v1/pods")).json()
    assert "p1" in [i["metadata"]["name"] for i in all_ns["items"]]

    got["metadata"]["labels"] = {"x": "y"}
    r = await http.put(f"{base}/p1", json=got)
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["metadata"]["labels"] == {"x": "y"}
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert updated["metadata"]["generation"] == 1  # metadata-only change
    assert updated["metadata"]["uid"] == meta["uid"]

    r = await http.delete(f"{base}/p1")  # unbound: deleted at once
    assert r.status_code == 200 and r.json()["metadata"]["name"] == "p1"
    assert (await http.get(f"{base}/p1")).status_code == 404


async def test_conflicts(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    r = await http.post(base, json={"metadata": {"name": "c"}, "data": {"a": "1"}})
    assert r.status_code == 201
    stale = r.json()
    again = await http.post(base, json={"metadata": {"name": "c"}})
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"
    assert again.json()["message"] == 'configmaps "c" already exists'

    fresh = dict(stale, data={"a": "2"})
    assert (await http.put(f"{base}/c", json=fresh)).status_code == 200
    r = await http.put(f"{base}/c", json=dict(stale, data={"a": "3"}))
    assert r.status_code == 409
    status = r.json()
    assert status["kind"] == "Status" and status["reason"] == "Conflict"
    assert status["message"] == ('Operation cannot be fulfilled on configmaps "c": the object has been '
                                 "modified; please apply your changes to the latest version and try again")
    assert (await http.get(f"{base}/c")).json()["data"] == {"a": "2"}  # the stale write wrote nothing

    unconditional = {"metadata": {"name": "c"}, "data": {"a": "4"}}
    assert (await http.put(f"{base}/c", json=unconditional)).status_code == 200
    assert (await http.get(f"{base}/c")).json()["data"] == {"a": "4"}

    r = await http.put(f"{base}/c", json={"metadata": {"name": "other"}, "data": {}})
    assert r.status_code == 400
    r = await http.post(base, json={"metadata": {"name": "x", "namespace": "elsewhere"}})
    assert r.status_code == 400
    assert r.json()["message"] == ("the namespace of the provided object does not match the namespace "
                                   "sent on the request")


async def test_generate_name_and_dry_run(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    names = set()
    for _ in range(3):
        r = await http.post(base, json={"metadata": {"generateName": "gen-"}})
        assert r.status_code == 201
        name = r.json()["metadata"]["name"]
        assert name.startswith("gen-") and len(name) == 9 and name[4:].isalnum() and name[4:].islower()
        names.add(name)
    assert len(names) == 3
    r = await http.post(base, params={"dryRun": "All"}, json={"metadata": {"name": "dry"}})
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
    assert (await http.get(f"{base}/dry")).status_code == 404


async def test_selectors_and_paging(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(7):
        labels = {"tier": "web" if i % 2 == 0 else "db", "n": str(i)}
        assert (await http.post(base, json={"metadata": {"name": f"cm{i}", "labels": labels}})).status_code == 201
    web = (await http.get(base, params={"labelSelector": "tier=web"})).json()["items"]
    assert [i["metadata"]["name"] for i in web] == ["cm0", "cm2", "cm4", "cm6"]
    notin = (await http.get(base, params={"labelSelector": "tier,n notin (0,2)"})).json()["items"]
    assert [i["metadata"]["name"] for i in notin] == ["cm1", "cm3", "cm4", "cm5", "cm6"]
    one = (await http.get(base, params={"fieldSelector": "metadata.name=cm3"})).json()["items"]
    assert [i["metadata"]["name"] for i in one] == ["cm3"]
    ns_sel = (await http.get("/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={namespace}"})).json()
    assert len(ns_sel["items"]) == 7

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, "labelSelector": "tier"}
        if token:
            params["continue"] = token
        page = (await http.get(base, params=params)).json()
        seen += [i["metadata"]["name"] for i in page["items"]]
        pages += 1
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == [f"cm{i}" for i in range(7)] and pages == 3

    r = await http.delete(base, params={"labelSelector": "tier=db"})
    assert r.status_code == 200 and sorted(i["metadata"]["name"] for i in r.json()["items"]) == ["cm1", "cm3", "cm5"]
    left = (await http.get(base)).json()["items"]
    assert [i["metadata"]["name"] for i in left] == ["cm0", "cm2", "cm4", "cm6"]


async def test_services_cluster_ip_allocation(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/services"
    spec = {"selector": {"app": "x"}, "ports": [{"port": 80}]}
    r = await http.post(base, json={"metadata": {"name": "a"}, "spec": spec})
    assert r.status_code == 201, r.text
    ip = r.json()["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/16")
    assert ip not in ("10.96.0.1", "10.96.0.10") and r.json()["spec"]["clusterIPs"] == [ip]

    r = await http.post(base, json={"metadata": {"name": "b"}, "spec": {**spec, "clusterIP": ip}})
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "spec.clusterIP"
    assert (await http.get(f"{base}/b")).status_code == 404

    r = await http.post(base, json={"metadata": {"name": "h"}, "spec": {**spec, "clusterIP": "None"}})
    assert r.status_code == 201 and r.json()["spec"]["clusterIP"] == "None"

    r = await http.post(base, json={"metadata": {"name": "np"}, "spec": {**spec, "type": "NodePort"}})
    assert r.status_code == 201
    assert 30000 <= r.json()["spec"]["ports"][0]["nodePort"] <= 32767

    # An update that leaves clusterIP empty keeps it (as Kubernetes does).
    current = (await http.get(f"{base}/a")).json()
    current["spec"].pop("clusterIP")
    current["spec"].pop("clusterIPs")
    current["metadata"]["labels"] = {"l": "1"}
    r = await http.put(f"{base}/a", json=current)
    assert r.status_code == 200 and r.json()["spec"]["clusterIP"] == ip

    assert (await http.delete(f"{base}/a")).status_code == 200
    r = await http.post(base, json={"metadata": {"name": "b"}, "spec": {**spec, "clusterIP": ip}})
    assert r.status_code == 201, r.text  # released on delete

    kube = (await http.get("/api/v1/namespaces/default/services/kubernetes")).json()
    assert kube["spec"]["clusterIP"] == "10.96.0.1"


async def test_deployment_generation_status_and_scale(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    r = await http.post(base, json=deployment("web"))
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["metadata"]["generation"] == 1

    d["metadata"]["labels"] = {"a": "b"}
    d["status"] = {"replicas": 5}
    d = (await http.put(f"{base}/web", json=d)).json()
    assert d["metadata"]["generation"] == 1 and "replicas" not in (d.get("status") or {})

    d["spec"]["replicas"] = 3
    d = (await http.put(f"{base}/web", json=d)).json()
    assert d["metadata"]["generation"] == 2

    d["status"] = {"replicas": 3, "observedGeneration": 2}
    d["spec"]["replicas"] = 10  # ignored on /status
    r = await http.put(f"{base}/web/status", json=d)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"]["replicas"] == 3 and d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 2

    scale = (await http.get(f"{base}/web/scale")).json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 3} and scale["status"] == {"replicas": 3, "selector": "app=web"}
    scale["spec"]["replicas"] = 5
    r = await http.put(f"{base}/web/scale", json=scale)
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 5
    r = await http.put(f"{base}/web/scale", json=scale)  # stale resourceVersion
    assert r.status_code == 409
    r = await http.patch(f"{base}/web/scale", json={"spec": {"replicas": 2}},
                         headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 2
    d = (await http.get(f"{base}/web")).json()
    assert d["spec"]["replicas"] == 2 and d["metadata"]["generation"] == 4
    r = await http.put(f"{base}/web/scale", json={"spec": {"replicas": -1}})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.replicas"


async def test_events_and_leases(http: httpx.AsyncClient, namespace: str) -> None:
    ev = {"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p1", "namespace": namespace},
          "reason": "Started", "message": "hi", "type": "Normal"}
    assert (await http.post(f"/api/v1/namespaces/{namespace}/events", json=ev)).status_code == 201
    ev2 = {**ev, "metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "p2"}}
    assert (await http.post(f"/api/v1/namespaces/{namespace}/events", json=ev2)).status_code == 201
    items = (await http.get(f"/api/v1/namespaces/{namespace}/events",
                            params={"fieldSelector": "involvedObject.name=p1"})).json()["items"]
    assert [i["metadata"]["name"] for i in items] == ["e1"]

    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    lease = {"metadata": {"name": "node-1"}, "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}
    r = await http.post(base, json=lease)
    assert r.status_code == 201, r.text
    got = r.json()
    got["spec"]["renewTime"] = "2026-01-01T00:00:00.000000Z"
    r = await http.put(f"{base}/node-1", json=got)
    assert r.status_code == 200 and r.json()["spec"]["holderIdentity"] == "node-1"
    assert (await http.delete(f"{base}/node-1")).status_code == 200


async def test_namespace_lifecycle(http: httpx.AsyncClient) -> None:
    r = await http.post("/api/v1/namespaces/does-not-exist/configmaps", json={"metadata": {"name": "c"}})
    assert r.status_code == 404 and r.json()["message"] == 'namespaces "does-not-exist" not found'
    r = await http.delete("/api/v1/namespaces/default")
    assert r.status_code == 403 and r.json()["reason"] == "Forbidden"

    r = await http.post("/api/v1/namespaces", json={"metadata": {"name": "lifecycle-ns"}})
    assert r.status_code == 201
    ns = r.json()
    assert ns["spec"]["finalizers"] == ["kubernetes"] and ns["status"]["phase"] == "Active"
    r = await http.delete("/api/v1/namespaces/lifecycle-ns")
    assert r.status_code == 200
    ns = r.json()
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    r = await http.post("/api/v1/namespaces/lifecycle-ns/configmaps", json={"metadata": {"name": "c"}})
    assert r.status_code == 403 and "is being terminated" in r.json()["message"]
    assert r.json()["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    ns["spec"]["finalizers"] = []
    r = await http.put("/api/v1/namespaces/lifecycle-ns/finalize", json=ns)
    assert r.status_code == 200
    assert (await http.get("/api/v1/namespaces/lifecycle-ns")).status_code == 404


async def test_finalizers_hold_deletion(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await http.post(base, json={"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    r = await http.delete(f"{base}/f")
    assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]
    held = (await http.get(f"{base}/f")).json()
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["example.com/hold"]
    held["metadata"]["finalizers"].append("new.example.com/x")
    assert (await http.put(f"{base}/f", json=held)).status_code == 422  # no new finalizers while deleting
    held["metadata"]["finalizers"] = []
    assert (await http.put(f"{base}/f", json=held)).status_code == 200
    assert (await http.get(f"{base}/f")).status_code == 404

    await http.post(base, json={"metadata": {"name": "o"}})
    r = await http.request("DELETE", f"{base}/o", json={"propagationPolicy": "Orphan"})
    assert r.status_code == 200 and r.json()["metadata"]["finalizers"] == ["orphan"]
    r = await http.delete(f"{base}/o", params={"propagationPolicy": "Sideways"})
    assert r.status_code == 422

    await http.post(base, json={"metadata": {"name": "pre"}})
    r = await http.request("DELETE", f"{base}/pre", json={"preconditions": {"uid": "wrong"}})
    assert r.status_code == 409 and "Precondition failed" in r.json()["message"]
    assert (await http.get(f"{base}/pre")).status_code == 200


async def test_pod_binding_and_graceful_deletion(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    await http.post(base, json=pod("g"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "g"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    r = await http.post(f"{base}/g/binding", json=binding)
    assert r.status_code == 201 and r.json()["status"] == "Success"
    bound = (await http.get(f"{base}/g")).json()
    assert bound["spec"]["nodeName"] == "node-a"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in bound["status"]["conditions"])
    r = await http.post(f"/api/v1/namespaces/{namespace}/bindings", json={**binding, "target": {"name": "node-b"}})
    assert r.status_code == 409 and 'already assigned to node "node-a"' in r.json()["message"]

    r = await http.delete(f"{base}/g")
    assert r.status_code == 200
    meta = r.json()["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    assert (await http.get(f"{base}/g")).status_code == 200  # waits for the kubelet
    r = await http.delete(f"{base}/g", params={"gracePeriodSeconds": "10"})
    assert r.json()["metadata"]["deletionGracePeriodSeconds"] == 10
    r = await http.delete(f"{base}/g", params={"gracePeriodSeconds": "0"})
    assert r.status_code == 200
    assert (await http.get(f"{base}/g")).status_code == 404


async def test_typed_client_roundtrip(api_client: ApiClient, namespace: str) -> None:
    cm = await api_client.create(ConfigMap.from_dict({"metadata": {"name": "typed"}, "data": {"k": "v"}}), namespace=namespace)
    assert cm.metadata.uid and cm.data == {"k": "v"}
    cm.data = {"k": "w"}
    cm2 = await api_client.replace(cm)
    assert cm2.data == {"k": "w"}
    listed = await api_client.list(ConfigMap, namespace=namespace)
    assert [c.name for c in listed.items] == ["typed"] and listed.resource_version
    p = await api_client.create(Pod.from_dict(pod("tp")), namespace=namespace)
    await api_client.bind(namespace, "tp", "n1")
    assert (await api_client.get(Pod, "tp", namespace=namespace)).spec.nodeName == "n1"  # type: ignore[union-attr]
    assert p.metadata.uid


async def test_discovery_and_version(http: httpx.AsyncClient) -> None:
    v = (await http.get("/version")).json()
    assert v["major"] == "1" and v["gitVersion"].startswith("v1.") and "kubelite" in v["gitVersion"]
    api = (await http.get("/api")).json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    core = (await http.get("/api/v1")).json()
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["kind"] == "Pod" and by_name["pods"]["namespaced"] is True
    assert "po" in by_name["pods"]["shortNames"] and "watch" in by_name["pods"]["verbs"]
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert by_name["pods/binding"]["kind"] == "Binding"
    assert by_name["namespaces"]["namespaced"] is False
    groups = (await http.get("/apis")).json()
    names = {g["name"] for g in groups["groups"]}
    assert {"apps", "batch", "coordination.k8s.io"} <= names
    apps = (await http.get("/apis/apps/v1")).json()
    scale = {r["name"]: r for r in apps["resources"]}["deployments/scale"]
    assert scale["kind"] == "Scale" and scale["group"] == "autoscaling"
    assert (await http.get("/apis/apps")).json()["preferredVersion"]["groupVersion"] == "apps/v1"
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200


async def test_dry_run_update_delete_and_exact_list(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    first = (await http.post(base, json={"metadata": {"name": "a"}, "data": {"v": "1"}})).json()
    rv = first["metadata"]["resourceVersion"]
    await http.post(base, json={"metadata": {"name": "b"}})
    old = (await http.get(base, params={"resourceVersion": rv, "resourceVersionMatch": "Exact"})).json()
    assert [i["metadata"]["name"] for i in old["items"]] == ["a"] and old["metadata"]["resourceVersion"] == rv

    r = await http.put(f"{base}/a", params={"dryRun": "All"}, json={**first, "data": {"v": "2"}})
    assert r.status_code == 200 and r.json()["data"] == {"v": "2"}
    r = await http.delete(f"{base}/a", params={"dryRun": "All"})
    assert r.status_code == 200
    r = await http.patch(f"{base}/a", params={"dryRun": "All"}, json={"data": {"v": "3"}},
                         headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["data"] == {"v": "3"}
    assert (await http.get(f"{base}/a")).json() == first  # nothing was written

    r = await http.delete(f"{base}/b", params={"propagationPolicy": "Foreground"})
    assert r.status_code == 200
    meta = r.json()["metadata"]
    assert meta["finalizers"] == ["foregroundDeletion"] and meta["deletionTimestamp"]
