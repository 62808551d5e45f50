"""CronJob and TTL-after-finished controllers: sync(key) with the recording fake and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controllers.cronjob import CronJobController, missed_count, most_recent_unmet
from controllers.ttlafterfinished import TTLAfterFinishedController
from machinery.clock import FakeClock
from machinery.cron import load_zone, parse_schedule
from machinery.models import CronJob, Job
from tests.unit.builders import NS, make_context, preload
from tests.unit.fake_client import FakeClient

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # FakeClock's wall time at start
CJ_UID = "cj-uid"


def make_cj(*, schedule: str = "*/1 * * * *", status: dict[str, Any] | None = None, **spec: Any) -> CronJob:
    return CronJob.from_dict({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "hello", "namespace": NS, "uid": CJ_UID, "resourceVersion": "7",
                     "creationTimestamp": "2025-12-31T23:58:30Z"},
        "spec": {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"metadata": {"labels": {"app": "hello"}},
                                 "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                                                "containers": [{"name": "c", "image": "b"}]}}}},
                 **spec},
        "status": status or {},
    })


def cj_job(name: str, *, finished: str | None = None, start: str = "2025-12-31T23:00:00Z", uid: str | None = None) -> Job:
    status: dict[str, Any] = {"startTime": start}
    if finished == "Complete":
        status.update(completionTime=start, conditions=[{"type": "Complete", "status": "True"}])
    elif finished == "Failed":
        status["conditions"] = [{"type": "Failed", "status": "True"}]
    return Job.from_dict({"metadata": {"name": name, "namespace": NS, "uid": uid or f"uid-{name}",
                                       "resourceVersion": "3",
                                       "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                                            "name": "hello", "uid": CJ_UID, "controller": True}]},
                          "spec": {"template": {}}, "status": status})


def setup(cj: CronJob, *jobs: Job, clock: FakeClock | None = None) -> tuple[FakeClient, CronJobController]:
    client = FakeClient(namespace=NS)
    client.add(cj, *jobs)
    c = CronJobController(make_context(client), clock=clock or FakeClock())
    preload(c.cj_informer, cj)
    preload(c.job_informer, *jobs)
    return client, c


def api_calls(client: FakeClient) -> list[tuple[str, str, str]]:
    return [(c.verb, c.kind, c.name) for c in client.calls if c.kind != "Event"]


def reasons(client: FakeClient) -> list[str]:
    return [c.body["reason"] for c in client.calls_of("create", "Event")]


MINUTE_T0 = int(T0.timestamp()) // 60


async def test_creates_the_job_of_the_most_recent_minute() -> None:
    client, c = setup(make_cj())
    await c.sync(f"{NS}/hello")
    assert api_calls(client) == [("create", "Job", f"hello-{MINUTE_T0}"), ("replace/status", "CronJob", "hello")]
    job = client.calls_of("create", "Job")[0].body
    assert job["metadata"]["labels"] == {"app": "hello"}
    assert job["metadata"]["annotations"] == {"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-01-01T00:00:00Z"}
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    status = client.calls_of("replace/status", "CronJob")[0].body["status"]
    assert status["lastScheduleTime"] == "2026-01-01T00:00:00Z"
    assert [r["name"] for r in status["active"]] == [f"hello-{MINUTE_T0}"]
    assert reasons(client) == ["SuccessfulCreate"]


async def test_same_minute_is_not_run_twice_and_next_minute_runs() -> None:
    clock = FakeClock()
    cj = make_cj(status={"lastScheduleTime": "2026-01-01T00:00:00Z"})
    client, c = setup(cj, clock=clock)
    await c.sync(cj.key)
    assert api_calls(client) == []
    clock.advance(61)
    await c.sync(cj.key)
    assert api_calls(client)[0] == ("create", "Job", f"hello-{MINUTE_T0 + 1}")


async def test_forbid_skips_while_a_job_is_active_and_replace_deletes_it() -> None:
    active = cj_job("hello-1")
    ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "hello-1", "namespace": NS, "uid": "uid-hello-1"}
    status = {"lastScheduleTime": "2025-12-31T23:59:00Z", "active": [ref]}
    client, c = setup(make_cj(concurrencyPolicy="Forbid", status=status), active)
    await c.sync(f"{NS}/hello")
    assert api_calls(client) == []
    assert reasons(client) == ["JobAlreadyActive"]
    client, c = setup(make_cj(concurrencyPolicy="Replace", status=status), active)
    await c.sync(f"{NS}/hello")
    assert api_calls(client)[:2] == [("delete", "Job", "hello-1"), ("create", "Job", f"hello-{MINUTE_T0}")]
    assert client.calls_of("delete", "Job")[0].body == {"propagationPolicy": "Background"}
    new_status = client.calls_of("replace/status", "CronJob")[0].body["status"]
    assert [r["name"] for r in new_status["active"]] == [f"hello-{MINUTE_T0}"]


async def test_finished_jobs_leave_active_and_history_limits_delete_oldest() -> None:
    jobs = [cj_job(f"ok-{i}", finished="Complete", start=f"2025-12-31T1{i}:00:00Z") for i in range(5)]
    jobs += [cj_job("bad-1", finished="Failed", start="2025-12-31T20:00:00Z"),
             cj_job("bad-2", finished="Failed", start="2025-12-31T21:00:00Z"), cj_job("running")]
    ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "ok-4", "namespace": NS, "uid": "uid-ok-4"}
    cj = make_cj(suspend=True, status={"active": [ref], "lastScheduleTime": "2025-12-31T23:59:00Z"})
    client, c = setup(cj, *jobs)
    await c.sync(cj.key)
    assert [n for v, _, n in api_calls(client) if v == "delete"] == ["ok-0", "ok-1", "bad-1"]
    status = client.calls_of("replace/status", "CronJob")[0].body["status"]
    assert "active" not in status and status["lastSuccessfulTime"] == "2025-12-31T14:00:00Z"
    assert "SawCompletedJob" in reasons(client)
    assert not client.calls_of("create", "Job")  # suspended


async def test_starting_deadline_missed() -> None:
    clock = FakeClock()
    cj = make_cj(schedule="0 * * * *", startingDeadlineSeconds=10,
                 status={"lastScheduleTime": "2025-12-31T23:00:00Z"})
    clock.advance(30)  # 00:00:30: the 00:00 run is 30 s late, deadline 10 s
    client, c = setup(cj, clock=clock)
    await c.sync(cj.key)
    assert api_calls(client) == []
    assert reasons(client) == []  # beyond the deadline window: nothing unmet, as Kubernetes


async def test_already_exists_of_our_own_job_counts_as_created() -> None:
    ours = cj_job(f"hello-{MINUTE_T0}")
    client, c = setup(make_cj())
    client.add(ours)  # in the API, not yet in the cache
    await c.sync(f"{NS}/hello")
    assert api_calls(client) == [("create", "Job", f"hello-{MINUTE_T0}"), ("get", "Job", f"hello-{MINUTE_T0}"),
                                 ("replace/status", "CronJob", "hello")]


async def test_time_zone_schedules_on_local_wall_clock() -> None:
    clock = FakeClock()
    clock.advance(14 * 3600)  # 2026-01-01T14:00:00Z = 09:00 in New York
    cj = make_cj(schedule="0 9 * * *", timeZone="America/New_York",
                 status={"lastScheduleTime": "2025-12-31T14:00:00Z"})
    client, c = setup(cj, clock=clock)
    await c.sync(cj.key)
    job = client.calls_of("create", "Job")[0].body
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        "2026-01-01T09:00:00-05:00"


def test_most_recent_unmet_after_a_long_pause() -> None:
    every = parse_schedule("*/1 * * * *")
    now = T0 + timedelta(days=200, seconds=30)
    assert most_recent_unmet(every, load_zone(None), T0, now) == T0 + timedelta(days=200)
    assert most_recent_unmet(every, load_zone(None), now, now) is None
    assert missed_count(every, load_zone(None), T0, now) == 200 * 24 * 60
    assert missed_count(every, load_zone(None), now, now) == 0


async def test_too_many_missed_times_warns_and_runs_the_latest() -> None:
    clock = FakeClock()
    clock.advance(3 * 3600)  # three hours of missed minutes since lastScheduleTime
    cj = make_cj(status={"lastScheduleTime": "2025-12-31T23:59:00Z"})
    client, c = setup(cj, clock=clock)
    await c.sync(cj.key)
    assert reasons(client)[0] == "TooManyMissedTimes"
    assert api_calls(client)[0] == ("create", "Job", f"hello-{MINUTE_T0 + 180}")


async def test_ttl_after_finished_waits_then_deletes_with_foreground() -> None:
    clock = FakeClock()
    job = Job.from_dict({"metadata": {"name": "j", "namespace": NS, "uid": "u1", "resourceVersion": "1"},
                         "spec": {"ttlSecondsAfterFinished": 30, "template": {}},
                         "status": {"completionTime": "2026-01-01T00:00:00Z",
                                    "conditions": [{"type": "Complete", "status": "True"}]}})
    client = FakeClient(namespace=NS)
    client.add(job)
    c = TTLAfterFinishedController(make_context(client), clock=clock)
    preload(c.job_informer, job)
    await c.sync(job.key)
    assert client.calls == []
    clock.advance(30)
    await c.sync(job.key)
    assert [(x.verb, x.name) for x in client.calls] == [("get", "j"), ("delete", "j")]
    assert client.calls[-1].body == {"propagationPolicy": "Foreground"}
