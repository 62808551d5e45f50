"""machinery.events.EventRecorder: bodies, aggregation, best effort, background queue, sinks."""

from __future__ import annotations

import asyncio
from typing import Any

from machinery import errors
from machinery.clock import FakeClock
from machinery.events import NORMAL, WARNING, ClientSink, EventRecorder, ObjectRef
from machinery.models import Event
from tests.unit.builders import NS, make_rs
from tests.unit.fake_client import FakeClient


class RecordingSink:
    """An EventSink that keeps the bodies; `fail_create` / `fail_patch` raise once each."""

    def __init__(self) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.patched: list[tuple[str, str, dict[str, Any]]] = []
        self.fail_create: list[Exception] = []
        self.fail_patch: list[Exception] = []
        self.gate: asyncio.Event | None = None

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_create:
            raise self.fail_create.pop(0)
        self.created.append((namespace, body))

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        if self.fail_patch:
            raise self.fail_patch.pop(0)
        self.patched.append((namespace, name, patch))


POD = ObjectRef(kind="Pod", api_version="v1", namespace="default", name="p", uid="uid-p")


async def test_repeated_event_is_folded_into_a_count_through_the_typed_client() -> None:
    client = FakeClient(namespace=NS)
    rec = EventRecorder(ClientSink(client), component="cm", background=False)
    rs = make_rs()
    await rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: a")
    await rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: a")
    await rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: b")
    creates, patches = client.calls_of("create", "Event"), client.calls_of("patch", "Event")
    assert len(creates) == 2 and len(patches) == 1
    ev = client.stored(Event, creates[0].name, NS)
    assert ev.count == 2 and ev.involvedObject.uid == rs.uid and ev.involvedObject.kind == "ReplicaSet"
    assert ev.involvedObject.resourceVersion == rs.resource_version
    assert ev.source.component == "cm" and ev.reason == "SuccessfulCreate" and ev.reportingInstance == "cm"
    assert ev.action is None and ev.eventTime is None  # core/v1 events carry no action


async def test_aggregation_window_and_a_vanished_event_start_a_new_series() -> None:
    sink, clock = RecordingSink(), FakeClock()
    rec = EventRecorder(sink, component="c", background=False, aggregate_window_s=60.0, clock=clock)
    await rec.event(POD, WARNING, "BackOff", "again")
    clock.advance(30.0)
    await rec.event(POD, WARNING, "BackOff", "again")
    assert len(sink.created) == 1 and sink.patched[0][2]["count"] == 2
    assert sink.patched[0][2]["lastTimestamp"] == "2026-01-01T00:00:30Z"
    clock.advance(61.0)  # outside the window: a new Event
    await rec.event(POD, WARNING, "BackOff", "again")
    assert len(sink.created) == 2
    sink.fail_patch.append(errors.NotFound("events \"x\" not found"))
    await rec.event(POD, WARNING, "BackOff", "again")  # the series' Event is gone: create again
    assert len(sink.created) == 3 and len(sink.patched) == 1
    rec.forget("uid-p")
    await rec.event(POD, WARNING, "BackOff", "again")
    assert len(sink.created) == 4


async def test_memory_of_series_is_bounded_least_recently_used_first() -> None:
    sink = RecordingSink()
    rec = EventRecorder(sink, component="c", background=False, max_remembered=2)
    for msg in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" arrives
        await rec.event(POD, NORMAL, "R", msg)
    await rec.event(POD, NORMAL, "R", "a")
    await rec.event(POD, NORMAL, "R", "b")
    assert [b["message"] for _, b in sink.created] == ["a", "b", "c", "b"]
    assert [p[2]["count"] for p in sink.patched] == [2, 3]


