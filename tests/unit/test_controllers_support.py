"""Expectations and the controller-manager's registry."""

from __future__ import annotations

import pytest

from controllers.expectations import Expectations
from controllers.manager import CONTROLLERS, register, resolve_names


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
