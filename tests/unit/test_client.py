"""ApiClient against httpx.MockTransport (and, for stream cut-offs, a tiny loopback server).

Fake resource classes stand in for machinery.models so these tests only depend on the
client and the path rules (class attributes GROUP/VERSION/PLURAL/NAMESPACED).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from machinery import errors
from machinery.client import ApiClient, ObjectList
from machinery.meta import ObjectMeta, Resource


class FPod(Resource):
    KIND = "Pod"
    PLURAL = "pods"
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


class FNode(Resource):
    KIND = "Node"
    PLURAL = "nodes"
    NAMESPACED = False


class FDeployment(Resource):
    GROUP = "apps"
    KIND = "Deployment"
    PLURAL = "deployments"
    spec: dict[str, Any] | None = None


class FStrict(Resource):
    """A kind with a required field: bookmarks must still build a model for it."""

    KIND = "Strict"
    PLURAL = "stricts"
    target: dict[str, Any]


Handler = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """Records requests; answers from a script (one entry per request) or a handler."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def make_client(server: FakeServer, **kw: Any) -> tuple[ApiClient, list[float]]:
    client = ApiClient("http://kubelite.test", transport=httpx.MockTransport(server),
                       retry_delays_s=kw.pop("retry_delays_s", (0.1, 0.2, 0.5)), **kw)
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    client._sleep = fake_sleep
    return client, slept


def echo(request: httpx.Request) -> httpx.Response:
    """Answer with the request body, plus a resourceVersion, like a create/update does."""
    body = json.loads(request.content)
    body.setdefault("metadata", {})["resourceVersion"] = "42"
    return httpx.Response(200, json=body)


def status(code: int, reason: str, message: str = "nope", **details: Any) -> httpx.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code, "details": details}
    return httpx.Response(code, json=body)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


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


# -- error mapping ----------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "reason", "cls"), [
    (400, "BadRequest", errors.BadRequest), (401, "Unauthorized", errors.Unauthorized),
    (403, "Forbidden", errors.Forbidden), (404, "NotFound", errors.NotFound),
    (405, "MethodNotAllowed", errors.MethodNotAllowed), (409, "AlreadyExists", errors.AlreadyExists),
    (409, "Conflict", errors.Conflict), (410, "Gone", errors.Gone), (410, "Expired", errors.Expired),
    (413, "RequestEntityTooLarge", errors.RequestEntityTooLarge),
    (415, "UnsupportedMediaType", errors.UnsupportedMediaType), (422, "Invalid", errors.Invalid),
])
async def test_status_errors_map_to_classes_without_retry(code: int, reason: str, cls: type[errors.ApiError]) -> None:
    server = FakeServer(status(code, reason, "the message", name="web", kind="pods"))
    client, slept = make_client(server)
    with pytest.raises(cls) as info:
        await client.get(FPod, "web")
    assert type(info.value) is cls
    assert info.value.message == "the message" and info.value.name == "web"
    assert len(server.requests) == 1 and slept == []


@pytest.mark.parametrize(("code", "reason", "cls"), [
    (429, "TooManyRequests", errors.TooManyRequests), (500, "InternalError", errors.InternalError),
    (503, "ServiceUnavailable", errors.ServiceUnavailable), (504, "Timeout", errors.Timeout),
])
async def test_temporary_errors_retried_then_raised(code: int, reason: str, cls: type[errors.ApiError]) -> None:
    server = FakeServer(status(code, reason))
    client, slept = make_client(server, retry_delays_s=(0.1, 0.2, 0.5))
    with pytest.raises(cls):
        await client.get(FPod, "web")
    assert len(server.requests) == 4
    assert slept == [0.1, 0.2, 0.5]


async def test_request_without_retry_sends_once() -> None:
    # exec must not run twice: a 504 from the kubelet may come after the command already ran.
    server = FakeServer(status(504, "Timeout"), httpx.Response(200, json={"exitCode": 0}))
    client, slept = make_client(server, retry_delays_s=(0.1, 0.2))
    with pytest.raises(errors.Timeout):
        await client.request("POST", "/api/v1/namespaces/default/pods/p/exec", retry=False)
    assert len(server.requests) == 1 and slept == []


async def test_invalid_keeps_field_causes() -> None:
    causes = [{"reason": "FieldValueRequired", "field": "spec.containers[0].name", "message": "Required"}]
    server = FakeServer(status(422, "Invalid", "Pod \"x\" is invalid", causes=causes))
    client, _ = make_client(server)
    with pytest.raises(errors.Invalid) as info:
        await client.create(FPod(metadata=ObjectMeta(name="x")))
    assert info.value.causes == causes
    assert info.value.to_status()["details"]["causes"] == causes


