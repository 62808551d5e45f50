"""ApiClient requests against httpx.MockTransport: CRUD paths, bodies and typed results."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from machinery import errors
from machinery.client import ObjectList
from machinery.meta import ObjectMeta
from tests.unit.client_support import (
    FakeServer,
    FDeployment,
    FNode,
    FPod,
    FStrict,
    body_of,
    echo,
    make_client,
)

# -- CRUD: paths, bodies, typed results -----------------------------------------------------

async def test_create_namespaced_posts_json_and_returns_typed_object() -> None:
    server = FakeServer(echo)
    client, _ = make_client(server)
    pod = FPod(metadata=ObjectMeta(name="web", namespace="ns1"), spec={"containers": []})
    created = await client.create(pod)
    req = server.last
    assert (req.method, req.url.path) == ("POST", "/api/v1/namespaces/ns1/pods")
    assert req.headers["content-type"] == "application/json"
    assert body_of(req) == {"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": "web", "namespace": "ns1"}, "spec": {"containers": []}}
    assert isinstance(created, FPod) and created.resource_version == "42"
    assert "dryRun" not in req.url.params


async def test_create_defaults_namespace_and_dry_run() -> None:
    server = FakeServer(echo)
    client, _ = make_client(server, namespace="team")
    await client.create(FPod(metadata=ObjectMeta(name="a")), dry_run=True)
    assert server.last.url.path == "/api/v1/namespaces/team/pods"
    assert server.last.url.params["dryRun"] == "All"
    await client.create(FPod(metadata=ObjectMeta(name="a", namespace="x")), namespace="y")
    assert server.last.url.path == "/api/v1/namespaces/y/pods"


async def test_cluster_scoped_and_group_paths() -> None:
    server = FakeServer(echo)
    client, _ = make_client(server)
    await client.create(FNode(metadata=ObjectMeta(name="n1")), namespace="ignored")
    assert server.last.url.path == "/api/v1/nodes"
    server.answers = [httpx.Response(200, json={"metadata": {"name": "web", "namespace": "default"}})]
    dep = await client.get(FDeployment, "web")
    assert server.last.url.path == "/apis/apps/v1/namespaces/default/deployments/web"
    assert isinstance(dep, FDeployment) and dep.apiVersion == "apps/v1" and dep.kind == "Deployment"
    await client.get(FNode, "n1")
    assert server.last.url.path == "/api/v1/nodes/n1"


async def test_list_params_and_object_list() -> None:
    answer = {"kind": "PodList", "apiVersion": "v1",
              "metadata": {"resourceVersion": "77", "continue": "tok2"},
              "items": [{"metadata": {"name": "a", "namespace": "n"}},
                        {"metadata": {"name": "b", "namespace": "m"}}]}
    server = FakeServer(httpx.Response(200, json=answer))
    client, _ = make_client(server)
    result = await client.list(FPod, label_selector="app=web,tier!=db", field_selector="spec.nodeName=n1",
                               limit=2, continue_token="tok1")
    req = server.last
    assert req.url.path == "/api/v1/pods"  # namespace None: all namespaces
    assert dict(req.url.params) == {"labelSelector": "app=web,tier!=db", "fieldSelector": "spec.nodeName=n1",
                                    "limit": "2", "continue": "tok1"}
    assert isinstance(result, ObjectList)
    assert [p.key for p in result.items] == ["n/a", "m/b"]
    assert all(isinstance(p, FPod) and p.kind == "Pod" for p in result.items)
    assert (result.resource_version, result.continue_token) == ("77", "tok2")
    assert result.raw == answer
    server.answers = [httpx.Response(200, json={"metadata": {"resourceVersion": "1"}, "items": None})]
    empty = await client.list(FPod, namespace="n")
    assert server.last.url.path == "/api/v1/namespaces/n/pods" and not server.last.url.params
    assert empty.items == [] and empty.continue_token is None


async def test_replace_and_replace_status_carry_resource_version() -> None:
    server = FakeServer(echo)
    client, _ = make_client(server)
    pod = FPod(metadata=ObjectMeta(name="web", namespace="n", resourceVersion="9"), status={"phase": "Running"})
    await client.replace(pod)
    assert (server.last.method, server.last.url.path) == ("PUT", "/api/v1/namespaces/n/pods/web")
    assert body_of(server.last)["metadata"]["resourceVersion"] == "9"
    await client.replace_status(pod)
    assert server.last.url.path == "/api/v1/namespaces/n/pods/web/status"
    await client.replace(pod, subresource="scale")
    assert server.last.url.path == "/api/v1/namespaces/n/pods/web/scale"


@pytest.mark.parametrize(("patch_type", "patch", "content_type"), [
    ("merge", {"spec": {"replicas": 3}}, "application/merge-patch+json"),
    ("strategic", {"spec": {"replicas": 3}}, "application/strategic-merge-patch+json"),
    ("json", [{"op": "replace", "path": "/spec/replicas", "value": 3}], "application/json-patch+json"),
])
async def test_patch_content_types(patch_type: str, patch: Any, content_type: str) -> None:
    server = FakeServer(httpx.Response(200, json={"metadata": {"name": "web"}}))
    client, _ = make_client(server)
    result = await client.patch(FDeployment, "web", patch, namespace="n", patch_type=patch_type)  # type: ignore[arg-type]
    req = server.last
    assert (req.method, req.url.path) == ("PATCH", "/apis/apps/v1/namespaces/n/deployments/web")
    assert req.headers["content-type"] == content_type
    assert body_of(req) == patch
    assert isinstance(result, FDeployment)


async def test_patch_apply_needs_field_manager_and_sends_force() -> None:
    server = FakeServer(httpx.Response(200, json={"metadata": {"name": "web"}}))
    client, _ = make_client(server)
    with pytest.raises(ValueError, match="field_manager"):
        await client.patch(FPod, "web", {"spec": {}}, patch_type="apply")
    with pytest.raises(ValueError, match="list of operations"):
        await client.patch(FPod, "web", {"spec": {}}, patch_type="json")
    with pytest.raises(ValueError, match="object"):
        await client.patch(FPod, "web", [{"op": "remove", "path": "/a"}], patch_type="merge")
    with pytest.raises(ValueError, match="patch_type"):
        await client.patch(FPod, "web", {}, patch_type="bogus")  # type: ignore[arg-type]
    assert server.requests == []  # nothing invalid was sent
    await client.patch(FPod, "web", {"status": {"phase": "Failed"}}, patch_type="apply",
                       field_manager="kubelet", force=True, subresource="status")
    req = server.last
    assert req.url.path == "/api/v1/namespaces/default/pods/web/status"
    assert req.headers["content-type"] == "application/apply-patch+yaml"
    assert dict(req.url.params) == {"fieldManager": "kubelet", "force": "true"}


async def test_delete_sends_delete_options() -> None:
    server = FakeServer(httpx.Response(200, json={"kind": "Status", "status": "Success"}))
    client, _ = make_client(server)
    answer = await client.delete(FPod, "web", namespace="n", grace_period_s=0,
                                 propagation_policy="Foreground", preconditions={"uid": "u1"})
    req = server.last
    assert (req.method, req.url.path) == ("DELETE", "/api/v1/namespaces/n/pods/web")
    assert body_of(req) == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                            "propagationPolicy": "Foreground", "preconditions": {"uid": "u1"}}
    assert answer["status"] == "Success"
    await client.delete(FNode, "n1")
    assert body_of(server.last) == {"kind": "DeleteOptions", "apiVersion": "v1"}
    assert server.last.url.path == "/api/v1/nodes/n1"


async def test_delete_collection() -> None:
    server = FakeServer(httpx.Response(200, json={"kind": "PodList", "items": []}))
    client, _ = make_client(server)
    await client.delete_collection(FPod, namespace="n", label_selector="app=web")
    req = server.last
    assert (req.method, req.url.path) == ("DELETE", "/api/v1/namespaces/n/pods")
    assert dict(req.url.params) == {"labelSelector": "app=web"}


async def test_bind_posts_binding() -> None:
    server = FakeServer(httpx.Response(201, json={"kind": "Status", "status": "Success"}))
    client, _ = make_client(server)
    await client.bind("n", "web", "node-1")
    req = server.last
    assert (req.method, req.url.path) == ("POST", "/api/v1/namespaces/n/pods/web/binding")
    assert body_of(req) == {"apiVersion": "v1", "kind": "Binding",
                            "metadata": {"name": "web", "namespace": "n"},
                            "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}


async def test_request_raw_json_and_text_and_headers() -> None:
    server = FakeServer(httpx.Response(200, json={"major": "1"}),
                        httpx.Response(200, text="line1\nline2\n", headers={"content-type": "text/plain"}))
    client, _ = make_client(server, token="s3cret", user_agent="kubelite-test/1")
    assert await client.request("get", "/version") == {"major": "1"}
    assert server.last.headers["authorization"] == "Bearer s3cret"
    assert server.last.headers["user-agent"] == "kubelite-test/1"
    text = await client.request("GET", "/api/v1/namespaces/n/pods/p/log", params={"tailLines": 2})
    assert text == "line1\nline2\n" and server.last.url.params["tailLines"] == "2"


async def test_missing_name_is_a_bad_request_not_a_request() -> None:
    server = FakeServer(echo)
    client, _ = make_client(server)
    with pytest.raises(errors.BadRequest):
        await client.get(FPod, "")
    assert server.requests == []


async def test_invalid_server_answer_is_an_api_error() -> None:
    server = FakeServer(httpx.Response(200, json={"metadata": {"name": "x"}}))
    client, _ = make_client(server)
    with pytest.raises(errors.InternalError, match="Strict"):
        await client.get(FStrict, "x")
