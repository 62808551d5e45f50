"""Regression tests for issue 19, one per numbered item, against a real API server on etcd.

Each bad request must get a 4xx Status naming the problem, and etcd's revision must not move
(nothing written); `rev()` reads it through a consistent list, which answers etcd's current
revision."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdProcess, compact_etcd, tls_context, wait_until

pytestmark = pytest.mark.integration


async def rev(http: httpx.AsyncClient) -> int:
    r = await http.get("/api/v1/namespaces", params={"limit": "1"})
    assert r.status_code == 200, r.text
    return int(r.json()["metadata"]["resourceVersion"])


def assert_status(r: httpx.Response, code: int, reason: str | None = None) -> dict[str, Any]:
    assert r.status_code == code, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == code, body
    if reason is not None:
        assert body["reason"] == reason, body
    result: dict[str, Any] = body
    return result


async def refused(http: httpx.AsyncClient, method: str, url: str, code: int, reason: str | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    """`method url` answers `code` with a Status, and etcd's revision did not move."""
    before = await rev(http)
    body = assert_status(await http.request(method, url, **kwargs), code, reason)
    assert await rev(http) == before, f"{method} {url} wrote to etcd although it answered {code}"
    return body


async def configmaps(http: httpx.AsyncClient, namespace: str) -> dict[str, dict[str, str]]:
    r = await http.get(f"/api/v1/namespaces/{namespace}/configmaps")
    return {o["metadata"]["name"]: o["metadata"].get("labels") or {} for o in r.json()["items"]}


# --- 1. selectors ------------------------------------------------------------------------------