@pytest.mark.parametrize(("code", "cls"), [(404, errors.NotFound), (403, errors.Forbidden),
                                           (502, errors.TemporaryError)])
async def test_non_status_body_maps_by_code(code: int, cls: type[errors.ApiError]) -> None:
    server = FakeServer(httpx.Response(code, text="<html>upstream says no</html>"))
    client, _ = make_client(server, retry_delays_s=())
    with pytest.raises(cls, match="upstream says no"):
        await client.get(FPod, "web")


# -- retries --------------------------------------------------------------------------------

async def test_503_then_success_is_retried_with_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer(status(503, "ServiceUnavailable"), status(503, "ServiceUnavailable"),
                        httpx.Response(200, json={"metadata": {"name": "web"}}))
    client, slept = make_client(server)
    with caplog.at_level(logging.WARNING, logger="machinery.client"):
        pod = await client.get(FPod, "web")
    assert pod.name == "web" and len(server.requests) == 3 and slept == [0.1, 0.2]
    lines = [r for r in caplog.records if r.name == "machinery.client"]
    assert len(lines) == 2 and "retry 1/3" in lines[0].getMessage() and "retry 2/3" in lines[1].getMessage()


async def test_429_honours_retry_after_header_and_status_details() -> None:
    server = FakeServer(httpx.Response(429, headers={"Retry-After": "3"}, text="slow down"),
                        status(429, "TooManyRequests", retryAfterSeconds=2),
                        status(503, "ServiceUnavailable", retryAfterSeconds=500),
                        httpx.Response(200, json={"metadata": {"name": "web"}}))
    client, slept = make_client(server)
    await client.get(FPod, "web")
    assert slept == [3.0, 2.0, 60.0]  # the server's delay wins; capped at 60 s


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadError("reset"),
                                 httpx.RemoteProtocolError("closed"), httpx.PoolTimeout("pool"),
                                 httpx.ReadTimeout("slow")])
async def test_connection_errors_retried_then_connection_failed(exc: Exception) -> None:
    server = FakeServer(exc)
    client, slept = make_client(server)
    with pytest.raises(errors.ConnectionFailed) as info:
        await client.get(FPod, "web")
    assert len(server.requests) == 4 and slept == [0.1, 0.2, 0.5]
    assert isinstance(info.value, errors.TemporaryError) and info.value.__cause__ is exc


async def test_connection_error_then_success() -> None:
    server = FakeServer(httpx.ConnectError("refused"), httpx.Response(200, json={"metadata": {"name": "n1"}}))
    client, slept = make_client(server)
    assert (await client.get(FNode, "n1")).name == "n1"
    assert slept == [0.1]


async def test_server_error_after_connection_errors_raises_server_error() -> None:
    server = FakeServer(httpx.ConnectError("refused"), status(503, "ServiceUnavailable", "etcd down"))
    client, _ = make_client(server, retry_delays_s=(0.1,))
    with pytest.raises(errors.ServiceUnavailable, match="etcd down"):
        await client.get(FPod, "web")


async def test_create_retried_after_lost_answer_surfaces_already_exists() -> None:
    """Documented behaviour: the first POST landed but its answer was lost; the retry gets 409."""
    server = FakeServer(httpx.ReadError("connection reset"), status(409, "AlreadyExists", "exists"))
    client, _ = make_client(server)
    with pytest.raises(errors.AlreadyExists):
        await client.create(FPod(metadata=ObjectMeta(name="web")))
    assert [r.method for r in server.requests] == ["POST", "POST"]
    assert server.requests[0].content == server.requests[1].content


async def test_retry_after_http_date_and_bad_server_url() -> None:
    server = FakeServer(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
                        httpx.Response(200, json={"metadata": {"name": "web"}}))
    client, slept = make_client(server)
    await client.get(FPod, "web")
    assert slept == [0.0]  # a date in the past: retry at once
    with pytest.raises(ValueError, match="http"):
        ApiClient("127.0.0.1:6443")


async def test_request_sends_raw_content_and_rejects_4xx_without_retry() -> None:
    server = FakeServer(httpx.Response(400, text="bad yaml"))
    client, slept = make_client(server)
    with pytest.raises(errors.BadRequest, match="bad yaml"):
        await client.request("POST", "/api/v1/namespaces/n/configmaps", content="a: [",
                             headers={"Content-Type": "application/yaml"})
    assert server.last.content == b"a: [" and server.last.headers["content-type"] == "application/yaml"
    assert len(server.requests) == 1 and slept == []


