"""Expectations and the controller-manager's registry."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from controllers.expectations import Expectations
from controllers.manager import CONTROLLERS, register, resolve_names, serve_health
from controllers.replicaset import ReplicaSetController
from machinery import errors
from tests.support import free_port
from tests.unit.builders import NS, make_context, make_rs, preload
from tests.unit.fake_client import FakeClient


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
    port = free_port()
    server = await serve_health(port)
    try:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (r.status_code, r.text) == (200, "ok")
    finally:
        server.close()
        await server.wait_closed()


async def test_a_permanent_error_records_an_event_on_the_object_and_is_not_retried() -> None:
    client = FakeClient(namespace=NS)
    client.fail("create", "Pod", errors.Invalid('Pod "web-x" is invalid: spec.containers[0].image: Required value'))
    c = ReplicaSetController(make_context(client))
    rs = make_rs(replicas=1)
    client.add(rs)
    preload(c.rs_informer, rs)
    preload(c.pod_informer)
    c.enqueue(rs)
    runner = asyncio.create_task(c.run())
    try:
        for _ in range(200):
            if any(call.body["reason"] == "SyncFailed" for call in client.calls_of("create", "Event")):
                break
            await asyncio.sleep(0.01)
        reasons = [call.body["reason"] for call in client.calls_of("create", "Event")]
        assert reasons == ["FailedCreate", "SyncFailed"]
        failed = client.calls_of("create", "Event")[-1].body
        assert failed["type"] == "Warning" and failed["involvedObject"]["name"] == "web"
        assert "spec.containers[0].image: Required value" in failed["message"]
        assert c.queue.num_requeues(rs.key) == 0 and c.queue.waiting() == []
    finally:
        c.shutdown()
        await asyncio.wait_for(runner, 5)