async def test_1_selectors_are_validated_per_kind_on_every_verb(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, labels in {"a": {"tier": "web"}, "b": {"tier": "db"}, "c": {"other": ""}}.items():
        r = await http.post(base, json={"metadata": {"name": name, "labels": labels}})
        assert r.status_code == 201, r.text
    everything = await configmaps(http, namespace)
    # The data loss: an unsupported field selector used to select everything.
    body = await refused(http, "DELETE", base, 400, "BadRequest", params={"fieldSelector": "spec.nodeName=="})
    assert body["message"] == "field label not supported: spec.nodeName"
    for params in ({"fieldSelector": "foo.bar=baz"}, {"fieldSelector": "metadata.name"},
                   {"labelSelector": "tier in (web"}, {"labelSelector": "a=b=c"},
                   {"labelSelector": "!"}, {"labelSelector": "x y"}, {"labelSelector": "-bad=1"}):
        await refused(http, "DELETE", base, 400, "BadRequest", params=params)
        await refused(http, "GET", base, 400, "BadRequest", params=params)
        await refused(http, "GET", base, 400, "BadRequest", params={**params, "watch": "1"})
    assert await configmaps(http, namespace) == everything
    # Kubernetes accepts `k in ()` as `k in ("")` (its own grammar's example `z notin ()`).
    r = await http.get(base, params={"labelSelector": "other in ()"})
    assert [o["metadata"]["name"] for o in r.json()["items"]] == ["c"]
    # Per kind: pods select on spec.nodeName (and the legacy spec.host), not status.hostIP.
    pods = f"/api/v1/namespaces/{namespace}/pods"
    assert (await http.get(pods, params={"fieldSelector": "spec.nodeName=n1"})).status_code == 200
    assert (await http.get(pods, params={"fieldSelector": "spec.host=n1,status.phase!=Failed"})).status_code == 200
    body = await refused(http, "GET", pods, 400, params={"fieldSelector": "status.hostIP=1.2.3.4"})
    assert body["message"] == "field label not supported: status.hostIP"
    await refused(http, "GET", "/api/v1/nodes", 400, params={"fieldSelector": "spec.nodeName=x"})
    assert (await http.get("/api/v1/nodes", params={"fieldSelector": "spec.unschedulable=false"})).status_code == 200
    # A valid selector deletes exactly what it selects.
    r = await http.delete(base, params={"labelSelector": "tier=web"})
    assert r.status_code == 200 and [o["metadata"]["name"] for o in r.json()["items"]] == ["a"]
    r = await http.delete(base, params={"fieldSelector": "metadata.name!=b"})
    assert r.status_code == 200 and [o["metadata"]["name"] for o in r.json()["items"]] == ["c"]
    assert list(await configmaps(http, namespace)) == ["b"]


# --- 2. nothing written unless the client gets a success ----------------------------------------


async def test_2_warning_for_any_unknown_field_name_and_no_write_on_error(
        http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for i, field in enumerate(["x😀", "é", 'q"uo\\te', "new\nline", "\u2028", "\ud800"]):
        body = json.dumps({"metadata": {"name": f"w{i}"}, field: 1}).encode()  # ASCII: \ud800 escapes
        r = await http.post(base, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 201, r.text
        raw = [v for k, v in r.headers.raw if k.lower() == b"warning"]
        assert len(raw) == 1 and raw[0].startswith(b'299 - "unknown field \\"'), raw
        assert (await http.get(f"{base}/w{i}")).status_code == 200
        # The retry of a create that succeeded is a plain 409, never a second object.
        assert_status(await http.post(base, content=body, headers={"Content-Type": "application/json"}),
                      409, "AlreadyExists")
    # The lone surrogate was decoded as U+FFFD, as Go decodes it.
    assert [v for k, v in r.headers.raw if k.lower() == b"warning"] == [
        b'299 - "unknown field \\"' + "\ufffd".encode() + b'\\""']
    r = await http.post(base, json={"metadata": {"name": "emoji"}, "x😀": 1})
    assert b"\xf0\x9f\x98\x80" in dict(r.headers.raw)[b"warning"]  # UTF-8, as Go sends it
    # Strict: 400 naming the field, nothing stored.
    await refused(http, "POST", base, 400, "BadRequest", params={"fieldValidation": "Strict"},
                  json={"metadata": {"name": "strict"}, "x😀": 1})
    assert (await http.get(f"{base}/strict")).status_code == 404


# --- 3. bad input is a 4xx, never a 500 ---------------------------------------------------------


def deep_json(levels: int, inner: str = "1") -> bytes:
    return ('{"a":' * levels + inner + "}" * levels).encode()


async def test_3_bad_input_is_4xx_status_never_500(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    assert (await http.post(base, json={"metadata": {"name": "cm"}})).status_code == 201
    ns_url = f"/api/v1/namespaces/{namespace}"
    deep = deep_json(10_000)
    deep_yaml = b"a: " + b"[" * 10_000 + b"]" * 10_000
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        # nesting on every write verb and both encodings
        ("POST", base, {"content": b'{"metadata":{"name":"d"},"data":' + deep + b"}"}, 400),
        ("POST", base, {"content": deep_yaml, "headers": {"Content-Type": "application/yaml"}}, 400),
        ("PUT", f"{base}/cm", {"content": deep}, 400),
        ("PATCH", f"{base}/cm", {"content": deep, "headers": {"Content-Type": "application/merge-patch+json"}}, 400),
        ("PATCH", f"{base}/cm", {"content": deep,
                                 "headers": {"Content-Type": "application/strategic-merge-patch+json"}}, 400),
        ("PATCH", f"{base}/cm", {"content": b'[{"op":"add","path":"/x","value":' + deep + b"}]",
                                 "headers": {"Content-Type": "application/json-patch+json"}}, 400),
        ("PATCH", f"{base}/cm", {"content": deep_yaml, "params": {"fieldManager": "t"},
                                 "headers": {"Content-Type": "application/apply-patch+yaml"}}, 400),
        # 300 levels inside a free-form field
        ("POST", f"/api/v1/namespaces/{namespace}/pods", {"content": json.dumps(
            {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i", "securityContext":
                json.loads(deep_json(300).decode())}]}}).encode()}, 400),
        # integers beyond 64 bits
        ("GET", base, {"params": {"limit": str(2**70)}}, 400),
        ("GET", base, {"params": {"resourceVersion": str(2**70), "resourceVersionMatch": "Exact"}}, 400),
        ("GET", base, {"params": {"watch": "1", "resourceVersion": str(2**64)}}, 400),
        ("GET", base, {"params": {"continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTE4MDU5MTYyMDcxNzQxMTMwMzQyNCwic3RhcnQiOiJ4In0"}}, 400),
        ("DELETE", f"{base}/cm", {"params": {"gracePeriodSeconds": str(2**70)}}, 400),
        # lone surrogates: the name is invalid, the message still encodes
        ("POST", base, {"content": b'{"metadata":{"name":"\\ud800"}}'}, 422),
        ("POST", base, {"content": b'metadata: {name: "\\ud800"}', "headers": {"Content-Type": "application/yaml"}}, 422),
        # wrong types in places handlers trusted
        ("DELETE", f"{base}/cm", {"content": b'{"preconditions":"x"}'}, 400),
        ("DELETE", f"{base}/cm", {"content": b'{"gracePeriodSeconds":"x"}'}, 400),
        ("DELETE", base, {"content": b'{"propagationPolicy":[1]}'}, 400),
        ("PATCH", ns_url, {"content": b'{"spec":[1,2]}', "headers": {"Content-Type": "application/merge-patch+json"}}, 422),
        ("PATCH", f"{base}/cm", {"content": b'{"metadata":"x"}', "headers": {"Content-Type": "application/merge-patch+json"}}, 422),
        ("PATCH", f"{base}/cm", {"content": b'{"metadata":"x"}', "params": {"fieldManager": "t"},
                                 "headers": {"Content-Type": "application/apply-patch+yaml"}}, 422),
        ("PATCH", f"{base}/cm", {"content": b'{"metadata":{"finalizers":[{}]}}',
                                 "headers": {"Content-Type": "application/merge-patch+json"}}, 422),
        # quantities beyond any size
        ("POST", f"/api/v1/namespaces/{namespace}/pods", {"json": {"metadata": {"name": "q"}, "spec": {"containers": [
            {"name": "c", "image": "i", "resources": {"requests": {"cpu": "1e999999999"}}}]}}}, 422),
    ]
    for method, url, kwargs, code in cases:
        await refused(http, method, url, code, **kwargs)
    assert (await http.get(f"{base}/cm")).status_code == 200