async def test_failures_never_reach_the_caller() -> None:
    client = FakeClient(namespace=NS)
    client.fail("create", "Event", errors.InternalError("boom"))
    await EventRecorder(ClientSink(client), component="c", background=False).event(make_rs(), NORMAL, "X", "y")
    assert len(client.calls_of("create", "Event")) == 1
    sink = RecordingSink()
    sink.fail_create.append(RuntimeError("API down"))
    rec = EventRecorder(sink, component="c")
    rec.record(POD, NORMAL, "Scheduled", "boom", "Binding")
    rec.record(POD, NORMAL, "Scheduled", "ok", "Binding")
    await asyncio.wait_for(rec.flush(), 5)
    await rec.close()
    assert [b["message"] for _, b in sink.created] == ["ok"]


async def test_scheduler_style_body_with_action_and_micro_time() -> None:
    sink = RecordingSink()
    rec = EventRecorder(sink, component="default-scheduler", instance="s-1", clock=FakeClock(), senders=4)
    rec.record(POD, NORMAL, "Scheduled", "Successfully assigned default/p to n", "Binding")
    await asyncio.wait_for(rec.flush(), 5)
    await rec.close()
    (ns, e), = sink.created
    assert ns == "default"
    assert e["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "p", "uid": "uid-p"}
    assert e["metadata"]["name"].startswith("p.") and e["count"] == 1
    assert (e["action"], e["eventTime"], e["firstTimestamp"]) == ("Binding", "2026-01-01T00:00:00.000000Z",
                                                                  "2026-01-01T00:00:00Z")
    assert (e["reportingComponent"], e["reportingInstance"], e["source"]) == (
        "default-scheduler", "s-1", {"component": "default-scheduler"})
    Event.from_dict(e)  # a valid core/v1 Event


async def test_background_returns_at_once_and_sends_in_order() -> None:
    sink = RecordingSink()
    sink.gate = asyncio.Event()  # the API is slow: event() must not wait for it
    rec = EventRecorder(sink, component="c")
    rs = make_rs()
    await asyncio.wait_for(rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: a"), 0.5)
    await asyncio.wait_for(rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: b"), 0.5)
    assert not sink.created
    sink.gate.set()
    await asyncio.wait_for(rec.flush(), 5)
    assert [b["message"] for _, b in sink.created] == ["Created pod: a", "Created pod: b"]
    assert sink.created[0][0] == NS
    await rec.close()


async def test_background_drops_beyond_its_backlog() -> None:
    sink = RecordingSink()
    rec = EventRecorder(sink, component="c", max_pending=2)
    for i in range(5):
        rec.record(make_rs(), NORMAL, "R", f"m{i}")  # no await point in between: the sender waits
    assert rec.dropped == 3
    await asyncio.wait_for(rec.flush(), 5)
    assert len(sink.created) == 2
    await rec.close()


async def test_cluster_scoped_objects_get_their_events_in_default() -> None:
    sink = RecordingSink()
    rec = EventRecorder(sink, component="kubelet", background=False)
    await rec.event(ObjectRef(kind="Node", api_version="v1", namespace=None, name="n1", uid="u"), NORMAL,
                    "NodeReady", "Node n1 status is now: NodeReady")
    (ns, body), = sink.created
    assert ns == "default" and "namespace" not in body["involvedObject"]


async def test_raw_sink_posts_json_through_request() -> None:
    client = FakeClient(namespace=NS)
    sink = ClientSink(client, raw=True)
    await sink.create("ns1", {"metadata": {"name": "e"}})
    await sink.patch("ns1", "e", {"count": 2})
    assert [(c.kind, c.name) for c in client.calls_of("request")] == [
        ("POST", "/api/v1/namespaces/ns1/events"), ("PATCH", "/api/v1/namespaces/ns1/events/e")]


async def test_sink_rate_limit_spreads_writes_after_the_burst() -> None:
    client = FakeClient(namespace=NS)
    sink = ClientSink(client, raw=True, qps=20.0, burst=2)
    start = asyncio.get_running_loop().time()
    for i in range(6):
        await sink.create("ns1", {"metadata": {"name": f"e{i}"}})
    # 2 at once (the burst), then one per 1/20 s: at least (6 - 2) / 20 s, whatever the load.
    assert asyncio.get_running_loop().time() - start >= 0.19
    assert len(client.calls_of("request")) == 6
