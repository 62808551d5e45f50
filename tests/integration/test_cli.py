"""The kubelite CLI against the real API server (and, at the end, `up`/`status`/`down` with a
real etcd + apiserver started by the CLI itself on free ports in a temp home).

Most calls go through typer's CliRunner (fast, in-process); the ones about exit codes, stderr
and tracebacks, watch and the local cluster run the installed console script as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.support import delete_namespace_now, free_port, wait_until_sync

pytestmark = pytest.mark.integration
KUBELITE = str(Path(sys.executable).parent / "kubelite")


class Cli:
    def __init__(self, server: Any, namespace: str) -> None:
        self.kubeconfig = server.kubeconfig
        self.url = server.url
        self.ns = namespace
        self.http = server.http_sync(timeout=10.0)

    def __call__(self, *args: str, input: str | None = None, ns: bool = True) -> Any:
        argv = ["--kubeconfig", self.kubeconfig, *(["-n", self.ns] if ns else []), *args]
        return CliRunner().invoke(app, argv, input=input)

    def proc(self, *args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        argv = [KUBELITE, "--kubeconfig", self.kubeconfig, "-n", self.ns, *args]
        return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "KUBELITE_DEBUG": ""})

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, path, json=body)
        assert r.status_code < 300, r.text
        return r.json()


@pytest.fixture
def cli(apiserver: Any) -> Iterator[Cli]:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    c = Cli(apiserver, name)
    c.api("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    try:
        yield c
    finally:
        delete_namespace_now(apiserver.url, name)  # no namespace controller here
        c.http.close()


def manifest(tmp_path: Path, text: str, name: str = "m.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {labels}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: kubelite/busybox:latest, command: [sleep, "3600"]}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg}}
data: {{a: "1"}}
"""


def test_apply_created_unchanged_configured(cli: Cli, tmp_path: Path) -> None:
    f = manifest(tmp_path, DEPLOY.format(labels="{app: web, tier: fe}", replicas=2))
    first = cli.proc("apply", "-f", f)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["deployment.apps/web created", "configmap/cfg created"]
    path = f"/apis/apps/v1/namespaces/{cli.ns}/deployments/web"
    rv = cli.api("GET", path)["metadata"]["resourceVersion"]

    again = cli("apply", "-f", f)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines() == ["deployment.apps/web unchanged", "configmap/cfg unchanged"]
    assert cli.api("GET", path)["metadata"]["resourceVersion"] == rv  # an unchanged apply writes nothing

    # Someone else adds a label; the file drops `tier` and scales to 3.
    cli.http.patch(
        path, content=json.dumps({"metadata": {"labels": {"owner": "ops"}}}),
        headers={"Content-Type": "application/merge-patch+json"})
    f2 = manifest(tmp_path, DEPLOY.format(labels="{app: web}", replicas=3), "m2.yaml")
    changed = cli("apply", "-f", f2)
    assert changed.exit_code == 0, changed.stderr
    assert changed.stdout.splitlines() == ["deployment.apps/web configured", "configmap/cfg unchanged"]
    live = cli.api("GET", path)
    assert live["spec"]["replicas"] == 3
    assert live["metadata"]["labels"] == {"app": "web", "owner": "ops"}
    last = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 3

    # Dry runs report what would happen and change nothing.
    rv = live["metadata"]["resourceVersion"]
    f3 = manifest(tmp_path, DEPLOY.format(labels="{app: web}", replicas=4), "m3.yaml")
    for mode, suffix in (("client", "(dry run)"), ("server", "(server dry run)")):
        dry = cli("apply", "-f", f3, f"--dry-run={mode}")
        assert dry.exit_code == 0, dry.stderr
        assert dry.stdout.splitlines()[0] == f"deployment.apps/web configured {suffix}"
    assert cli.api("GET", path)["metadata"]["resourceVersion"] == rv

    gone = cli("delete", "-f", f3)
    assert gone.exit_code == 0, gone.stderr
    assert gone.stdout.splitlines() == ['deployment.apps "web" deleted', 'configmap "cfg" deleted']
    assert cli.http.get(path).status_code == 404


