"""Every failure is a Kubernetes Status with the right code, and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def assert_status(r: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert r.status_code == code, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason and body["message"]
    result: dict[Any, Any] = body
    return result


async def test_invalid_object_names_fields_and_writes_nothing(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    bad = {"metadata": {"name": "bad"}, "spec": {"containers": [{"name": "c", "image": 5}]}}
    body = assert_status(await http.post(base, json=bad), 422, "Invalid")
    fields = [c["field"] for c in body["details"]["causes"]]
    assert "spec.containers[0].image" in fields
    assert body["details"]["name"] == "bad" and body["details"]["kind"] == "Pod"
    assert (await http.get(f"{base}/bad")).status_code == 404

    body = assert_status(await http.post(base, json={"spec": {"containers": [{"name": "c", "image": "i"}]}}),
                         422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert (await http.get(base)).json()["items"] == []


async def test_malformed_bodies_are_400(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    assert_status(await http.post(base, content=b'{"metadata": ', headers={"Content-Type": "application/json"}),
                  400, "BadRequest")
    assert_status(await http.post(base, content=b"a: [b", headers={"Content-Type": "application/yaml"}),
                  400, "BadRequest")
    assert_status(await http.post(base, json=[1, 2]), 400, "BadRequest")
    assert_status(await http.post(base, json={"kind": "Secret", "metadata": {"name": "x"}}), 400, "BadRequest")
    assert_status(await http.post(base, content=b"", headers={"Content-Type": "application/json"}),
                  400, "BadRequest")
    assert_status(await http.post(base, content=b"x", headers={"Content-Type": "application/vnd.weird"}),
                  415, "UnsupportedMediaType")
    assert (await http.get(base)).json()["items"] == []


async def test_yaml_and_missing_content_type_are_accepted(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    r = await http.post(base, content=b"metadata:\n  name: y\ndata:\n  k: v\n",
                        headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201 and r.json()["data"] == {"k": "v"}
    req = http.build_request("POST", base, content=b'{"metadata": {"name": "noct"}}')
    req.headers.pop("Content-Type", None)
    r = await http.send(req)
    assert r.status_code == 201, r.text


async def test_body_too_large_is_413(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 10)}}
    assert_status(await http.post(base, json=big), 413, "RequestEntityTooLarge")
    assert (await http.get(f"{base}/big")).status_code == 404


async def test_unknown_paths_methods_and_queries(http: httpx.AsyncClient, namespace: str) -> None:
    assert_status(await http.get("/api/v1/namespaces/default/widgets"), 404, "NotFound")
    assert_status(await http.get("/apis/nope/v1/things"), 404, "NotFound")
    assert_status(await http.get("/totally/unknown"), 404, "NotFound")
    assert_status(await http.get("/api/v2"), 404, "NotFound")
    assert_status(await http.get(f"/api/v1/namespaces/{namespace}/pods/x/nonsense"), 404, "NotFound")
    body = assert_status(await http.get(f"/api/v1/namespaces/{namespace}/pods/nope"), 404, "NotFound")
    assert body["message"] == 'pods "nope" not found' and body["details"]["name"] == "nope"
    body = assert_status(await http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/nope"), 404, "NotFound")
    assert body["message"] == 'deployments.apps "nope" not found'
    assert_status(await http.post(f"/api/v1/namespaces/{namespace}/configmaps/x", json={}), 405, "MethodNotAllowed")
    assert_status(await http.post("/api/v1/pods", json={}), 405, "MethodNotAllowed")
    assert_status(await http.request("OPTIONS", "/version"), 405, "MethodNotAllowed")
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    assert_status(await http.get(base, params={"labelSelector": "a in (b"}), 400, "BadRequest")
    assert_status(await http.get(base, params={"fieldSelector": "a=b=c"}), 400, "BadRequest")
    assert_status(await http.get(base, params={"continue": "garbage!"}), 400, "BadRequest")
    assert_status(await http.get(base, params={"limit": "many"}), 400, "BadRequest")
    assert_status(await http.delete(f"{base}/x", params={"gracePeriodSeconds": "soon"}), 400, "BadRequest")
    assert_status(await http.post(base, params={"dryRun": "Some"}, json={"metadata": {"name": "d"}}),
                  400, "BadRequest")


class _BrokenStorage:
    """A storage whose reads blow up: the server must answer a short 500 Status."""

    async def get(self, key: str) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    async def list(self, prefix: str, **kwargs: object) -> object:
        raise KeyError("boom")


async def test_unexpected_exception_is_500_status_and_extra_routers_win() -> None:
    from fastapi import APIRouter

    from apiserver.app import create_app
    from apiserver.config import ApiServerConfig

    extra = APIRouter()

    @extra.get("/api/v1/namespaces/{ns}/pods/{name}/log")
    async def pod_log(ns: str, name: str) -> dict[str, Any]:
        return {"log": f"{ns}/{name}"}

    @extra.get("/api/v1/namespaces/{ns}/pods/{name}/exec")
    async def pod_exec(ns: str, name: str) -> dict[str, Any]:
        raise ZeroDivisionError("bad luck")

    app = create_app(ApiServerConfig(), storage=_BrokenStorage(), extra_routers=[extra])  # type: ignore[arg-type]
    # raise_app_exceptions=True: the app answers and never raises (so nothing logs it twice).
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/api/v1/namespaces/default/pods/x")
        body = assert_status(r, 500, "InternalError")
        assert "disk on fire" in body["message"] and "Traceback" not in body["message"]
        assert r.headers["connection"] == "close"  # issue 19 item 5: the client knows to reconnect
        # The same answer when the route runs through FastAPI's stack (a FastAPI router).
        r = await client.get("/api/v1/namespaces/default/pods/x/exec")
        assert "bad luck" in assert_status(r, 500, "InternalError")["message"]
        assert r.headers["connection"] == "close"
        assert_status(await client.get("/api/v1/namespaces/default/pods"), 500, "InternalError")
        r = await client.get("/api/v1/namespaces/default/pods/x/log")
        assert r.status_code == 200 and r.json() == {"log": "default/x"}
        assert_status(await client.get("/api/v1/namespaces/default/pods/x/nope"), 404, "NotFound")