# --- 4. resource exhaustion ------------------------------------------------------------------------


async def test_4_yaml_aliases_and_decoded_size_are_bounded(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    yaml_ct = {"Content-Type": "application/yaml"}
    bomb = b"metadata: {name: bomb}\ndata:\n  a: &a [x,x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"  {c}: &{c} [{','.join([f'*{p}'] * 10)}]\n".encode() for p, c in zip("abcdefg", "bcdefgh", strict=True))
    assert len(bomb) < 500
    body = await refused(http, "POST", base, 400, "BadRequest", content=bomb, headers=yaml_ct)
    assert "aliasing" in body["message"]
    # Few aliases of a large value: within the alias budget, but the decoded object is 4 MB.
    big = b"metadata: {name: big}\nx: &x " + b"y" * 200_000 + b"\ndata: {" + b", ".join(
        f"k{i}: *x".encode() for i in range(20)) + b"}\n"
    await refused(http, "POST", base, 413, "RequestEntityTooLarge", content=big, headers=yaml_ct)
    # A JSON patch whose copies double the object: refused before it is built.
    assert (await http.post(base, json={"metadata": {"name": "c"}, "data": {"v": "x" * 1000}})).status_code == 201
    ops: list[dict[str, Any]] = [{"op": "copy", "from": "/data", "path": f"/metadata/annotations/{i}"} for i in range(1)]
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {}}] + [
        {"op": "copy", "from": "/metadata" if i else "/data", "path": f"/metadata/annotations/k{i}"} for i in range(40)]
    await refused(http, "PATCH", f"{base}/c", 413, "RequestEntityTooLarge", content=json.dumps(ops).encode(),
                  headers={"Content-Type": "application/json-patch+json"})