def test_apply_namespace_mismatch_and_bad_yaml(cli: Cli, tmp_path: Path) -> None:
    f = manifest(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: elsewhere}\n")
    r = cli.proc("apply", "-f", f)
    assert r.returncode == 1
    assert f'the namespace from the provided object "elsewhere" does not match the namespace "{cli.ns}"' in r.stderr
    bad = manifest(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n", "bad.yaml")
    r = cli.proc("apply", "-f", bad)
    assert r.returncode == 1 and r.stderr.startswith(f"error: error parsing {bad}: error converting YAML to JSON: yaml: line")
    assert "Traceback" not in r.stderr


def test_get_formats_selectors_and_all_namespaces(cli: Cli, tmp_path: Path) -> None:
    for name, tier in (("a", "fe"), ("b", "be")):
        cli.api("POST", f"/api/v1/namespaces/{cli.ns}/configmaps",
                {"metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": "v", "k2": "v"}})
    table = cli("get", "cm")
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"]
    assert [line.split()[:2] for line in lines[1:]] == [["a", "2"], ["b", "2"]]
    assert cli("get", "configmaps", "-l", "tier=fe", "-o", "name").stdout == "configmap/a\n"
    assert cli("get", "cm/b", "-o", "name").stdout == "configmap/b\n"
    one = json.loads(cli("get", "cm", "a", "-o", "json").stdout)
    assert one["kind"] == "ConfigMap" and one["metadata"]["name"] == "a"
    many = yaml.safe_load(cli("get", "cm", "-o", "yaml", "-l", "tier in (fe,be)").stdout)
    assert many["kind"] == "List" and [i["metadata"]["name"] for i in many["items"]] == ["a", "b"]
    assert all(i["kind"] == "ConfigMap" for i in many["items"])
    labels = cli("get", "cm", "--show-labels").stdout.splitlines()
    assert labels[0].split()[-1] == "LABELS" and labels[1].split()[-1] == "tier=fe"
    every = cli("get", "cm", "-A", "--field-selector", "metadata.name=a", ns=False).stdout.splitlines()
    assert every[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [cli.ns, "a"] in [line.split()[:2] for line in every[1:]]
    empty = cli("get", "pods")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert empty.stderr == f"No resources found in {cli.ns} namespace.\n"
    nodes = cli("get", "ns", "-o", "name", ns=False)
    assert f"namespace/{cli.ns}" in nodes.stdout.splitlines()


def test_get_pods_table_and_multiple_kinds(cli: Cli) -> None:
    cli.api("POST", f"/api/v1/namespaces/{cli.ns}/pods",
            {"metadata": {"name": "p1"}, "spec": {"containers": [{"name": "c", "image": "img"}]}})
    out = cli("get", "po,cm", "-o", "wide")
    assert out.exit_code == 0, out.stderr
    blocks = out.stdout.strip().split("\n\n")
    assert blocks[0].splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                                 "NOMINATED", "NODE", "READINESS", "GATES"]
    assert blocks[0].splitlines()[1].split()[:3] == ["pod/p1", "0/1", "Pending"]


def test_describe_pod_shows_containers_and_events(cli: Cli) -> None:
    pod = cli.api("POST", f"/api/v1/namespaces/{cli.ns}/pods", {
        "metadata": {"name": "web-7", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest", "env": [{"name": "A", "value": "1"}],
                                 "ports": [{"containerPort": 80}]}]}})
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cli.api("POST", f"/api/v1/namespaces/{cli.ns}/events", {
        "metadata": {"name": "web-7.1"}, "type": "Warning", "reason": "FailedScheduling",
        "message": "0/1 nodes are available", "count": 1, "firstTimestamp": now, "lastTimestamp": now,
        "source": {"component": "default-scheduler"},
        "involvedObject": {"kind": "Pod", "name": "web-7", "namespace": cli.ns, "uid": pod["metadata"]["uid"]}})
    out = cli("describe", "pod", "web")  # a prefix, as kubectl allows
    assert out.exit_code == 0, out.stderr
    text = out.stdout
    for expected in ("Name:             web-7", f"Namespace:        {cli.ns}", "Labels:           app=web",
                     "Image:", "kubelite/busybox:latest", "Port:", "80/TCP", "Environment:", "Events:",
                     "FailedScheduling", "default-scheduler", "0/1 nodes are available"):
        assert expected in text, f"{expected!r} missing in:\n{text}"
    assert re.search(r"^ {6}A: +1$", text, re.M), text
    missing = cli.proc("describe", "pod", "zzz")
    assert missing.returncode == 1 and missing.stderr == 'Error from server (NotFound): pods "zzz" not found\n'