@pytest.mark.parametrize("header", ["Content-Type", "content-type"])
async def test_request_json_keeps_callers_content_type(header: str) -> None:
    server = FakeServer(httpx.Response(200, json={}))
    client, _ = make_client(server)
    await client.request("PATCH", "/api/v1/nodes/n1/status", json={"status": {}},
                         headers={header: "application/merge-patch+json"})
    assert server.last.headers.get_list("content-type") == ["application/merge-patch+json"]
    assert body_of(server.last) == {"status": {}}


async def test_real_connection_refused_is_connection_failed() -> None:
    from tests.support import free_port

    client = ApiClient(f"http://127.0.0.1:{free_port()}", retry_delays_s=(0.01, 0.01))
    async with client:
        with pytest.raises(errors.ConnectionFailed, match="ConnectError"):
            await client.get(FPod, "web")


# -- watch ------------------------------------------------------------------------------------

def stream_response(*chunks: bytes | Exception, code: int = 200) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk
            await asyncio.sleep(0)

    return httpx.Response(code, content=body(), headers={"content-type": "application/json"})


def ev(etype: str, name: str, rv: str) -> bytes:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "n", "resourceVersion": rv}}
    return json.dumps({"type": etype, "object": obj}).encode() + b"\n"


async def collect(client: ApiClient, cls: type[Resource] = FPod, **kw: Any) -> list[Any]:
    return [e async for e in client.watch(cls, **kw)]


async def test_watch_params_and_split_chunks() -> None:
    data = ev("ADDED", "a", "5") + ev("MODIFIED", "a", "6") + b"\n" + ev("DELETED", "a", "7")
    # Cut the byte stream at awkward places: mid-JSON, mid-UTF-8 free, right after "\n".
    chunks = [data[:7], data[7:60], data[60:61], data[61:150], data[150:]]
    server = FakeServer(stream_response(*chunks))
    client, _ = make_client(server)
    events = await collect(client, namespace="n", resource_version="4", label_selector="app=web",
                           field_selector="spec.nodeName=n1", timeout_s=60)
    req = server.last
    assert req.url.path == "/api/v1/namespaces/n/pods"
    assert dict(req.url.params) == {"watch": "1", "resourceVersion": "4", "allowWatchBookmarks": "true",
                                    "timeoutSeconds": "60", "labelSelector": "app=web",
                                    "fieldSelector": "spec.nodeName=n1"}
    assert req.extensions["timeout"]["read"] == 90.0
    assert [(e.type, e.object.name, e.object.resource_version) for e in events] == [
        ("ADDED", "a", "5"), ("MODIFIED", "a", "6"), ("DELETED", "a", "7")]
    assert all(isinstance(e.object, FPod) for e in events)
    assert events[0].raw["object"]["metadata"]["name"] == "a"


async def test_watch_without_timeout_has_no_read_timeout_and_all_namespaces() -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5")))
    client, _ = make_client(server)
    events = await collect(client, allow_bookmarks=False)
    assert server.last.url.path == "/api/v1/pods"
    assert dict(server.last.url.params) == {"watch": "1"}
    assert server.last.extensions["timeout"]["read"] is None
    assert len(events) == 1


async def test_watch_last_line_without_newline_is_delivered() -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5").rstrip(b"\n")))
    client, _ = make_client(server)
    assert [e.object.name for e in await collect(client)] == ["a"]


async def test_watch_bookmark_has_only_resource_version() -> None:
    bookmark = {"type": "BOOKMARK", "object": {"kind": "Strict", "apiVersion": "v1",
                                                "metadata": {"resourceVersion": "99"}}}
    server = FakeServer(stream_response(json.dumps(bookmark).encode() + b"\n"))
    client, _ = make_client(server)
    [event] = await collect(client, FStrict)
    assert event.type == "BOOKMARK" and isinstance(event.object, FStrict)
    assert event.object.resource_version == "99" and event.object.name == ""
    assert event.object.kind == "Strict" and event.object.apiVersion == "v1"


