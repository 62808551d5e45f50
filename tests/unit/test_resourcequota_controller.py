"""ResourceQuotaController.sync against the fake client and a fake clock: a recount that would
lower status.used waits until the quota has been unchanged for settle_s (a charge in flight:
admission charged, the pod not yet written); raising, or a first status, is written at once."""

from __future__ import annotations

from typing import Any

from controllers.resourcequota import ResourceQuotaController
from machinery.clock import FakeClock
from machinery.models import ResourceQuota
from tests.unit.builders import NS, make_context, make_pod
from tests.unit.fake_client import FakeClient


def _quota(used: dict[str, str] | None) -> ResourceQuota:
    body: dict[str, Any] = {"metadata": {"name": "q", "namespace": NS, "resourceVersion": "3"},
                            "spec": {"hard": {"pods": "5"}}}
    if used is not None:
        body["status"] = {"hard": {"pods": "5"}, "used": used}
    return ResourceQuota.from_dict(body)


def _controller(client: FakeClient, clock: FakeClock) -> ResourceQuotaController:
    return ResourceQuotaController(make_context(client), settle_s=3.0, clock=clock)


def _used(client: FakeClient) -> dict[str, str]:
    q = client.stored(ResourceQuota, "q", NS)
    return dict(q.status.used or {})


async def test_first_status_and_raising_are_written_at_once() -> None:
    client, clock = FakeClient(namespace=NS), FakeClock()
    client.add(_quota(None), make_pod("a"), make_pod("b"))
    c = _controller(client, clock)
    await c.sync(f"{NS}/q")
    assert _used(client) == {"pods": "2"}
    client.add(make_pod("c"))
    await c.sync(f"{NS}/q")
    assert _used(client) == {"pods": "3"}


async def test_lowering_waits_for_the_quota_to_settle() -> None:
    client, clock = FakeClient(namespace=NS), FakeClock()
    client.add(_quota({"pods": "2"}), make_pod("a"))  # charged for 2, one pod written so far
    c = _controller(client, clock)
    await c.sync(f"{NS}/q")
    assert _used(client) == {"pods": "2"}  # the second pod may be in flight
    assert len(client.calls_of("replace/status", "ResourceQuota")) == 0
    clock.advance(2.9)
    await c.sync(f"{NS}/q")
    assert _used(client) == {"pods": "2"}
    clock.advance(0.2)
    await c.sync(f"{NS}/q")  # unchanged for settle_s: nothing was in flight, release the charge
    assert _used(client) == {"pods": "1"}


async def test_a_new_charge_restarts_the_wait() -> None:
    client, clock = FakeClient(namespace=NS), FakeClock()
    client.add(_quota({"pods": "2"}), make_pod("a"))
    c = _controller(client, clock)
    await c.sync(f"{NS}/q")
    clock.advance(2.0)
    client.store(_quota({"pods": "3"}))  # admission charged again (a new resourceVersion)
    await c.sync(f"{NS}/q")
    clock.advance(2.0)
    await c.sync(f"{NS}/q")  # 4 s since the first look, 2 s since the charge: still waiting
    assert _used(client) == {"pods": "3"}
    client.add(make_pod("b"))  # that create landed
    clock.advance(1.5)
    await c.sync(f"{NS}/q")
    assert _used(client) == {"pods": "2"}


async def test_lowering_is_requeued_after_the_remaining_wait() -> None:
    client, clock = FakeClient(namespace=NS), FakeClock()
    client.add(_quota({"pods": "4"}))
    c = _controller(client, clock)
    await c.sync(f"{NS}/q")
    assert f"{NS}/q" in c.queue._waiting  # the delayed requeue is the contract
    c.queue.shutdown()
