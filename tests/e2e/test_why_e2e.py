"""`kubelite why` on a real node (real Docker, kubelet, scheduler and controller-manager): each
cause its contract names, produced for real and explained on one screen with the next command.

The objects of all causes are created once (module fixture) so they progress in parallel; each
test then polls `kubelite why` until the cluster has reached the state it explains. The missing
image and the crash loop are covered in test_cli_pod_verbs.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.support import admin_request

pytestmark = pytest.mark.e2e
KUBELITE = str(Path(sys.executable).parent / "kubelite")
IMAGE = "kubelite/busybox:latest"
QUOTA_NS = "why-quota"


def _why(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(c.kubeconfig), "KUBELITE_DEBUG": "", "HOME": str(c.tmp)}
    return subprocess.run([KUBELITE, "why", *args], capture_output=True, text=True, timeout=60, env=env)


def _post(c: Cluster, path: str, body: dict[str, Any]) -> None:
    r = admin_request("POST", f"{c.server}{path}", json=body)
    assert r.status_code == 201, r.text


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "app", "image": IMAGE, "command": ["sleep", "3600"]}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, **spec}}


def _deployment(name: str, image: str, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, **spec,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                      {"name": "app", "image": image, "command": ["sleep", "3600"]}]}}}}


@pytest.fixture(scope="module")
def causes(full_cluster: Cluster) -> Cluster:
    c = full_cluster
    pods = "/api/v1/namespaces/default/pods"
    _post(c, pods, _pod("greedy", containers=[{"name": "app", "image": IMAGE, "command": ["sleep", "3600"],
                                               "resources": {"requests": {"cpu": "500"}}}]))
    _post(c, "/api/v1/namespaces/default/persistentvolumeclaims", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"storageClassName": "no-such-class", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Mi"}}}})
    _post(c, pods, _pod("claimer", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]))
    _post(c, pods, _pod("unready", containers=[{
        "name": "app", "image": IMAGE, "command": ["sleep", "3600"],
        "readinessProbe": {"exec": {"command": ["sh", "-c", "echo db-down; exit 1"]}, "periodSeconds": 1}}]))
    _post(c, pods, _pod("waiter", initContainers=[{
        "name": "wait-db", "image": IMAGE,
        "command": ["sh", "-c", "until [ -f /tmp/db-ready ]; do echo waiting for mydb; sleep 1; done"]}]))
    _post(c, "/apis/apps/v1/namespaces/default/deployments",
          _deployment("stalled", "kubelite/not-built:v9", progressDeadlineSeconds=3))
    _post(c, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": QUOTA_NS}})
    _post(c, f"/api/v1/namespaces/{QUOTA_NS}/resourcequotas", {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "none"}, "spec": {"hard": {"pods": "0"}}})
    _post(c, f"/apis/apps/v1/namespaces/{QUOTA_NS}/deployments", _deployment("capped", IMAGE))
    return c


def _until(c: Cluster, args: list[str], done: Callable[[str], bool], timeout_s: float = 90.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = _why(c, *args)
        if r.returncode == 0 and done(r.stdout):
            return r.stdout.splitlines()
        assert time.monotonic() < deadline, (r.returncode, r.stdout, r.stderr, c.logs()[-4000:])
        time.sleep(1.0)


def test_unschedulable_pod_names_the_scheduler_reason(causes: Cluster) -> None:
    lines = _until(causes, ["greedy"], lambda out: "Insufficient cpu" in out)
    assert lines[0] == "pod/greedy is Pending: no node accepted it."
    assert lines[1].startswith("  scheduler: 0/1 nodes are available")
    assert lines[2] == f"  closest node: {causes.node}, where"
    assert lines[3].startswith("    - cpu: the pod requests 500, ") and lines[3].endswith(" is free"), lines
    assert lines[-1].startswith("Next: kubelite describe nodes")


def test_pending_claim_is_named_with_its_storage_class(causes: Cluster) -> None:
    lines = _until(causes, ["pod/claimer"], lambda out: "PersistentVolumeClaim data" in out)
    assert lines[0] == "pod/claimer is Pending: no node accepted it."
    assert "  PersistentVolumeClaim data is Pending (storageClass no-such-class)." in lines
    assert lines[-1] == "Next: kubelite describe pvc data -n default"


def test_failing_readiness_probe_shows_its_output(causes: Cluster) -> None:
    lines = _until(causes, ["unready"], lambda out: "a probe fails" in out)
    assert lines[0].startswith("pod/unready is Running but a probe fails (")
    assert "db-down" in lines[1]
    assert lines[-1] == "Next: kubelite describe pod/unready -n default   # the probe's command, port and thresholds"


def test_init_container_waiting_shows_its_command_and_log(causes: Cluster) -> None:
    # The log line can be read before the kubelet's status write (or `why` can read the pod just
    # before it and the log just after): wait for both, as a user re-running `why` would see.
    lines = _until(causes, ["waiter"], lambda out: "waiting for mydb" in out and "wait-db (running)" in out)
    assert lines[0] == "pod/waiter waits for init container wait-db (running)."
    assert lines[1].startswith("  it runs: sh -c until [ -f /tmp/db-ready ]")
    assert lines[-1].startswith("Next: kubelite logs pod/waiter -c wait-db -n default")


def test_stalled_rollout_names_the_deadline_and_the_pod_cause(causes: Cluster) -> None:
    lines = _until(causes, ["deploy/stalled"], lambda out: "ProgressDeadlineExceeded" in out and "not on the node" in out)
    assert lines[0].startswith("deployment/stalled is stalled: no progress for 3s (ProgressDeadlineExceeded)")
    assert lines[1].startswith("  newest ReplicaSet stalled-") and lines[1].endswith(": 0/1 ready.")
    assert "  a pod of it:" in lines
    assert lines[-1] == "  Next: kubelite image load kubelite/not-built:v9   # copies a local image into the cluster's node(s)"


def test_quota_refusal_of_a_deployment(causes: Cluster) -> None:
    lines = _until(causes, ["-n", QUOTA_NS, "deployment/capped"], lambda out: "cannot create pods" in out)
    assert lines[0] == "deployment/capped has 0/1 available replicas (1 unavailable)." or \
        lines[0].startswith("deployment/capped has 0/1 available replicas"), lines
    assert "exceeded quota: none, requested: pods=1, used: pods=0, limited: pods=0" in lines[2], lines
    assert lines[-1] == f"Next: kubelite describe quota -n {QUOTA_NS}"
