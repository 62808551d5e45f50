"""The scheduler loop with fake API calls: routing, assume + bind, failures, events, status."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from machinery import errors
from machinery.events import ClientSink, EventRecorder
from scheduler.core import Scheduler
from tests.unit.fake_client import FakeClient
from tests.unit.test_scheduler_support import node_dict, pod_dict


class Api:
    """The scheduler's API callables over the one fake clientset, as scheduler/main.py wires
    them to a real client; the properties read back what was sent."""

    def __init__(self) -> None:
        self.fake = FakeClient()

    @property
    def pods(self) -> dict[str, dict[str, Any]]:
        return {f"{ns}/{name}": obj for (kind, ns, name), obj in self.fake.objects.items() if kind == "Pod"}

    def add(self, d: dict[str, Any]) -> None:
        self.fake.store({"apiVersion": "v1", "kind": "Pod", **d})

    def get_pod(self, key: str) -> dict[str, Any] | None:
        return self.pods.get(key)

    async def bind(self, ns: str, name: str, node: str) -> None:
        await self.fake.bind(ns, name, node)

    async def patch_status(self, ns: str, name: str, patch: dict[str, Any]) -> None:
        await self.fake.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", json=patch)

    def fail_bind(self, exc: Exception) -> None:
        self.fake.fail("bind", "Pod", exc, times=1)

    @property
    def binds(self) -> list[tuple[str, str, str]]:
        return [(c.namespace or "", c.name, c.body["target"]) for c in self.fake.calls_of("bind", "Pod") if not c.failed]

    @property
    def status_patches(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(c.name.split("/")[4], c.name.split("/")[6], c.body) for c in self.fake.calls_of("request", "PATCH")
                if c.name.endswith("/status")]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [c.body for c in self.fake.calls_of("request", "POST") if c.name.endswith("/events")]

    @property
    def event_patches(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(c.name.split("/")[4], c.name.split("/")[6], c.body) for c in self.fake.calls_of("request", "PATCH")
                if "/events/" in c.name]


@pytest.fixture
async def env() -> Any:
    api = Api()
    rec = EventRecorder(ClientSink(api.fake, raw=True), component="default-scheduler", senders=1)
    rec.start()
    sched = Scheduler(
        get_pod=api.get_pod,
        bind=api.bind,
        patch_status=api.patch_status,
        recorder=rec,
        rng=random.Random(1),
    )
    yield api, sched, rec
    await rec.stop()


def add_pod(api: Api, sched: Scheduler, d: dict[str, Any]) -> None:
    api.add(d)
    sched.on_pod_add(d)


async def run_queue(sched: Scheduler, rec: EventRecorder) -> list[str | None]:
    out = []
    while (key := sched.queue.pop_nowait()) is not None:
        out.append(sched.schedule_one(key))
        sched.queue.done(key)
    await sched.wait_binds()
    await rec.flush()
    return out


async def test_assumed_pods_count_before_the_watch_confirms(env: Any) -> None:
    api, sched, rec = env
    sched.on_node_add(node_dict("a", cpu="1"))
    sched.on_node_add(node_dict("b", cpu="1"))
    for i in range(2):
        add_pod(api, sched, pod_dict(f"p{i}", cpu="800m"))
    assert sorted(str(n) for n in await run_queue(sched, rec)) == ["a", "b"]  # second pod saw the first
    assert sorted(b[2] for b in api.binds) == ["a", "b"]
    scheduled = [e for e in api.events if e["reason"] == "Scheduled"]
    assert len(scheduled) == 2
    assert scheduled[0]["message"].startswith("Successfully assigned default/p")
    assert scheduled[0]["involvedObject"]["kind"] == "Pod"
    assert scheduled[0]["reportingComponent"] == "default-scheduler"


async def test_unschedulable_sets_condition_event_and_parks(env: Any) -> None:
    api, sched, rec = env
    sched.on_node_add(node_dict("a", cpu="1"))
    sched.on_node_add(node_dict("b", cpu="4", labels={"disk": "ssd"}))
    sched.on_node_add(node_dict("c", cpu="1"))
    add_pod(api, sched, pod_dict("big", cpu="5"))
    add_pod(api, sched, pod_dict("sel", node_selector={"disk": "hdd"}))
    assert await run_queue(sched, rec) == [None, None]
    msgs = {e["involvedObject"]["name"]: e["message"] for e in api.events if e["reason"] == "FailedScheduling"}
    assert msgs["big"] == "0/3 nodes are available: 3 Insufficient cpu."
    assert msgs["sel"] == "0/3 nodes are available: 3 node(s) didn't match node selector."
    fail = next(e for e in api.events if e["reason"] == "FailedScheduling")
    assert fail["type"] == "Warning" and fail["source"]["component"] == "default-scheduler"
    patch = next(p for p in api.status_patches if p[1] == "big")[2]
    cond = patch["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert sorted(sched.queue.parked) == ["default/big", "default/sel"]


async def test_node_added_flushes_parked_pods(env: Any) -> None:
    api, sched, rec = env
    add_pod(api, sched, pod_dict("p", cpu="2"))
    assert await run_queue(sched, rec) == [None]
    assert sched.queue.parked == ["default/p"]
    # Our own status write comes back through the watch: it must not requeue the pod.
    sched.on_pod_update(api.pods["default/p"], {**api.pods["default/p"], "status": {"conditions": []}})
    assert sched.queue.pop_nowait() is None
    sched.on_node_add(node_dict("n", cpu="4"))
    assert await run_queue(sched, rec) == ["n"]


async def test_repeated_failure_is_folded_into_one_event(env: Any) -> None:
    api, sched, rec = env
    add_pod(api, sched, pod_dict("p", cpu="2"))
    for _ in range(3):
        await run_queue(sched, rec)
        sched.queue.flush()
    assert len([e for e in api.events if e["reason"] == "FailedScheduling"]) == 1
    assert [p[2]["count"] for p in api.event_patches] == [2, 3]


async def test_bind_error_forgets_assumption_and_retries(env: Any) -> None:
    api, sched, rec = env
    sched.on_node_add(node_dict("n", cpu="1"))
    add_pod(api, sched, pod_dict("p", cpu="1"))
    api.fail_bind(errors.InternalError("etcd is down"))
    assert await run_queue(sched, rec) == ["n"]
    node = sched.cache.get_node("n")
    assert node is not None and node.requested.milli_cpu == 0  # assumption dropped
    assert sched.queue.parked == ["default/p"]
    sched.queue.flush()
    assert await run_queue(sched, rec) == ["n"]
    assert api.binds == [("default", "p", "n")]


async def test_bind_not_found_drops_pod(env: Any) -> None:
    api, sched, rec = env
    sched.on_node_add(node_dict("n"))
    add_pod(api, sched, pod_dict("p"))
    api.fail_bind(errors.NotFound("pods \"p\" not found"))
    await run_queue(sched, rec)
    assert "default/p" not in sched.queue and not sched.cache.is_assumed("default/p")


async def test_bound_pod_from_watch_and_deletion_flush(env: Any) -> None:
    api, sched, rec = env
    sched.on_node_add(node_dict("n", cpu="1"))
    sched.on_pod_add(pod_dict("old", cpu="1", node="n"))
    add_pod(api, sched, pod_dict("new", cpu="1"))
    assert await run_queue(sched, rec) == [None]
    sched.on_pod_delete(pod_dict("old", cpu="1", node="n"))
    assert await run_queue(sched, rec) == ["n"]


async def test_finished_pod_frees_its_node(env: Any) -> None:
    api, sched, rec = env
    sched.on_node_add(node_dict("n", cpu="1"))
    running = pod_dict("job", cpu="1", node="n", phase="Running")
    sched.on_pod_add(running)
    add_pod(api, sched, pod_dict("next", cpu="1"))
    assert await run_queue(sched, rec) == [None]
    sched.on_pod_update(running, pod_dict("job", cpu="1", node="n", phase="Succeeded"))
    assert await run_queue(sched, rec) == ["n"]


async def test_other_scheduler_and_deleting_pods_are_ignored(env: Any) -> None:
    api, sched, rec = env
    sched.on_node_add(node_dict("n"))
    add_pod(api, sched, pod_dict("mine"))
    add_pod(api, sched, pod_dict("theirs", scheduler_name="other"))
    gone = pod_dict("gone")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    add_pod(api, sched, gone)
    assert await run_queue(sched, rec) == ["n"]
    assert [b[1] for b in api.binds] == ["mine"]


async def test_priority_wins_the_last_slot(env: Any) -> None:
    api, sched, rec = env
    add_pod(api, sched, pod_dict("low", cpu="1", priority=0, created="2026-01-01T00:00:00Z"))
    add_pod(api, sched, pod_dict("high", cpu="1", priority=1000, created="2026-01-01T00:00:05Z"))
    assert await run_queue(sched, rec) == [None, None]
    sched.on_node_add(node_dict("n", cpu="1"))
    assert await run_queue(sched, rec) == ["n", None]
    assert api.binds == [("default", "high", "n")]


async def test_run_loop_schedules_and_stops(env: Any) -> None:
    api, sched, _rec = env
    sched.on_node_add(node_dict("n"))
    task = asyncio.create_task(sched.run())
    add_pod(api, sched, pod_dict("p"))
    for _ in range(100):
        if api.binds:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert api.binds == [("default", "p", "n")]


def test_service_selectors_for_spreading() -> None:
    from machinery.models import Service
    from scheduler.main import _service_selectors
    from tests.unit.test_scheduler_support import pod

    class FakeInformer:
        def list(self) -> list[Service]:
            return [
                Service.from_dict({"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}}}),
                Service.from_dict({"metadata": {"name": "web", "namespace": "other"}, "spec": {"selector": {"app": "web"}}}),
                Service.from_dict({"metadata": {"name": "headless", "namespace": "default"}, "spec": {}}),
            ]

    selectors = _service_selectors(FakeInformer())
    assert [str(s) for s in selectors(pod("p", labels={"app": "web"}))] == ["app=web"]
    assert selectors(pod("p", labels={"app": "db"})) == []


async def test_bind_conflict_keeps_assumption_until_it_expires(env: Any) -> None:
    api, sched, rec = env
    now = [100.0]
    sched.cache._clock = lambda: now[0]
    sched.on_node_add(node_dict("n", cpu="1"))
    add_pod(api, sched, pod_dict("p", cpu="1"))
    api.fail_bind(errors.Conflict('pod p is already assigned to node "n"'))
    assert await run_queue(sched, rec) == ["n"]
    assert sched.cache.is_assumed("default/p")  # the watch should confirm it soon
    now[0] += 31  # ...but it never does: the assumption expires and the pod is tried again
    assert sched.cache.cleanup_expired() == ["default/p"]
    sched.on_pod_add(api.pods["default/p"])
    assert await run_queue(sched, rec) == ["n"]
    assert api.binds == [("default", "p", "n")]


async def test_preemption_nominates_deletes_victims_and_holds_the_space(env: Any) -> None:
    api, _, rec = env
    deleted: list[tuple[str, str, str]] = []

    async def delete_pod(ns: str, name: str, uid: str) -> None:
        deleted.append((ns, name, uid))

    sched = Scheduler(get_pod=api.get_pod, bind=api.bind, patch_status=api.patch_status, recorder=rec,
                      rng=random.Random(1), delete_pod=delete_pod, pdbs=list)
    sched.on_node_add(node_dict("a", cpu="1"))
    victim = pod_dict("victim", cpu="1", node="a", priority=0)
    victim["metadata"]["uid"] = "uid-victim"
    add_pod(api, sched, victim)
    vip = pod_dict("vip", cpu="1", priority=100)
    vip["metadata"]["uid"] = "uid-vip"
    add_pod(api, sched, vip)
    assert await run_queue(sched, rec) == [None]
    assert deleted == [("default", "victim", "uid-victim")]
    assert any(p == ("default", "vip", {"status": {"nominatedNodeName": "a"}}) for p in api.status_patches)
    preempted = [e for e in api.events if e["reason"] == "Preempted"]
    assert [(e["involvedObject"]["name"], e["message"]) for e in preempted] == [
        ("victim", "Preempted by pod uid-vip on node a")]
    # The victim goes away; a lower-priority pod created meanwhile must not take its place.
    sched.on_pod_delete(victim)
    add_pod(api, sched, pod_dict("late", cpu="1", priority=50))
    assert sched.schedule_one("default/late") is None  # tried first: the nominated space is held
    assert sched.schedule_one("default/vip") == "a"
    await sched.wait_binds()
    assert [b[1] for b in api.binds] == ["vip"]
