"""Unit tests of the pieces kubectl compatibility rests on: the shared table columns
(machinery/tables.py, checked against the CLI's printers it replaces), server-side Tables,
field validation, OpenAPI generation, aggregated discovery negotiation and the exec protocol."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.requests import Request

from apiserver import exec_ws, tables
from apiserver.discovery import Discovery, aggregated_type
from apiserver.fieldvalidation import FieldValidation, unknown_fields
from apiserver.openapi import OpenApi
from machinery import errors, registry
from machinery import tables as mtables
from machinery.models import ConfigMap, Deployment, Pod

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CREATED = "2026-01-02T02:59:05Z"  # 5 minutes before AT

POD: dict[str, Any] = {
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "web-1", "namespace": "ns", "creationTimestamp": CREATED, "labels": {"app": "web"}},
    "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
    "status": {"phase": "Running", "podIP": "10.244.0.5", "containerStatuses": [
        {"name": "a", "ready": True, "restartCount": 2, "state": {"running": {}},
         "lastState": {"terminated": {"finishedAt": "2026-01-02T03:02:05Z"}}},
        {"name": "b", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
}
DEPLOY: dict[str, Any] = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "web", "namespace": "ns", "creationTimestamp": CREATED},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
             "template": {"spec": {"containers": [{"name": "web", "image": "img:1"}]}}},
    "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
}
SERVICE = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s", "creationTimestamp": CREATED},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "selector": {"app": "web"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}
NODE = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1", "creationTimestamp": CREATED,
                                                         "labels": {"node-role.kubernetes.io/worker": ""}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.30"}}}


def test_pod_columns_follow_kubectl() -> None:
    ready, status, restarts = mtables.pod_columns(POD, AT)
    assert (ready, status, restarts) == ("1/2", "CrashLoopBackOff", "2 (2m ago)")
    assert mtables.human_duration(3 * 3600 + 60) == "3h1m" and mtables.human_duration(90) == "90s"


def _obj(kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": kind.lower(), "namespace": "ns", "creationTimestamp": CREATED,
                                       "labels": {"k": "v"}}, **fields}


TEMPLATE = {"spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "a", "image": "i:1"},
                                                                     {"name": "b", "image": "i:2"}]}}
MORE = [
    _obj("Pod", spec={"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
         status={"phase": "Pending", "initContainerStatuses": [{"state": {"terminated": {"exitCode": 2}}}]}),
    _obj("Pod", spec={"containers": [{"name": "a"}]}, metadata={"name": "t", "deletionTimestamp": CREATED},
         status={"phase": "Running", "containerStatuses": [{"state": {"terminated": {"signal": 9}}}]}),
    _obj("ReplicaSet", spec={"replicas": 2, "template": TEMPLATE, "selector": {"matchLabels": {"a": "b"}}},
         status={"replicas": 2, "readyReplicas": 1}),
    _obj("StatefulSet", spec={"replicas": 3, "template": TEMPLATE}, status={"readyReplicas": 3}),
    _obj("DaemonSet", spec={"template": TEMPLATE}, status={"desiredNumberScheduled": 2, "numberReady": 1}),
    _obj("Job", spec={"completions": 3, "template": TEMPLATE},
         status={"succeeded": 3, "startTime": "2026-01-02T03:00:05Z", "completionTime": "2026-01-02T03:01:35Z",
                 "conditions": [{"type": "Complete", "status": "True"}]}),
    _obj("Job", spec={"parallelism": 2, "template": TEMPLATE}, status={"startTime": CREATED}),
    _obj("Service", spec={"type": "LoadBalancer", "clusterIP": "10.96.0.2", "ports": [{"port": 53, "protocol": "UDP"}]}),
    _obj("Service", spec={"type": "ExternalName", "externalName": "example.test"}),
    _obj("Endpoints", subsets=[{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)], "ports": [{"port": 80}]}]),
    _obj("Event", involvedObject={"kind": "Pod", "name": "p"}, reason="Killing", type="Normal", message=" bye ",
         lastTimestamp="2026-01-02T03:03:05Z"),
    _obj("Secret", type="kubernetes.io/tls", data={"tls.crt": "", "tls.key": ""}),
    _obj("Lease", spec={"holderIdentity": "node-1"}),
    _obj("Namespace", status={"phase": "Terminating"}),
    _obj("ConfigMap", data={"a": "1"}),
    _obj("Widget"),
]
for extra in MORE:  # _obj's metadata is replaced by a test's own: merge them
    if extra["metadata"].get("name") == "t" or "deletionTimestamp" in extra["metadata"]:
        extra["metadata"] = {**_obj("Pod")["metadata"], **extra["metadata"]}


@pytest.mark.parametrize("obj", [POD, DEPLOY, SERVICE, NODE, *MORE], ids=lambda o: o["kind"])
@pytest.mark.parametrize("wide", [False, True])
def test_every_kind_renders_a_full_row(obj: dict[str, Any], wide: bool) -> None:
    # One definition of the columns serves the server's Tables and `kubelite get` alike.
    for flags in ({"all_namespaces": True, "show_labels": True}, {"name_prefix": "x/"}):
        headers, rows = mtables.table(obj["kind"], [obj], wide=wide, at=AT, **flags)
        layout = mtables.layout_for(obj["kind"])
        if flags.get("all_namespaces"):
            assert headers[0] == "NAMESPACE"
        assert set(layout.headers) <= set(headers)
        assert len(rows) == 1 and len(rows[0]) == len(headers)
        assert all(isinstance(cell, str) for cell in rows[0])
        if layout.name_header:  # events are listed without their own name, as kubectl does
            assert any(obj["metadata"]["name"] in cell for cell in rows[0])
        if wide:
            assert set(layout.wide) <= set(headers)


def test_rows_of_each_kind() -> None:
    assert mtables.table("Deployment", [DEPLOY], wide=True, at=AT) == (
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        [["web", "2/3", "3", "2", "5m", "web", "img:1", "app=web,tier in (a,b)"]])
    assert mtables.table("Service", [SERVICE], at=AT)[1] == [["s", "NodePort", "10.96.0.9", "<none>", "80:30080/TCP", "5m"]]
    assert mtables.table("Node", [NODE], at=AT)[1] == [["n1", "Ready,SchedulingDisabled", "worker", "5m", "v1.30"]]
    cm = {"metadata": {"name": "c", "creationTimestamp": CREATED}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}
    assert mtables.table("ConfigMap", [cm], at=AT)[1] == [["c", "2", "5m"]]
    assert mtables.table("Unknown", [cm], at=AT) == (["NAME", "AGE"], [["c", "5m"]])


def test_server_side_table() -> None:
    out = tables.to_table(Pod, [POD], {"resourceVersion": "7"}, at=AT)
    assert out["kind"] == "Table" and out["metadata"] == {"resourceVersion": "7"}
    cols = [(c["name"], c["priority"]) for c in out["columnDefinitions"]]
    assert cols == [("Name", 0), ("READY", 0), ("STATUS", 0), ("RESTARTS", 0), ("AGE", 0), ("IP", 1),
                    ("NODE", 1), ("NOMINATED NODE", 1), ("READINESS GATES", 1)]
    assert out["rows"][0]["cells"] == ["web-1", "1/2", "CrashLoopBackOff", "2 (2m ago)", "5m", "10.244.0.5",
                                       "n1", "<none>", "<none>"]
    assert out["rows"][0]["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                        "metadata": POD["metadata"]}
    bare = tables.to_table(Pod, [POD], include="None", headers=False, at=AT)
    assert "columnDefinitions" not in bare and "object" not in bare["rows"][0]
    assert tables.to_table(Pod, [POD], include="Object", at=AT)["rows"][0]["object"] is POD


def _request(accept: str = "", query: str = "") -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
                    "headers": [(b"accept", accept.encode())]})


def test_table_negotiation() -> None:
    assert tables.table_request(_request("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"))
    assert tables.table_request(_request("application/json;as=Table;v=v1beta1;g=meta.k8s.io"))
    assert not tables.table_request(_request("application/vnd.kubernetes.protobuf,application/json"))
    assert not tables.table_request(_request("application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"))
    assert tables.include_object(_request(query="includeObject=Object")) == "Object"
    with pytest.raises(errors.BadRequest):
        tables.include_object(_request(query="includeObject=All"))


def test_unknown_fields_walk_models() -> None:
    body = {"metadata": {"name": "x", "labels": {"free": "form"}, "bogus": 1},
            "spec": {"foo": 1, "replicas": 1, "template": {"spec": {"containers": [
                {"name": "a", "image": "i", "resources": {}, "wat": True},
                {"name": "b", "ports": [{"containerPort": 1, "nope": 2}]}]}},
                "$setElementOrder/x": [], "strategy": {"rollingUpdate": {"maxSurge": "25%"}}},
            "status": {}}
    assert unknown_fields(Deployment, body) == [
        "metadata.bogus", "spec.foo", "spec.template.spec.containers[0].wat",
        "spec.template.spec.containers[1].ports[0].nope"]
    assert unknown_fields(ConfigMap, {"data": {"k": "v"}, "binaryData": {"b": "AA=="}}) == []


def test_field_validation_modes() -> None:
    bad = {"metadata": {"name": "x"}, "spec": {"foo": 1}}
    with pytest.raises(errors.BadRequest) as e:
        FieldValidation("Strict").check(Deployment, bad)
    assert str(e.value.message).endswith('strict decoding error: unknown field "spec.foo"')
    warn = FieldValidation("Warn")
    warn.check(Deployment, bad)
    warn.check(Deployment, bad)  # a retried patch must not repeat warnings
    assert warn.warnings == ['unknown field "spec.foo"']
    ignore = FieldValidation("Ignore")
    ignore.check(Deployment, bad)
    assert ignore.warnings == []
    with pytest.raises(errors.BadRequest):
        FieldValidation.from_request(_request(query="fieldValidation=Loud"))
    assert FieldValidation.from_request(_request()).mode == "Warn"


def test_openapi_documents() -> None:
    api = OpenApi(registry.ALL_KINDS)
    root = api.root()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/coordination.k8s.io/v1"} <= set(root)
    assert root["apis/apps/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/apps/v1?hash=")
    doc = json.loads(api.document("apis/apps/v1") or b"{}")
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in patch["parameters"])
    schemas = doc["components"]["schemas"]
    assert schemas["Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}]
    containers = schemas["PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/components/schemas/Container"}
    surge = schemas["RollingUpdateDeployment"]["properties"]["maxSurge"]
    assert surge == {"x-kubernetes-int-or-string": True}
    assert api.document("apis/nope/v1") is None
    assert OpenApi(registry.ALL_KINDS).root() == api.root()  # stable hashes


def test_aggregated_discovery() -> None:
    ct = aggregated_type("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
    assert ct == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert aggregated_type("application/json") is None
    doc = Discovery(registry.ALL_KINDS).aggregated_list(core=False, content_type=ct)
    apps = next(i for i in doc["items"] if i["metadata"]["name"] == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deploy["scope"] == "Namespaced" and deploy["shortNames"] == ["deploy"]
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_exec_protocol_helpers() -> None:
    assert exec_ws.choose_protocol(["v4.channel.k8s.io", "v5.channel.k8s.io"]) == "v5.channel.k8s.io"
    assert exec_ws.choose_protocol(["SPDY/3.1"]) is None
    assert exec_ws.exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    failed = exec_ws.exit_status(3, ["sh"])
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    status = exec_ws.error_status(errors.NotFound('pods "x" not found'))
    assert status["reason"] == "NotFound" and status["status"] == "Failure" and "kind" not in status


def test_watch_lines_are_encoded_once_per_event() -> None:
    from apiserver.watch import LineCache

    cache = LineCache(capacity=4)
    calls: list[int] = []

    def render(o: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return o

    obj = {"metadata": {"name": "a", "resourceVersion": "5"}}
    lines = {cache.line("MODIFIED", obj, "", render) for _ in range(1000)}  # 1,000 watchers
    assert lines == {b'{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"5"}}}\n'}
    assert len(calls) == 1 and cache.hits == 999
    cache.line("MODIFIED", obj, "table", render)  # another rendering is its own entry
    cache.line("DELETED", obj, "", render)
    assert len(calls) == 3
    for i in range(5):  # bounded: old entries go
        cache.line("ADDED", {"i": i}, "", render)
    cache.line("MODIFIED", obj, "", render)
    assert len(calls) == 9


def test_openapi_merge_keys_match_the_servers_strategic_merge() -> None:
    from apiserver.patch import strategic_merge_patch

    core = json.loads(OpenApi(registry.ALL_KINDS).document("api/v1") or b"{}")["components"]["schemas"]
    assert core["Container"]["properties"]["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    assert core["ServiceSpec"]["properties"]["ports"]["x-kubernetes-patch-merge-key"] == "port"
    assert core["NodeStatus"]["properties"]["addresses"]["x-kubernetes-patch-merge-key"] == "type"
    assert "x-kubernetes-patch-strategy" not in core["EndpointSubset"]["properties"]["addresses"]
    assert "x-kubernetes-patch-strategy" not in core["EndpointSubset"]["properties"]["ports"]
    # ... and the server merges exactly those lists by key, the others atomically.
    node = {"status": {"addresses": [{"type": "InternalIP", "address": "1"}, {"type": "Hostname", "address": "h"}]}}
    merged = strategic_merge_patch(node, {"status": {"addresses": [{"type": "InternalIP", "address": "2"}]}})
    assert merged["status"]["addresses"] == [{"type": "InternalIP", "address": "2"}, {"type": "Hostname", "address": "h"}]
    ep = {"subsets": [{"addresses": [{"ip": "1"}, {"ip": "2"}], "ports": [{"port": 80}]}]}
    patched = strategic_merge_patch(ep, {"subsets": [{"addresses": [{"ip": "3"}], "ports": [{"port": 81}]}]})
    assert patched == {"subsets": [{"addresses": [{"ip": "3"}], "ports": [{"port": 81}]}]}
