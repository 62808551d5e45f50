"""ApiClient error mapping (Status -> exception classes) and retries of temporary errors and lost
connections, against httpx.MockTransport (and, once, a real refused connection)."""

from __future__ import annotations

import logging

import httpx
import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.meta import ObjectMeta
from tests.unit.client_support import (
    FakeServer,
    FNode,
    FPod,
    body_of,
    make_client,
    status,
)

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
    assert isinstance(info.value, errors.ConnectionTimeout) is isinstance(exc, httpx.TimeoutException)


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
