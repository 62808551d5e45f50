"""PATCH through the real server: merge, JSON, strategic merge, server-side apply, /status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON = {"Content-Type": "application/json-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"a": "1"}},
            "spec": {"containers": [
                {"name": "app", "image": "img:1", "env": [{"name": "A", "value": "1"}],
                 "ports": [{"containerPort": 80}]},
                {"name": "side", "image": "side:1"}]}}


async def test_merge_and_json_patch(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await http.post(base, json={"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}})
    r = await http.patch(f"{base}/c", headers=MERGE, json={"metadata": {"labels": {"b": None, "c": "3"}}})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["labels"] == {"a": "1", "c": "3"} and r.json()["data"] == {"k": "v"}
    r = await http.patch(f"{base}/c", headers=JSON, json=[{"op": "add", "path": "/data/n", "value": "m"},
                                                          {"op": "remove", "path": "/metadata/labels/a"}])
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"k": "v", "n": "m"} and r.json()["metadata"]["labels"] == {"c": "3"}
    r = await http.patch(f"{base}/c", headers=JSON, json=[{"op": "test", "path": "/data/k", "value": "nope"}])
    assert r.status_code == 422 and r.json()["kind"] == "Status"
    r = await http.patch(f"{base}/missing", headers=MERGE, json={"data": {}})
    assert r.status_code == 404


async def test_patch_resource_version_precondition(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = (await http.post(base, json={"metadata": {"name": "c"}})).json()["metadata"]["resourceVersion"]
    r = await http.patch(f"{base}/c", headers=MERGE, json={"metadata": {"resourceVersion": rv}, "data": {"x": "1"}})
    assert r.status_code == 200
    r = await http.patch(f"{base}/c", headers=MERGE, json={"metadata": {"resourceVersion": rv}, "data": {"x": "2"}})
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert (await http.get(f"{base}/c")).json()["data"] == {"x": "1"}


async def test_strategic_merge_patch_on_deployment(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    template = pod("t")
    template["metadata"] = {"labels": {"app": "d"}}
    dep = {"metadata": {"name": "d", "labels": {"a": "1"}},
           "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": template}}
    assert (await http.post(base, json=dep)).status_code == 201
    patch = {"spec": {"template": {"spec": {"containers": [
                 {"name": "app", "image": "img:2", "env": [{"name": "B", "value": "2"}]}]}}},
             "metadata": {"labels": {"b": "2"}}}
    r = await http.patch(f"{base}/d", headers=STRATEGIC, json=patch)
    assert r.status_code == 200, r.text
    spec = r.json()["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["app", "side"]
    app = spec["containers"][0]
    assert app["image"] == "img:2" and [e["name"] for e in app["env"]] == ["A", "B"]
    assert app["ports"][0]["containerPort"] == 80
    assert r.json()["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert r.json()["metadata"]["generation"] == 2
    r = await http.patch(f"{base}/d", headers=STRATEGIC,
                         json={"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}})
    assert [c["name"] for c in r.json()["spec"]["template"]["spec"]["containers"]] == ["app"]
    r = await http.patch(f"{base}/d", headers=STRATEGIC,
                         json={"metadata": {"labels": {"$patch": "explode"}}})
    assert r.status_code == 400


async def test_strategic_patch_on_pod_follows_pod_update_rules(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    assert (await http.post(base, json=pod("p"))).status_code == 201
    r = await http.patch(f"{base}/p", headers=STRATEGIC,
                         json={"spec": {"containers": [{"name": "side", "image": "side:2"}]}})
    assert r.status_code == 200, r.text
    assert [c["image"] for c in r.json()["spec"]["containers"]] == ["img:1", "side:2"]
    r = await http.patch(f"{base}/p", headers=STRATEGIC,
                         json={"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}})
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    env = (await http.get(f"{base}/p")).json()["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["A"]  # nothing written


async def test_status_patch_only_changes_status(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    await http.post(base, json=pod("s"))
    r = await http.patch(f"{base}/s/status", headers=MERGE,
                         json={"status": {"phase": "Running", "podIP": "10.244.0.5"},
                               "metadata": {"labels": {"sneaky": "yes"}}})
    assert r.status_code == 200, r.text
    assert r.json()["status"]["phase"] == "Running" and r.json()["status"]["podIP"] == "10.244.0.5"
    assert "sneaky" not in r.json()["metadata"]["labels"]
    r = await http.patch(f"{base}/s", headers=MERGE, json={"status": {"phase": "Failed"}})
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Running"  # main resource ignores status


async def test_server_side_apply(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    manifest = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: applied
  namespace: {namespace}
  labels: {{app: applied}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: applied}}}}
  template:
    metadata: {{labels: {{app: applied}}}}
    spec:
      containers:
      - name: app
        image: img:1
"""
    r = await http.patch(f"{base}/applied", headers=APPLY, content=manifest)
    assert r.status_code == 422  # fieldManager is required
    r = await http.patch(f"{base}/applied", headers=APPLY, params={"fieldManager": "test"}, content=manifest)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["spec"]["replicas"] == 2
    assert created["metadata"]["managedFields"][0]["manager"] == "test"
    # Someone else adds a label; re-applying a changed manifest keeps it.
    await http.patch(f"{base}/applied", headers=MERGE, json={"metadata": {"labels": {"extra": "x"}}})
    r = await http.patch(f"{base}/applied", headers=APPLY, params={"fieldManager": "test"},
                         content=manifest.replace("replicas: 2", "replicas: 3").replace("img:1", "img:2"))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["spec"]["replicas"] == 3 and d["spec"]["template"]["spec"]["containers"][0]["image"] == "img:2"
    assert d["metadata"]["labels"] == {"app": "applied", "extra": "x"}
    assert d["metadata"]["generation"] == 2 and len(d["metadata"]["managedFields"]) == 1


async def test_unsupported_patch_type_is_415(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await http.post(base, json={"metadata": {"name": "c"}})
    r = await http.patch(f"{base}/c", headers={"Content-Type": "application/json"}, json={"data": {}})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = await http.patch(f"{base}/c", headers=MERGE, content=b"{not json")
    assert r.status_code == 400 and r.json()["kind"] == "Status"