# --- 5. connection handling -----------------------------------------------------------------------


def raw_request(url: str, data: bytes) -> bytes:
    """`data` as is over a TLS connection (as the cluster admin)."""
    host, port = url.removeprefix("https://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            tls_context().wrap_socket(raw, server_hostname=host) as s:
        s.sendall(data)
        chunks = []
        with contextlib.suppress(ssl.SSLEOFError, ConnectionResetError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
])
def test_5_malformed_http_gets_a_status(apiserver: ApiServerProcess, data: bytes) -> None:
    answer = raw_request(apiserver.url, data)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"content-type: application/json" in head.lower() and b"connection: close" in head.lower()
    status = json.loads(body)
    assert status["kind"] == "Status" and status["code"] == 400 and status["reason"] == "BadRequest"


# --- 6. namespace finalize -------------------------------------------------------------------------


async def test_6_finalize_validates_its_body_and_keeps_a_namespace_with_content(
        http: httpx.AsyncClient, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}"
    assert (await http.post(f"{url}/configmaps", json={"metadata": {"name": "left"}})).status_code == 201
    for body in ({"bogus": [1]}, {"metadata": {"name": namespace}, "spec": {}},
                 {"metadata": {"name": namespace}, "spec": {"finalizers": "kubernetes"}},
                 {"metadata": {"name": namespace}, "spec": {"finalizers": ["no good"]}},
                 {"metadata": {"name": namespace}, "spec": {"finalizers": ["custom"]}}):
        await refused(http, "PUT", f"{url}/finalize", 422, "Invalid", json=body)
    await refused(http, "PUT", f"{url}/finalize", 400, json={"metadata": {"name": "other"}, "spec": {"finalizers": []}})
    # Not being deleted: the kubernetes finalizer stays.
    drop = {"metadata": {"name": namespace}, "spec": {"finalizers": []}}
    await refused(http, "PUT", f"{url}/finalize", 409, "Conflict", json=drop)
    assert (await http.delete(url)).status_code == 200
    refusal = await refused(http, "PUT", f"{url}/finalize", 409, "Conflict", json=drop)
    assert "configmaps (1)" in refusal["message"]
    # Adding a fully qualified finalizer is fine; the controller's last step too, once empty.
    keep = {"metadata": {"name": namespace}, "spec": {"finalizers": ["kubernetes", "example.com/x"]}}
    assert (await http.put(f"{url}/finalize", json=keep)).status_code == 200
    assert (await http.delete(f"{url}/configmaps/left")).status_code == 200
    assert (await http.put(f"{url}/finalize", json=drop)).status_code == 200
    assert (await http.get(url)).status_code == 404


# --- 7. logging ------------------------------------------------------------------------------------


async def test_7_one_bounded_log_line_per_rejected_request(
        apiserver_factory: Callable[..., ApiServerProcess], etcd_server: Any) -> None:
    server = apiserver_factory(etcd_server.url)
    async with server.http(timeout=20) as http:
        before = len(server.log_text())
        marker = uuid.uuid4().hex
        nested = b'{"metadata":{"name":"' + marker.encode() + b'"},"data":' + deep_json(5_000) + b"}"
        assert len(nested) > 20_000
        for _ in range(3):
            r = await http.post(f"/api/v1/namespaces/default/configmaps?{marker}=1", content=nested)
            assert_status(r, 400, "BadRequest")
        r = await http.get("/api/v1/namespaces/default/configmaps", params={"fieldSelector": f"{marker}=x"})
        assert_status(r, 400)
        await asyncio.sleep(0.5)
    grown = server.log_text()[before:]
    lines = [line for line in grown.splitlines() if "rejected" in line]
    assert len(lines) == 4, grown[-3000:]
    assert all(len(line) < 700 for line in lines) and len(grown) < 4_000, grown[-3000:]
    assert "Traceback" not in grown


# --- 8. watch resume across an API server restart ------------------------------------------------


