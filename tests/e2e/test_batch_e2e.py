"""Issue 12 end to end: Jobs, a CronJob and a DaemonSet on the real cluster (scheduler,
controller-manager, kubelet on Docker), driven through the API, the `kubelite` CLI and the real
`kubectl` where users would use them.

Pods run the local busybox image with short commands (`sleep 1`, `exit 1`), so each Job takes
seconds; the CronJob test waits for one real minute boundary (at most ~70 s).
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest

from machinery.client import ApiClient
from tests.e2e.conftest import ROOT, Cluster
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NS = "default"
KUBELITE = str(ROOT / ".venv" / "bin" / "kubelite")
KUBECTL = str(ROOT / ".venv" / "bin" / "kubectl")
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
CRONJOBS = f"/apis/batch/v1/namespaces/{NS}/cronjobs"
PODS = f"/api/v1/namespaces/{NS}/pods"
IMAGE = "kubelite/busybox:latest"


def _job(name: str, command: str, *, restart: str = "Never", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {**spec, "template": {"spec": {
                "restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Never",
                                "command": ["sh", "-c", command]}]}}}}


def _cli(cluster: Cluster, tool: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([tool, "--kubeconfig", str(cluster.kubeconfig), *args], capture_output=True, text=True,
                          timeout=60, check=False, input=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _get(api: ApiClient, path: str) -> dict[str, Any]:
    result: dict[str, Any] = await api.request("GET", path)
    return result


def _cond(job: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (job.get("status") or {}).get("conditions") or []
                 if c["type"] == ctype and c["status"] == "True"), None)


async def _job_pods(api: ApiClient, name: str) -> list[dict[str, Any]]:
    data = await api.request("GET", PODS, params={"labelSelector": f"batch.kubernetes.io/job-name={name}"})
    items: list[dict[str, Any]] = data["items"]
    return items


async def test_job_of_five_completions_with_parallelism_two(full_cluster: Cluster, full_api: ApiClient) -> None:
    await full_api.request("POST", JOBS, json=_job("five", "sleep 1", completions=5, parallelism=2))
    most_active = 0

    async def complete() -> bool:
        nonlocal most_active
        job = await _get(full_api, f"{JOBS}/five")
        most_active = max(most_active, int((job.get("status") or {}).get("active") or 0))
        return _cond(job, "Complete") is not None

    await wait_until(complete, timeout_s=120, interval_s=0.2, message="job five never completed")
    job = await _get(full_api, f"{JOBS}/five")
    status = job["status"]
    assert status["succeeded"] == 5 and not status.get("failed") and status.get("completionTime")
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert most_active <= 2
    pods = await _job_pods(full_api, "five")
    assert len(pods) == 5 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert not any(p["metadata"].get("finalizers") for p in pods)  # every pod counted, finalizer gone
    table = _cli(full_cluster, KUBECTL, "get", "job", "five")
    assert table.split("\n")[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table.split("\n")[1].split()[:3] == ["five", "Complete", "5/5"]


async def test_failing_job_stops_at_backoff_limit(full_api: ApiClient) -> None:
    await full_api.request("POST", JOBS, json=_job("fails", "exit 1", backoffLimit=1))

    async def failed() -> bool:
        return _cond(await _get(full_api, f"{JOBS}/fails"), "Failed") is not None

    # Two attempts: the second starts after the 10 s pod-failure backoff.
    await wait_until(failed, timeout_s=90, interval_s=0.5, message="job fails never Failed")
    status = (await _get(full_api, f"{JOBS}/fails"))["status"]
    assert status["failed"] == 2 and not status.get("active")
    failed_cond = _cond({"status": status}, "Failed")
    assert failed_cond is not None and failed_cond["reason"] == "BackoffLimitExceeded"
    assert _cond({"status": status}, "FailureTarget") is not None
    pods = await _job_pods(full_api, "fails")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Failed" for p in pods)
    await asyncio.sleep(2.0)  # no further attempt after the terminal condition
    assert len(await _job_pods(full_api, "fails")) == 2


async def test_pod_failure_policy_fails_the_job_at_once(full_api: ApiClient) -> None:
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    await full_api.request("POST", JOBS, json=_job("policy", "exit 42", backoffLimit=6, podFailurePolicy=policy))

    async def failed() -> bool:
        return _cond(await _get(full_api, f"{JOBS}/policy"), "Failed") is not None

    await wait_until(failed, timeout_s=60, interval_s=0.3, message="job policy never Failed")
    status = (await _get(full_api, f"{JOBS}/policy"))["status"]
    cond = _cond({"status": status}, "Failed")
    assert cond is not None and cond["reason"] == "PodFailurePolicy" and "exit code 42" in cond["message"]
    assert status["failed"] == 1 and len(await _job_pods(full_api, "policy")) == 1  # no retry despite backoffLimit


async def test_indexed_job_sees_its_index(full_api: ApiClient) -> None:
    await full_api.request("POST", JOBS, json=_job("idx", 'echo "index=$JOB_COMPLETION_INDEX host=$(hostname)"',
                                                   completions=3, parallelism=3, completionMode="Indexed"))

    async def complete() -> bool:
        return _cond(await _get(full_api, f"{JOBS}/idx"), "Complete") is not None

    await wait_until(complete, timeout_s=90, interval_s=0.3, message="indexed job never completed")
    assert (await _get(full_api, f"{JOBS}/idx"))["status"]["completedIndexes"] == "0-2"
    seen = set()
    for pod in await _job_pods(full_api, "idx"):
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        log = await full_api.request("GET", f"{PODS}/{pod['metadata']['name']}/log")
        text = log if isinstance(log, str) else str(log)
        assert f"index={index} host=idx-{index}" in text
        seen.add(index)
    assert seen == {"0", "1", "2"}


async def test_finished_job_with_ttl_is_deleted(full_api: ApiClient) -> None:
    await full_api.request("POST", JOBS, json=_job("short", "true", ttlSecondsAfterFinished=1))

    async def gone() -> bool:
        data = await full_api.request("GET", JOBS)
        return all(j["metadata"]["name"] != "short" for j in data["items"])

    await wait_until(gone, timeout_s=60, interval_s=0.5, message="job with ttlSecondsAfterFinished=1 not deleted")


async def test_cronjob_runs_every_minute_and_keeps_its_history_limit(full_cluster: Cluster,
                                                                    full_api: ApiClient) -> None:
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
          "spec": {"schedule": "*/1 * * * *", "successfulJobsHistoryLimit": 1, "suspend": True,
                   "jobTemplate": {"spec": _job("x", "true")["spec"]}}}
    await full_api.request("POST", CRONJOBS, json=cj)
    # A manual run first (kubectl's `create job --from`): a finished Job the history limit must drop.
    out = _cli(full_cluster, KUBELITE, "create", "job", "tick-manual", "--from=cronjob/tick")
    assert out.strip() == "job.batch/tick-manual created"
    manual = await _get(full_api, f"{JOBS}/tick-manual")
    assert manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert manual["metadata"]["ownerReferences"][0]["kind"] == "CronJob"

    async def manual_done() -> bool:
        return _cond(await _get(full_api, f"{JOBS}/tick-manual"), "Complete") is not None

    await wait_until(manual_done, timeout_s=60, interval_s=0.5, message="manual job never completed")
    # Suspended until now so the manual run is surely the older one; resuming runs the most recent
    # missed minute at once (as Kubernetes) or waits for the next one.
    await full_api.request("PATCH", f"{CRONJOBS}/tick", json={"spec": {"suspend": False}},
                           headers={"Content-Type": "application/merge-patch+json"})

    async def scheduled_done_and_trimmed() -> bool:
        data = await full_api.request("GET", JOBS)
        names = {j["metadata"]["name"]: j for j in data["items"]
                 if (j["metadata"].get("ownerReferences") or [{}])[0].get("name") == "tick"}
        scheduled = [j for n, j in names.items() if n != "tick-manual"]
        return ("tick-manual" not in names and len(scheduled) == 1 and _cond(scheduled[0], "Complete") is not None)

    # The next minute boundary is at most 60 s away; the job then takes a few seconds.
    await wait_until(scheduled_done_and_trimmed, timeout_s=110, interval_s=1.0,
                     message="the scheduled job did not complete with the manual one trimmed")
    status = (await _get(full_api, f"{CRONJOBS}/tick"))["status"]
    assert status.get("lastScheduleTime", "").endswith(":00Z") and status.get("lastSuccessfulTime")
    scheduled_name = next(j["metadata"]["name"] for j in (await full_api.request("GET", JOBS))["items"]
                          if j["metadata"]["name"].startswith("tick-"))
    assert scheduled_name.split("-")[-1].isdigit()  # <cronjob>-<minutes since the epoch>
    table = _cli(full_cluster, KUBECTL, "get", "cronjob", "tick")
    assert table.split("\n")[0].split()[:5] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE"]
    await full_api.request("DELETE", f"{CRONJOBS}/tick")


FLUENTD = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd-elasticsearch
  namespace: kube-system
  labels:
    k8s-app: fluentd-logging
spec:
  selector:
    matchLabels:
      name: fluentd-elasticsearch
  template:
    metadata:
      labels:
        name: fluentd-elasticsearch
    spec:
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      - key: node-role.kubernetes.io/master
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd-elasticsearch
        image: kubelite/busybox:latest
        imagePullPolicy: Never
        command: ["sh", "-c", "ls /var/log > /dev/null && exec sleep 3600"]
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      terminationGracePeriodSeconds: 1
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
"""