@pytest.mark.parametrize("reason", ["Expired", "Gone"])
async def test_watch_error_410_raises_expired_after_earlier_events(reason: str) -> None:
    err = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                       "reason": reason, "code": 410, "message": "too old resource version: 3"}}
    server = FakeServer(stream_response(ev("ADDED", "a", "5"), json.dumps(err).encode() + b"\n"))
    client, _ = make_client(server)
    seen: list[str] = []
    with pytest.raises(errors.Expired, match="too old"):  # noqa: PT012 - the stream raises mid-iteration
        async for event in client.watch(FPod):
            seen.append(event.type)
    assert seen == ["ADDED"]


async def test_watch_other_error_event_raises_matching_class() -> None:
    err = {"type": "ERROR", "object": {"kind": "Status", "reason": "InternalError", "code": 500, "message": "boom"}}
    server = FakeServer(stream_response(json.dumps(err).encode() + b"\n"))
    client, _ = make_client(server)
    with pytest.raises(errors.InternalError, match="boom"):
        await collect(client)
    assert len(server.requests) == 1  # an in-stream error is not retried by the client


async def test_watch_start_410_raises_expired_and_5xx_is_retried() -> None:
    server = FakeServer(status(410, "Expired", "too old"))
    client, _ = make_client(server)
    with pytest.raises(errors.Expired):
        await collect(client)
    server = FakeServer(status(503, "ServiceUnavailable"), httpx.ConnectError("refused"),
                        stream_response(ev("ADDED", "a", "5")))
    client, slept = make_client(server)
    assert len(await collect(client)) == 1 and slept == [0.1, 0.2]


@pytest.mark.parametrize("cut", [httpx.ReadError("reset"), httpx.RemoteProtocolError("peer closed")])
async def test_watch_connection_lost_mid_stream_raises_connection_failed(cut: Exception) -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5"), b'{"type": "MOD', cut))
    client, slept = make_client(server)
    seen: list[str] = []
    with pytest.raises(errors.ConnectionFailed):  # noqa: PT012 - the stream raises mid-iteration
        async for event in client.watch(FPod):
            seen.append(event.object.name)
    assert seen == ["a"] and len(server.requests) == 1 and slept == []


async def test_watch_truncated_final_line_raises_connection_failed() -> None:
    server = FakeServer(stream_response(ev("ADDED", "a", "5"), b'{"type": "MODIFIED", "obj'))
    client, _ = make_client(server)
    with pytest.raises(errors.ConnectionFailed, match="undecodable"):
        await collect(client)


async def test_watch_garbage_event_raises_connection_failed() -> None:
    server = FakeServer(stream_response(b'{"type": "WHAT", "object": {}}\n'))
    client, _ = make_client(server)
    with pytest.raises(errors.ConnectionFailed, match="not a watch event"):
        await collect(client)


async def _serve_once(payload: bytes) -> tuple[asyncio.Server, int]:
    """A loopback HTTP server answering one chunked response, then dropping the socket."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        await writer.drain()
        writer.close()  # no terminating 0-chunk: the connection is lost mid-stream

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_watch_real_socket_drop_raises_connection_failed() -> None:
    server, port = await _serve_once(ev("ADDED", "a", "5"))
    try:
        async with ApiClient(f"http://127.0.0.1:{port}", retry_delays_s=()) as client:
            seen: list[str] = []
            with pytest.raises(errors.ConnectionFailed, match="lost"):  # noqa: PT012 - raises mid-stream
                async with aclosing(client.watch(FPod)) as events:
                    async for event in events:
                        seen.append(event.object.name)
            assert seen == ["a"]
    finally:
        server.close()
        await server.wait_closed()


async def test_breaking_out_of_a_watch_closes_the_connection() -> None:
    """With aclosing(), leaving the loop closes the HTTP connection at once (the server sees EOF)."""
    peer_gone = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for n in range(1, 4):
            line = ev("MODIFIED", "a", str(n))
            writer.write(b"%x\r\n%s\r\n" % (len(line), line))
        await writer.drain()
        await reader.read()  # returns b"" once the client closed its end
        peer_gone.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        async with ApiClient(f"http://127.0.0.1:{port}", retry_delays_s=()) as client:
            async with aclosing(client.watch(FPod)) as events:
                async for event in events:
                    if event.object.resource_version == "3":
                        break
            await asyncio.wait_for(peer_gone.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()


async def test_stream_lines_yields_text_lines() -> None:
    server = FakeServer(stream_response(b"hello\nwor", b"ld\n"))
    client, _ = make_client(server)
    lines = [line async for line in client.stream_lines("/api/v1/namespaces/n/pods/p/log",
                                                        params={"follow": "true"})]
    assert lines == ["hello", "world"]
    assert server.last.url.params["follow"] == "true"
