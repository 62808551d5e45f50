"""EventRecorder aggregation, expectations and the controller-manager's registry."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.events import NORMAL, EventRecorder
from controllers.expectations import Expectations
from controllers.manager import CONTROLLERS, register, resolve_names
from machinery import errors
from machinery.models import Event
from tests.unit.fake_client import NS, FakeClient, make_rs


async def test_repeated_event_is_folded_into_a_count() -> None:
    client = FakeClient(namespace=NS)
    rec = EventRecorder(client, component="cm")
    rs = make_rs()
    await rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: a")
    await rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: a")
    await rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: b")
    creates, patches = client.calls_of("create", "Event"), client.calls_of("patch", "Event")
    assert len(creates) == 2 and len(patches) == 1
    ev = client.stored(Event, creates[0].name, NS)
    assert ev.count == 2 and ev.involvedObject.uid == rs.uid and ev.involvedObject.kind == "ReplicaSet"
    assert ev.source.component == "cm" and ev.reason == "SuccessfulCreate"  # type: ignore[union-attr]


async def test_event_failures_never_reach_the_controller() -> None:
    client = FakeClient(namespace=NS)
    client.fail("create", "Event", errors.InternalError("boom"))
    await EventRecorder(client).event(make_rs(), NORMAL, "X", "y")  # no exception
    assert len(client.calls_of("create", "Event")) == 1


def test_expectations_lifecycle_and_ttl() -> None:
    now = [0.0]
    exp = Expectations(ttl_s=10, clock=lambda: now[0])
    assert exp.satisfied("k")
    exp.expect_creations("k", 2)
    exp.creation_observed("k")
    assert not exp.satisfied("k")
    exp.creation_observed("k")
    assert exp.satisfied("k")
    exp.expect_deletions("k", ["ns/a", "ns/b"])
    exp.deletion_observed("k", "ns/a")
    exp.deletion_observed("k", "ns/a")  # seen twice counts once
    assert exp.pending("k") == (0, 1) and not exp.satisfied("k")
    now[0] = 11.0  # a lost watch event must not wedge the controller
    assert exp.satisfied("k")


def test_controller_registry() -> None:
    assert resolve_names("*") == list(CONTROLLERS)
    assert resolve_names("replicaset, deployment") == ["replicaset", "deployment"]
    with pytest.raises(ValueError, match="unknown controller"):
        resolve_names("replicaset,nope")
    register("dummy", CONTROLLERS["replicaset"])
    try:
        assert "dummy" in resolve_names(None)
    finally:
        CONTROLLERS.pop("dummy")


async def test_health_endpoint_answers_ok() -> None:
    import httpx

    from controllers.manager import serve_health
    from tests.support import free_port

    port = free_port()
    server = await serve_health(port)
    try:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (r.status_code, r.text) == (200, "ok")
    finally:
        server.close()
        await server.wait_closed()


async def test_background_recorder_returns_at_once_and_sends_in_order() -> None:
    import asyncio

    client = FakeClient(namespace=NS)
    gate = asyncio.Event()
    original = client.create

    async def slow_create(obj: Any, **kw: Any) -> Any:
        await gate.wait()  # the API is slow: event() must not wait for it
        return await original(obj, **kw)

    client.create = slow_create  # type: ignore[method-assign]
    rec = EventRecorder(client, background=True)
    rs = make_rs()
    await asyncio.wait_for(rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: a"), 0.5)
    await asyncio.wait_for(rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: b"), 0.5)
    assert not client.calls_of("create", "Event")
    gate.set()
    await asyncio.wait_for(rec.flush(), 2)
    assert [c.body["message"] for c in client.calls_of("create", "Event")] == ["Created pod: a", "Created pod: b"]
    await rec.close()


async def test_background_recorder_drops_beyond_its_backlog() -> None:
    client = FakeClient(namespace=NS)
    rec = EventRecorder(client, background=True, max_pending=2)
    for i in range(5):
        await rec.event(make_rs(), NORMAL, "R", f"m{i}")  # no await point in between: the sender waits
    assert rec.dropped == 3
    await rec.flush()
    assert len(client.calls_of("create", "Event")) == 2
    await rec.close()