async def test_daemonset_has_one_pod_on_the_node(full_cluster: Cluster, full_api: ApiClient) -> None:
    # The seed's fluentd-elasticsearch DaemonSet (kube-system), with the local image, applied by kubectl.
    _cli(full_cluster, KUBECTL, "apply", "-f", "-", stdin=FLUENTD)
    path = "/apis/apps/v1/namespaces/kube-system/daemonsets/fluentd-elasticsearch"

    async def ready() -> bool:
        st = (await _get(full_api, path)).get("status") or {}
        return (st.get("desiredNumberScheduled"), st.get("numberReady"), st.get("numberAvailable")) == (1, 1, 1)

    await wait_until(ready, timeout_s=60, interval_s=0.3, message="daemonset pod never ready")
    pods = (await full_api.request("GET", "/api/v1/namespaces/kube-system/pods",
                                   params={"labelSelector": "name=fluentd-elasticsearch"}))["items"]
    assert len(pods) == 1 and pods[0]["spec"]["nodeName"] == full_cluster.node
    assert pods[0]["status"]["phase"] == "Running"
    tolerated = {(t["key"], t["effect"]) for t in pods[0]["spec"]["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in tolerated
    assert ("node-role.kubernetes.io/control-plane", "NoSchedule") in tolerated
    table = _cli(full_cluster, KUBECTL, "get", "ds", "-n", "kube-system", "fluentd-elasticsearch")
    assert table.split("\n")[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                                            "NODE", "SELECTOR", "AGE"]
    assert table.split("\n")[1].split()[:6] == ["fluentd-elasticsearch", "1", "1", "1", "1", "1"]
    await full_api.request("DELETE", path)
