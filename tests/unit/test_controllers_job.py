"""Job controller: sync(key) on preloaded caches with the recording fake client and a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.job.backoff import BackoffRecord
from controllers.job.controller import JobController
from controllers.job.indexes import first_pending, format_indexes, parse_indexes
from machinery.clock import FakeClock
from machinery.models import JOB_TRACKING_FINALIZER, Job, Pod
from tests.unit.builders import NS, make_context, preload, unpreload
from tests.unit.fake_client import FakeClient

UID = "job-uid"
SEL = {"batch.kubernetes.io/controller-uid": UID}


def make_job(*, completions: int | None = 5, parallelism: int = 2, backoff: int = 6, indexed: bool = False,
             status: dict[str, Any] | None = None, restart: str = "Never", **spec: Any) -> Job:
    return Job.from_dict({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": NS, "uid": UID, "resourceVersion": "10",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": backoff,
                 "completionMode": "Indexed" if indexed else "NonIndexed", "selector": {"matchLabels": SEL},
                 "template": {"metadata": {"labels": dict(SEL)},
                              "spec": {"restartPolicy": restart,
                                       "containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}},
                 **spec},
        "status": status or {},
    })


def job_pod(name: str, *, phase: str = "Running", finalizer: bool = True, index: int | None = None,
            deleting: bool = False, ready: bool = False, finished: str = "2026-01-01T00:00:00Z",
            restarts: int = 0) -> Pod:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "5",
                            "labels": dict(SEL), "creationTimestamp": "2026-01-01T00:00:00Z",
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": UID,
                                                 "controller": True, "blockOwnerDeletion": True}]}
    if finalizer:
        meta["finalizers"] = [JOB_TRACKING_FINALIZER]
    if index is not None:
        meta["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if phase in ("Succeeded", "Failed"):
        status["containerStatuses"] = [{"name": "c", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
                                        "state": {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1,
                                                                 "finishedAt": finished}}}]
    elif restarts:
        status["containerStatuses"] = [{"name": "c", "ready": False, "restartCount": restarts, "image": "x",
                                        "imageID": ""}]
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    return Pod.from_dict({"metadata": meta, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
                          "status": status})


def setup(job: Job, *pods: Pod, clock: FakeClock | None = None) -> tuple[FakeClient, JobController]:
    client = FakeClient(namespace=NS)
    client.add(job, *pods)
    c = JobController(make_context(client), clock=clock or FakeClock())
    preload(c.job_informer, job)
    preload(c.pod_informer, *pods)
    return client, c


def api_calls(client: FakeClient) -> list[tuple[str, str, str]]:
    return [(c.verb, c.kind, c.name) for c in client.calls if c.kind != "Event"]


def last_status(client: FakeClient) -> dict[str, Any]:
    body = client.calls_of("replace/status", "Job")[-1].body
    return dict(body["status"])


async def test_first_sync_creates_parallelism_pods_with_finalizer_and_start_time() -> None:
    client, c = setup(make_job())
    await c.sync(f"{NS}/pi")
    assert [v for v, k, _ in api_calls(client)] == ["create", "create", "replace/status"]
    for call in client.calls_of("create", "Pod"):
        meta = call.body["metadata"]
        assert meta["generateName"] == "pi-"
        assert meta["finalizers"] == [JOB_TRACKING_FINALIZER]
        assert meta["labels"] == SEL
        assert meta["ownerReferences"][0]["uid"] == UID and meta["ownerReferences"][0]["controller"]
    status = last_status(client)
    assert status["startTime"] == "2026-01-01T00:00:00Z"
    assert c.expectations.pending(f"{NS}/pi") == (2, 0)
    preload(c.job_informer, client.stored(Job, "pi", NS))
    await c.sync(f"{NS}/pi")  # the informer has not seen the pods: no double creation
    assert len(client.calls_of("create", "Pod")) == 2


async def test_finished_pod_is_counted_through_uncounted_then_finalizer_then_counter() -> None:
    job = make_job(status={"startTime": "2026-01-01T00:00:00Z"})
    done, running = job_pod("a", phase="Succeeded"), job_pod("b", ready=True)
    client, c = setup(job, done, running)
    await c.sync(job.key)
    assert api_calls(client) == [("create", "Pod", client.calls_of("create", "Pod")[0].name),
                                 ("replace/status", "Job", "pi"), ("patch", "Pod", "a"),
                                 ("replace/status", "Job", "pi")]
    first, second = (call.body["status"] for call in client.calls_of("replace/status", "Job"))
    assert first["uncountedTerminatedPods"] == {"succeeded": ["uid-a"], "failed": []}
    assert "succeeded" not in first and first["active"] == 1 and first["ready"] == 1
    assert client.calls_of("patch", "Pod")[0].body == {"metadata": {"finalizers": None}}
    assert second["succeeded"] == 1 and second["uncountedTerminatedPods"] == {}


async def test_stale_cache_never_counts_a_pod_twice() -> None:
    job = make_job(completions=3, parallelism=1, status={"startTime": "2026-01-01T00:00:00Z", "succeeded": 1})
    client, c = setup(job, job_pod("a", phase="Succeeded"))
    c.finalizer_removals[job.key] = {"uid-a"}  # removed already; the informer lags
    await c.sync(job.key)
    assert not client.calls_of("patch", "Pod")
    assert "uncountedTerminatedPods" not in last_status(client) or last_status(client)["uncountedTerminatedPods"] == {}
    assert last_status(client)["succeeded"] == 1


async def test_backoff_limit_exceeded_fails_with_failure_target_then_failed() -> None:
    job = make_job(completions=1, parallelism=1, backoff=1, status={"startTime": "2026-01-01T00:00:00Z",
                                                                    "failed": 1})
    client, c = setup(job, job_pod("b", phase="Failed"))
    await c.sync(job.key)
    assert [v for v, _, _ in api_calls(client)] == ["replace/status", "patch", "replace/status"]
    status = last_status(client)
    assert status["failed"] == 2
    types = [(cond["type"], cond["status"], cond["reason"]) for cond in status["conditions"]]
    assert types == [("FailureTarget", "True", "BackoffLimitExceeded"), ("Failed", "True", "BackoffLimitExceeded")]
    assert "completionTime" not in status
    reasons = [call.body["reason"] for call in client.calls_of("create", "Event")]
    assert "BackoffLimitExceeded" in reasons
    client.calls.clear()
    preload(c.job_informer, client.stored(Job, "pi", NS))
    await c.sync(job.key)  # finished: nothing more
    assert api_calls(client) == []


async def test_failed_pod_replacement_waits_for_exponential_backoff() -> None:
    clock = FakeClock()  # wall clock 2026-01-01T00:00:00Z
    job = make_job(completions=1, parallelism=1, status={"startTime": "2026-01-01T00:00:00Z"})
    client, c = setup(job, job_pod("b", phase="Failed", finalizer=False), clock=clock)
    c.backoff[job.key] = BackoffRecord(1, clock.now().timestamp())
    await c.sync(job.key)
    assert not client.calls_of("create", "Pod")
    clock.advance(10.0)
    preload(c.job_informer, client.stored(Job, "pi", NS))
    await c.sync(job.key)
    assert len(client.calls_of("create", "Pod")) == 1


def test_backoff_record_doubles_and_caps() -> None:
    r = BackoffRecord()
    r.update([], [100.0])
    assert r.remaining_s(100.0) == 10.0 and r.remaining_s(105.0) == 5.0
    r.update([], [110.0, 111.0])
    assert r.delay_s() == 40.0
    r.update([], [120.0] * 10)
    assert r.delay_s() == 360.0
    r.update([130.0], [125.0, 140.0])  # a success resets; only the later failure counts
    assert (r.failures_after_last_success, r.last_failure_s) == (1, 140.0)


async def test_restarts_with_on_failure_count_toward_the_backoff_limit() -> None:
    job = make_job(completions=1, parallelism=1, backoff=2, restart="OnFailure",
                   status={"startTime": "2026-01-01T00:00:00Z"})
    client, c = setup(job, job_pod("a", restarts=2))
    await c.sync(job.key)
    assert ("delete", "Pod", "a") in api_calls(client)
    conds = [cond["type"] for cond in last_status(client)["conditions"]]
    assert conds == ["FailureTarget"]  # Failed waits until the deleted pod is gone


async def test_active_deadline_deletes_pods_then_fails() -> None:
    clock = FakeClock()
    job = make_job(activeDeadlineSeconds=60, status={"startTime": "2025-12-31T23:58:00Z"})
    pods = [job_pod("a"), job_pod("b")]
    client, c = setup(job, *pods, clock=clock)
    await c.sync(job.key)
    assert sorted(n for v, _, n in api_calls(client) if v == "delete") == ["a", "b"]
    status = last_status(client)
    assert [(x["type"], x["reason"]) for x in status["conditions"]] == [("FailureTarget", "DeadlineExceeded")]
    assert status["terminating"] == 2 and "active" not in status
    # The pods are now terminating; their finalizers go and they count as failed.
    preload(c.job_informer, client.stored(Job, "pi", NS))
    preload(c.pod_informer, job_pod("a", deleting=True), job_pod("b", deleting=True))
    client.calls.clear()
    await c.sync(job.key)
    assert sorted(n for v, _, n in api_calls(client) if v == "patch") == ["a", "b"]
    assert last_status(client)["failed"] == 2
    assert [x["type"] for x in last_status(client)["conditions"]] == ["FailureTarget"]
    # Gone: the terminal condition follows.
    unpreload(c.pod_informer, f"{NS}/a", f"{NS}/b")
    c.finalizer_removals.clear()
    preload(c.job_informer, client.stored(Job, "pi", NS))
    await c.sync(job.key)
    assert [x["type"] for x in last_status(client)["conditions"]] == ["FailureTarget", "Failed"]


async def test_completion_gives_success_criteria_met_then_complete_with_completion_time() -> None:
    job = make_job(completions=2, parallelism=2, status={"startTime": "2026-01-01T00:00:00Z", "succeeded": 1})
    client, c = setup(job, job_pod("b", phase="Succeeded"))
    await c.sync(job.key)
    status = last_status(client)
    assert status["succeeded"] == 2 and status["completionTime"] == "2026-01-01T00:00:00Z"
    assert [(x["type"], x["reason"]) for x in status["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
    assert not client.calls_of("create", "Pod")


async def test_indexed_job_creates_lowest_pending_indexes_with_env_and_hostname() -> None:
    job = make_job(completions=4, parallelism=2, indexed=True,
                   status={"startTime": "2026-01-01T00:00:00Z", "completedIndexes": "0", "succeeded": 1})
    client, c = setup(job, job_pod("p1", index=1))
    await c.sync(job.key)
    creates = client.calls_of("create", "Pod")
    assert len(creates) == 1
    body = creates[0].body
    assert body["metadata"]["generateName"] == "pi-2-"
    assert body["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "2"
    assert body["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "2"
    assert body["spec"]["hostname"] == "pi-2"
    assert body["spec"]["containers"][0]["env"] == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]


async def test_indexed_success_updates_completed_indexes() -> None:
    job = make_job(completions=3, parallelism=3, indexed=True, status={"startTime": "2026-01-01T00:00:00Z"})
    client, c = setup(job, job_pod("p0", phase="Succeeded", index=0), job_pod("p2", phase="Succeeded", index=2),
                      job_pod("p1", index=1))
    await c.sync(job.key)
    status = last_status(client)
    assert status["completedIndexes"] == "0,2" and status["succeeded"] == 2
    assert not client.calls_of("create", "Pod")


async def test_suspend_deletes_active_pods_and_sets_condition() -> None:
    job = make_job(suspend=True, status={"startTime": "2026-01-01T00:00:00Z"})
    client, c = setup(job, job_pod("a"))
    await c.sync(job.key)
    assert ("delete", "Pod", "a") in api_calls(client)
    conds = last_status(client)["conditions"]
    assert [(x["type"], x["status"], x["reason"]) for x in conds] == [("Suspended", "True", "JobSuspended")]
    assert not client.calls_of("create", "Pod")


async def test_deleted_job_releases_its_pods_finalizers() -> None:
    client, c = setup(make_job(), job_pod("a", phase="Succeeded"))
    unpreload(c.job_informer, f"{NS}/pi")
    await c.sync(f"{NS}/pi")
    assert api_calls(client) == [("patch", "Pod", "a")]


@pytest.mark.parametrize(("text", "indexes"), [("", set()), ("1,3-5", {1, 3, 4, 5}), ("0-2,x", {0, 1, 2})])
def test_indexes_round_trip(text: str, indexes: set[int]) -> None:
    assert parse_indexes(text) == indexes
    if "x" not in text:
        assert format_indexes(indexes) == text
    assert first_pending(2, 6, {0, 1}, {2}) == [3, 4]


async def test_job_being_deleted_creates_nothing_and_releases_finalizers() -> None:
    job = make_job(status={"startTime": "2026-01-01T00:00:00Z"})
    job.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    client, c = setup(job, job_pod("a", deleting=True))
    await c.sync(job.key)
    assert api_calls(client) == [("patch", "Pod", "a")]


async def test_orphaned_pod_loses_the_tracking_finalizer() -> None:
    orphan = job_pod("a")
    orphan.metadata.ownerReferences = None  # the Job was deleted with propagationPolicy=Orphan
    other = job_pod("b")
    assert other.metadata.ownerReferences is not None
    other.metadata.ownerReferences[0].kind = "Thing"
    other.metadata.ownerReferences[0].apiVersion = "example.com/v1"
    client, c = setup(make_job(), orphan, other)
    c._pod_added(orphan)
    c._pod_added(other)
    assert len(c.queue) == 1
    key = await c.queue.get()
    assert key == f"orphan-pod:{NS}/a"
    await c.sync(key)
    assert api_calls(client) == [("patch", "Pod", "a")]


def _exit(pod: Pod, code: int) -> Pod:
    assert pod.status is not None and pod.status.containerStatuses
    state = pod.status.containerStatuses[0].state
    assert state is not None and state.terminated is not None
    state.terminated.exitCode = code
    return pod


POLICY = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
                    {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}


async def test_pod_failure_policy_fail_job() -> None:
    job = make_job(completions=3, parallelism=1, podFailurePolicy=POLICY, podReplacementPolicy="Failed",
                   status={"startTime": "2026-01-01T00:00:00Z"})
    client, c = setup(job, _exit(job_pod("a", phase="Failed"), 42))
    await c.sync(job.key)
    status = last_status(client)
    assert [(x["type"], x["reason"]) for x in status["conditions"]] == [
        ("FailureTarget", "PodFailurePolicy"), ("Failed", "PodFailurePolicy")]
    assert status["conditions"][0]["message"] == \
        f"Container c for pod {NS}/a failed with exit code 42 matching FailJob rule at index 0"
    assert status["failed"] == 1 and not client.calls_of("create", "Pod")


async def test_pod_failure_policy_ignore_does_not_count_and_terminating_pods_hold_their_place() -> None:
    job = make_job(completions=2, parallelism=2, backoff=0, podFailurePolicy=POLICY, podReplacementPolicy="Failed",
                   status={"startTime": "2026-01-01T00:00:00Z"})
    ignored = _exit(job_pod("a", phase="Failed"), 3)
    leaving = job_pod("b", deleting=True)  # terminating: neither failed nor replaced yet
    client, c = setup(job, ignored, leaving)
    await c.sync(job.key)
    assert ("patch", "Pod", "a") in api_calls(client)  # the finalizer goes
    status = last_status(client)
    assert "failed" not in status and "conditions" not in status  # backoffLimit 0 not reached
    assert len(client.calls_of("create", "Pod")) == 1  # one replacement for a; b still holds its place