async def test_8_watch_resumes_across_an_apiserver_restart_without_relist(
        apiserver_factory: Callable[..., ApiServerProcess]) -> None:
    with EtcdProcess(name="kubelite-restart-watch") as etcd:
        server = apiserver_factory(etcd.url)
        base = "/api/v1/namespaces/default/configmaps"
        async with server.http(timeout=20) as http:
            for name in ("keep", "change", "gone"):
                assert (await http.post(base, json={"metadata": {"name": name, "labels": {"w": "1"}}})).status_code == 201
            listed = (await http.get(base, params={"labelSelector": "w=1"})).json()
            seen_rv = listed["metadata"]["resourceVersion"]
            # Changes the client has not seen yet, then the API server restarts.
            r = await http.patch(f"{base}/change", json={"data": {"v": "2"}},
                                 headers={"Content-Type": "application/merge-patch+json"})
            changed_rv = r.json()["metadata"]["resourceVersion"]
            assert (await http.delete(f"{base}/gone")).status_code == 200
            assert (await http.post(base, json={"metadata": {"name": "new", "labels": {"w": "1"}}})).status_code == 201
            assert (await http.post(base, json={"metadata": {"name": "unlabelled"}})).status_code == 201
            server.restart()
            events: list[tuple[str, str]] = []
            params = {"watch": "1", "resourceVersion": seen_rv, "labelSelector": "w=1", "timeoutSeconds": "5"}
            async with http.stream("GET", base, params=params) as stream:
                assert stream.status_code == 200
                async for line in stream.aiter_lines():
                    ev = json.loads(line)
                    assert ev["type"] != "ERROR", ev  # no 410: nothing to relist
                    events.append((ev["type"], ev["object"]["metadata"]["name"]))
                    if ev["object"]["metadata"]["name"] == "change":
                        assert ev["object"]["metadata"]["resourceVersion"] == changed_rv
                        assert ev["object"]["data"] == {"v": "2"}
                    if len(events) == 3:
                        # A live change after the resume arrives too, in order.
                        await http.post(base, json={"metadata": {"name": "live", "labels": {"w": "1"}}})
                    if len(events) == 4:
                        break
            # Changes at their revisions; a deletion at the revision the new cache started from.
            assert events == [("MODIFIED", "change"), ("ADDED", "new"), ("DELETED", "gone"), ("ADDED", "live")]
            # Once etcd compacted that revision, a resume is a 410 (and the client relists).
            await compact_etcd(etcd.url)
            async with http.stream("GET", base, params=params) as stream:
                lines = [json.loads(line) async for line in stream.aiter_lines()]
            assert lines[0]["type"] == "ERROR" and lines[0]["object"]["code"] == 410


async def test_8_informer_resumes_across_an_apiserver_restart_without_relisting(
        apiserver_factory: Callable[..., ApiServerProcess]) -> None:
    from machinery.client import ApiClient
    from machinery.informer import Informer
    from machinery.models import ConfigMap

    with EtcdProcess(name="kubelite-restart-informer") as etcd:
        server = apiserver_factory(etcd.url)
        async with ApiClient.from_kubeconfig(server.kubeconfig, timeout_s=10) as client, server.http() as http:
            lists = 0
            real_list = client.list

            async def counting_list(*args: Any, **kwargs: Any) -> Any:
                nonlocal lists
                lists += 1
                return await real_list(*args, **kwargs)

            client.list = counting_list  # type: ignore[method-assign]
            inf: Informer[ConfigMap] = Informer(client, ConfigMap, namespace="default")
            task = asyncio.create_task(inf.run())
            try:
                await inf.wait_synced(timeout_s=20)
                base = "/api/v1/namespaces/default/configmaps"
                assert (await http.post(base, json={"metadata": {"name": "before"}})).status_code == 201
                await wait_until(lambda: inf.get("default/before") is not None, timeout_s=20)
                server.stop()
                server.start()
                assert (await http.post(base, json={"metadata": {"name": "after"}})).status_code == 201
                await wait_until(lambda: inf.get("default/after") is not None, timeout_s=30)
                assert lists == 1, "the informer relisted after the API server restart"
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