def test_delete_by_name_selector_and_wait(cli: Cli) -> None:
    for name, app_label in (("x", "a"), ("y", "b"), ("z", "b")):
        cli.api("POST", f"/api/v1/namespaces/{cli.ns}/configmaps", {"metadata": {"name": name, "labels": {"app": app_label}}})
    r = cli.proc("delete", "cm", "x", "nope")
    assert r.returncode == 1
    assert r.stdout == 'configmap "x" deleted\n'
    assert r.stderr == 'Error from server (NotFound): configmaps "nope" not found\n'
    r2 = cli("delete", "cm", "-l", "app=b", "--timeout", "10")  # waits (the default) until both are gone
    assert r2.exit_code == 0, r2.stderr
    assert sorted(r2.stdout.splitlines()) == ['configmap "y" deleted', 'configmap "z" deleted']
    assert cli.api("GET", f"/api/v1/namespaces/{cli.ns}/configmaps")["items"] == []
    # Foreground deletion parks the object behind a finalizer until the garbage collector runs
    # (none here): without --wait the command returns at once, with --wait it times out.
    cli.api("POST", f"/api/v1/namespaces/{cli.ns}/configmaps", {"metadata": {"name": "fg"}})
    fg = cli("delete", "cm", "fg", "--cascade=foreground", "--wait=false")
    assert (fg.exit_code, fg.stdout) == (0, 'configmap "fg" deleted\n')
    parked = cli.api("GET", f"/api/v1/namespaces/{cli.ns}/configmaps/fg")["metadata"]
    assert parked.get("deletionTimestamp") and "foregroundDeletion" in parked.get("finalizers", [])
    timed_out = cli("delete", "cm", "fg", "--timeout", "1")
    assert timed_out.exit_code == 1
    assert "error: timed out waiting for the condition on configmaps/fg" in timed_out.stderr
    cli.http.patch(f"/api/v1/namespaces/{cli.ns}/configmaps/fg", content=json.dumps({"metadata": {"finalizers": None}}),
                   headers={"Content-Type": "application/merge-patch+json"})


