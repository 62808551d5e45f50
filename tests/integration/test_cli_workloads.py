"""Workload verbs (scale, set, rollout *, image load) against the real API server.

No controllers run here: the tests create the Deployments, the ReplicaSets they own (with
ownerReferences and revision annotations) and the Deployment status themselves, so each verb
is checked against exactly the state it reads. `rollout status` runs as a real subprocess
following a real watch while the test writes status updates one at a time.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app

pytestmark = pytest.mark.integration
KUBELITE = str(Path(sys.executable).parent / "kubelite")


class Env:
    def __init__(self, server: Any, namespace: str) -> None:
        self.kubeconfig = server.kubeconfig
        self.ns = namespace
        self.http = server.http_sync(timeout=10.0)
        self.deploys = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        self.rss = f"/apis/apps/v1/namespaces/{namespace}/replicasets"

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(app, ["--kubeconfig", self.kubeconfig, "-n", self.ns, *args])

    def api(self, method: str, path: str, body: Any = None, content_type: str | None = None) -> Any:
        headers = {"Content-Type": content_type} if content_type else None
        r = self.http.request(method, path, json=body, headers=headers)
        assert r.status_code < 300, r.text
        return r.json()


@pytest.fixture
def env(apiserver: Any, namespace: str) -> Iterator[Env]:
    e = Env(apiserver, namespace)
    try:
        yield e
    finally:
        e.http.close()


def template(image: str, *, hash_: str | None = None) -> dict[str, Any]:
    labels = {"app": "web", **({"pod-template-hash": hash_} if hash_ else {})}
    return {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]},
                                    {"name": "side", "image": "kubelite/busybox:latest"}]}}


def make_deployment(env: Env, image: str = "kubelite/busybox:2", replicas: int = 3) -> dict[str, Any]:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template(image)}}
    result: dict[str, Any] = env.api("POST", env.deploys, body)
    return result


def make_rs(env: Env, deploy: dict[str, Any], rev: int, image: str, cause: str | None = None) -> None:
    ann = {"deployment.kubernetes.io/revision": str(rev), **({"kubernetes.io/change-cause": cause} if cause else {})}
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": deploy["metadata"]["uid"],
             "controller": True, "blockOwnerDeletion": True}
    body = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-h{rev}", "annotations": ann, "ownerReferences": [owner],
                         "labels": {"app": "web", "pod-template-hash": f"h{rev}"}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web", "pod-template-hash": f"h{rev}"}},
                     "template": template(image, hash_=f"h{rev}")}}
    env.api("POST", env.rss, body)


def test_scale_deployment_and_replicaset(env: Env) -> None:
    make_deployment(env)
    r = env.cli("scale", "deployment/web", "--replicas", "5")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web scaled\n"), r.output
    assert env.api("GET", f"{env.deploys}/web")["spec"]["replicas"] == 5
    r = env.cli("scale", "deploy", "web", "--replicas", "1", "--current-replicas", "4")
    assert r.exit_code == 1 and "Expected replicas to be 4, was 5" in r.stderr
    r = env.cli("scale", "deploy", "web", "--replicas", "1", "--current-replicas", "5")
    assert r.exit_code == 0, r.output
    assert env.api("GET", f"{env.deploys}/web")["spec"]["replicas"] == 1
    r = env.cli("scale", "deploy/nope", "--replicas", "1")
    assert r.exit_code == 1 and "Error from server (NotFound)" in r.stderr


def test_set_image_and_resources_merge_by_container_name(env: Env) -> None:
    make_deployment(env)
    r = env.cli("set", "image", "deployment/web", "main=kubelite/busybox:9")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web image updated\n"), r.output
    d = env.api("GET", f"{env.deploys}/web")
    main, side = d["spec"]["template"]["spec"]["containers"]
    assert (main["image"], main["command"], side["image"]) == ("kubelite/busybox:9", ["sleep", "3600"],
                                                               "kubelite/busybox:latest")
    assert d["metadata"]["generation"] == 2
    r = env.cli("set", "image", "deployment/web", "ghost=x:1")
    assert r.exit_code == 1 and 'unable to find container named "ghost"' in r.stderr
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo"},
           "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}
    env.api("POST", f"/api/v1/namespaces/{env.ns}/pods", pod)
    r = env.cli("set", "image", "pod/solo", "*=kubelite/busybox:7")
    assert (r.exit_code, r.stdout) == (0, "pod/solo image updated\n"), r.output
    solo = env.api("GET", f"/api/v1/namespaces/{env.ns}/pods/solo")
    assert solo["spec"]["containers"][0]["image"] == "kubelite/busybox:7"
    r = env.cli("set", "resources", "deployment/web", "-c", "side", "--limits", "cpu=200m,memory=512Mi")
    assert r.exit_code == 0, r.output
    r = env.cli("set", "resources", "deployment/web", "-c", "side", "--requests", "cpu=100m")
    assert r.exit_code == 0, r.output
    side = env.api("GET", f"{env.deploys}/web")["spec"]["template"]["spec"]["containers"][1]
    # Requests were defaulted from the limits by the server; only cpu was changed afterwards.
    assert side["resources"] == {"limits": {"cpu": "200m", "memory": "512Mi"},
                                 "requests": {"cpu": "100m", "memory": "512Mi"}}


def test_pause_resume_restart(env: Env) -> None:
    make_deployment(env)
    assert env.cli("rollout", "pause", "deployment/web").stdout == "deployment.apps/web paused\n"
    assert env.api("GET", f"{env.deploys}/web")["spec"]["paused"] is True
    r = env.cli("rollout", "pause", "deployment/web")
    assert r.exit_code == 1 and 'deployments.apps "web" is already paused' in r.stderr
    assert env.cli("rollout", "restart", "deployment/web").exit_code == 1
    assert env.cli("rollout", "resume", "deployment/web").stdout == "deployment.apps/web resumed\n"
    r = env.cli("rollout", "restart", "deployment/web")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web restarted\n"), r.output
    d = env.api("GET", f"{env.deploys}/web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert d["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_history_and_undo_from_owned_replicasets(env: Env) -> None:
    d = make_deployment(env, image="kubelite/busybox:3")
    env.api("PATCH", f"{env.deploys}/web", {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3"}}},
            "application/merge-patch+json")
    make_rs(env, d, 1, "kubelite/busybox:1", cause="first")
    make_rs(env, d, 2, "kubelite/busybox:2")
    make_rs(env, d, 3, "kubelite/busybox:3")
    r = env.cli("rollout", "history", "deployment/web")
    assert r.exit_code == 0, r.output
    assert [line.split(None, 1) for line in r.stdout.splitlines()[1:]] == [
        ["REVISION", "CHANGE-CAUSE"], ["1", "first"], ["2", "<none>"], ["3", "<none>"]]
    r = env.cli("rollout", "history", "deployment/web", "--revision", "2")
    assert r.exit_code == 0 and "kubelite/busybox:2" in r.stdout and "pod-template-hash=h2" in r.stdout

    r = env.cli("rollout", "undo", "deployment/web")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web rolled back\n"), r.output
    after = env.api("GET", f"{env.deploys}/web")
    tmpl = after["spec"]["template"]
    assert tmpl["metadata"]["labels"] == {"app": "web"}
    assert [c["image"] for c in tmpl["spec"]["containers"]] == ["kubelite/busybox:2", "kubelite/busybox:latest"]
    assert after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    r = env.cli("rollout", "undo", "deployment/web", "--to-revision", "2")
    assert r.stdout == "deployment.apps/web skipped rollback (current template already matches revision 2)\n"
    env.cli("rollout", "pause", "deployment/web")
    r = env.cli("rollout", "undo", "deployment/web", "--to-revision", "1")
    assert r.exit_code == 1 and "you cannot rollback a paused deployment" in r.stderr


def _put_status(env: Env, **status: Any) -> None:
    d = env.api("GET", f"{env.deploys}/web")
    d["status"] = {"observedGeneration": d["metadata"]["generation"], **status}
    env.api("PUT", f"{env.deploys}/web/status", d)


def _read_line(proc: subprocess.Popen[str], timeout_s: float = 15.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "rollout status printed nothing in time"
    return proc.stdout.readline().rstrip("\n")


def test_rollout_status_follows_a_real_watch(env: Env) -> None:
    make_deployment(env, replicas=3)
    proc = subprocess.Popen([KUBELITE, "--kubeconfig", env.kubeconfig, "-n", env.ns, "rollout", "status",
                             "deployment/web", "--timeout", "60s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "KUBELITE_DEBUG": ""})
    try:
        assert _read_line(proc) == "Waiting for deployment spec update to be observed..."
        steps = [({"replicas": 3, "updatedReplicas": 1}, "1 out of 3 new replicas have been updated..."),
                 ({"replicas": 4, "updatedReplicas": 3}, "1 old replicas are pending termination..."),
                 ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2},
                  "2 of 3 updated replicas are available...")]
        for status, text in steps:
            _put_status(env, **status)
            assert _read_line(proc) == f'Waiting for deployment "web" rollout to finish: {text}'
        _put_status(env, replicas=3, updatedReplicas=3, availableReplicas=3)
        assert _read_line(proc) == 'deployment "web" successfully rolled out'
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_rollout_status_fails_on_progress_deadline(env: Env) -> None:
    make_deployment(env)
    _put_status(env, replicas=3, updatedReplicas=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-x" has timed out progressing.'}])
    t0 = time.monotonic()
    r = env.cli("rollout", "status", "deployment/web", "--timeout", "20s")
    assert r.exit_code == 1 and 'error: deployment "web" exceeded its progress deadline' in r.stderr
    assert time.monotonic() - t0 < 10


def _docker_ok() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _docker_ok(), reason="needs the local Docker engine")
def test_image_load_checks_the_local_engine_and_streams_into_lab_nodes(env: Env) -> None:
    missing = f"kubelite/missing-{uuid.uuid4().hex[:8]}:1"
    r = env.cli("image", "load", missing)
    assert r.exit_code == 1 and f'image "{missing}" not found in the local Docker engine' in r.stderr
    # A stand-in lab node: a network-less busybox container whose `docker` just stores stdin,
    # so the real `docker save | docker exec -i NODE docker load` pipe is exercised.
    # The cluster's Node carries the lab provider ID, so `image load` picks this lab's containers
    # (two labs on one host both have a node1).
    name = f"kubelite-test-lab-{uuid.uuid4().hex[:8]}"
    env.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{name}-node"},
                                      "spec": {"providerID": f"lab://{name}/{name}-node"}})
    fake_docker = "printf '#!/bin/sh\\ncat > /tmp/loaded.tar\\necho Loaded\\n' > /bin/docker && chmod +x /bin/docker"
    run = subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--network", "none",
                          "--label", f"io.kubelite.lab-node={name}-node", "--label", f"io.kubelite.lab={name}",
                          "kubelite/busybox:latest",
                          "sh", "-c", f"{fake_docker} && sleep 300"], capture_output=True, text=True, timeout=30)
    try:
        assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 10
        while subprocess.run(["docker", "exec", name, "test", "-x", "/bin/docker"]).returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = env.cli("image", "load", "kubelite/pause:latest")
        assert r.exit_code == 0, r.output
        assert f'image "kubelite/pause:latest" loaded into node "{name}-node"' in r.stdout.splitlines()
        listing = subprocess.run(["docker", "exec", name, "tar", "tf", "/tmp/loaded.tar"],
                                 capture_output=True, text=True, timeout=30)
        assert "manifest.json" in listing.stdout.split()
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=30)
        env.http.delete(f"/api/v1/nodes/{name}-node")