def test_error_messages_and_exit_codes(cli: Cli, tmp_path: Path) -> None:
    f = manifest(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dup}\n")
    assert cli("create", "-f", f).stdout == "configmap/dup created\n"
    again = cli("create", "-f", f)
    assert again.exit_code == 1
    assert again.stderr == (f'Error from server (AlreadyExists): error when creating "{f}": '  # as kubectl
                            'configmaps "dup" already exists\n')
    bad_pod = manifest(tmp_path, "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  containers: [{name: c}]\n",
                       "pod.yaml")
    invalid = cli("apply", "-f", bad_pod)
    assert invalid.exit_code == 1, invalid.stdout
    assert invalid.stderr.startswith('The Pod "Bad_Name" is invalid: \n* metadata.name: ')  # kubectl's checkErr
    assert "metadata.name" in invalid.stderr and "Traceback" not in invalid.stderr
    unknown = cli.proc("get", "foo")
    assert (unknown.returncode, unknown.stderr) == (1, 'error: the server doesn\'t have a resource type "foo"\n')
    port = free_port()
    refused = subprocess.run([KUBELITE, "-s", f"http://127.0.0.1:{port}", "get", "pods"], capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode == 1
    assert refused.stderr == (f"The connection to the server 127.0.0.1:{port} was refused - "
                              "did you specify the right host or port?\n")


def test_get_watch_prints_a_row_per_event(cli: Cli) -> None:
    argv = [KUBELITE, "--kubeconfig", cli.kubeconfig, "-n", cli.ns, "get", "cm", "-w", "-L", "app"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # let the initial list and the watch start
        cli.api("POST", f"/api/v1/namespaces/{cli.ns}/configmaps",
                {"metadata": {"name": "w1", "labels": {"app": "web"}}, "data": {"a": "b"}})
        assert proc.stdout is not None
        header = proc.stdout.readline()
        row = proc.stdout.readline()
        assert header.split() == ["NAME", "DATA", "AGE", "APP"]
        assert row.split()[:2] == ["w1", "1"] and row.split()[-1] == "web", row
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_up_status_down_with_etcd_and_apiserver(tmp_path: Path) -> None:
    home = tmp_path / "home"
    api_port, etcd_port = free_port(), free_port()
    while etcd_port + 1 == api_port:
        etcd_port = free_port()
    name = f"t{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KUBELITE_HOME": str(home)}
    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBELITE, *a], capture_output=True, text=True, timeout=120, env=env)

    try:
        up = run("up", "--api-port", str(api_port), "--etcd-port", str(etcd_port), "--components", "none",
                 "--cluster-name", name)
        assert up.returncode == 0, up.stdout + up.stderr + (home / "logs" / "supervisor.log").read_text()
        assert "✓ etcd ready" in up.stdout and "✓ apiserver ready" in up.stdout
        assert str(home / "kubeconfig") in up.stdout
        assert (home / "kubeconfig").exists()
        assert "already running" in run("up").stdout
        clash = subprocess.run([KUBELITE, "up", "--home", str(tmp_path / "other"), "--api-port", str(api_port),
                                "--etcd-port", str(etcd_port), "--components", "none"],
                               capture_output=True, text=True, timeout=60)
        assert clash.returncode == 1 and f"apiserver port {api_port}" in clash.stderr and "already in use" in clash.stderr

        status = run("status")
        assert status.returncode == 0, status.stdout + status.stderr
        rows = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()[1:]}
        assert rows == {"supervisor": "Running", "etcd": "Running", "apiserver": "Running"}
        ns = run("get", "ns", "-o", "name")  # the CLI finds the cluster through $KUBELITE_HOME
        assert "namespace/default" in ns.stdout.splitlines(), ns.stderr

        # The supervisor restarts a component that dies.
        state = json.loads((home / "run" / "state.json").read_text())
        old_pid = state["components"]["apiserver"]["pid"]
        os.killpg(old_pid, signal.SIGKILL)

        def restarted() -> bool:
            comp = json.loads((home / "run" / "state.json").read_text())["components"]["apiserver"]
            return bool(comp["pid"]) and comp["pid"] != old_pid and comp["restarts"] >= 1
        wait_until_sync(restarted, timeout_s=20)
        def ready() -> bool:
            try:
                return httpx.get(f"https://127.0.0.1:{api_port}/readyz", timeout=1,
                                 verify=str(home / "pki" / "ca.crt")).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until_sync(ready, timeout_s=30, interval_s=0.1)
        assert run("status").returncode == 0
        assert "apiserver (pid" in (home / "logs" / "supervisor.log").read_text()
    finally:
        down = run("down")
    assert down.returncode == 0, down.stderr
    assert "kubelite is down" in down.stdout
    after = run("status")
    assert after.returncode == 1
    comps = json.loads((home / "run" / "state.json").read_text())["components"]
    for comp in comps.values():
        assert comp["pid"] is None
    assert not (home / "run" / "supervisor.pid").exists()
    assert (home / "etcd").exists()  # data is kept without --purge
    assert run("down", "--purge").returncode == 0 and not home.exists()


def test_edit_sends_the_change_and_cancels_when_unchanged(cli: Cli) -> None:
    cli.api("POST", f"/api/v1/namespaces/{cli.ns}/configmaps",
            {"metadata": {"name": "ed", "labels": {"drop": "me"}}, "data": {"k": "old-value"}})
    argv = [KUBELITE, "--kubeconfig", cli.kubeconfig, "-n", cli.ns, "edit", "cm/ed"]
    unchanged = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={**os.environ, "EDITOR": "true"})
    assert (unchanged.returncode, unchanged.stdout) == (0, "Edit cancelled, no changes made.\n")
    editor = "sed -i -e s/old-value/new-value/ -e /drop:/d"
    changed = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={**os.environ, "EDITOR": editor})
    assert (changed.returncode, changed.stdout) == (0, "configmap/ed edited\n"), changed.stderr
    live = cli.api("GET", f"/api/v1/namespaces/{cli.ns}/configmaps/ed")
    assert live["data"] == {"k": "new-value"} and not live["metadata"].get("labels")
