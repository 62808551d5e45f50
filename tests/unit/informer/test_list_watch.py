"""Informer list + watch, paging and watch resumption against the fake clientset (which keeps
history like the API server's watch cache, so resumption and paging behave as they would)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from machinery import errors
from machinery.backoff import Backoff
from machinery.selectors import parse_label_selector
from tests.unit.fake_client import FakeClient
from tests.unit.informer.support import Recorder, create, delete, eventually, make, quiet, update, watching

# ------------------------------------------------------------------ list + watch


async def test_list_then_watch(api: FakeClient, running: Any) -> None:
    for n in ["a", "b", "c"]:
        create(api, n)
    inf = make(api)
    rec = Recorder().register(inf)
    assert not inf.has_synced
    running(inf)
    await inf.wait_synced(timeout_s=2)
    assert inf.has_synced
    assert sorted(inf.keys()) == ["default/a", "default/b", "default/c"]
    assert sorted(rec.calls) == [("add", "default/a", "101"), ("add", "default/b", "102"), ("add", "default/c", "103")]
    await eventually(lambda: api.open_watches == 1)
    assert api.watch_calls[0]["resource_version"] == "103"
    assert api.watch_calls[0]["allow_bookmarks"] is True

    rec.calls.clear()
    create(api, "d")
    update(api, "default/a", spec={"x": 1})
    delete(api, "default/b")
    await eventually(lambda: len(rec.calls) == 3)
    assert rec.calls == [
        ("add", "default/d", "104"),
        ("update", "default/a", "101", "105"),
        ("delete", "default/b", "106"),
    ]
    assert sorted(inf.keys()) == ["default/a", "default/c", "default/d"]
    got = inf.get("default/a")
    assert got is not None and got.spec == {"x": 1}
    assert inf.get("default/b") is None
    assert {o.key for o in inf.list()} == {"default/a", "default/c", "default/d"}
    assert inf.last_resource_version == "106"
    assert len(api.list_calls) == 1


async def test_wait_synced_times_out_while_list_fails(api: FakeClient, running: Any) -> None:
    api.fail_list(*[errors.ServiceUnavailable("down")] * 1000)
    inf = make(api)
    running(inf)
    with pytest.raises(TimeoutError):
        await inf.wait_synced(timeout_s=0.05)
    assert not inf.has_synced
    assert len(api.list_calls) >= 2, "the informer must keep retrying"


async def test_list_errors_are_retried_until_synced(api: FakeClient, running: Any) -> None:
    create(api, "a")
    api.fail_list(errors.ConnectionFailed("refused"), httpx.ConnectError("refused"), errors.Forbidden("rbac"))
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    assert len(api.list_calls) == 4
    assert rec.calls == [("add", "default/a", "101")]


async def test_selectors_and_namespace_are_passed_and_respected(api: FakeClient, running: Any) -> None:
    create(api, "web", labels={"app": "web"})
    create(api, "db", labels={"app": "db"})
    create(api, "other-ns", namespace="kube-system", labels={"app": "web"})
    inf = make(api, namespace="default", label_selector=parse_label_selector("app=web"), field_selector="metadata.name!=x")
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    assert api.list_calls[0]["namespace"] == "default"
    assert api.list_calls[0]["label_selector"] == "app=web"
    assert api.list_calls[0]["field_selector"] == "metadata.name!=x"
    assert inf.keys() == ["default/web"]
    await eventually(lambda: api.open_watches == 1)
    assert api.watch_calls[0]["label_selector"] == "app=web"
    rec.calls.clear()
    update(api, "default/web", labels={"app": "old"})  # leaves the selector: DELETED
    update(api, "default/db", labels={"app": "web"})  # enters it: ADDED
    await eventually(lambda: len(rec.calls) == 2)
    assert [c[:2] for c in rec.calls] == [("delete", "default/web"), ("add", "default/db")]
    assert inf.keys() == ["default/db"]


# ------------------------------------------------------------------ paging


async def test_list_is_paged_with_limit_and_continue(api: FakeClient, running: Any) -> None:
    for i in range(1203):
        create(api, f"o{i:04d}")
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=5)
    assert [c["limit"] for c in api.list_calls] == [500, 500, 500]
    assert api.list_calls[0]["continue_token"] is None
    assert api.list_calls[1]["continue_token"] and api.list_calls[2]["continue_token"]
    assert len(inf.keys()) == 1203
    assert rec.kinds() == ["add"] * 1203
    await eventually(lambda: api.open_watches == 1)
    assert api.watch_calls[0]["resource_version"] == str(100 + 1203)


async def test_server_without_paging_gives_everything_at_once(running: Any) -> None:
    api = FakeClient(paging=False)
    for i in range(700):
        create(api, f"o{i}")
    inf = make(api)
    running(inf)
    await inf.wait_synced(timeout_s=5)
    assert len(api.list_calls) == 1 and len(inf.keys()) == 700


async def test_expired_continue_token_falls_back_to_a_full_list(api: FakeClient, running: Any) -> None:
    for i in range(600):
        create(api, f"o{i:04d}")
    api.expire_continue_tokens = True
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=5)
    assert [(c["limit"], bool(c["continue_token"])) for c in api.list_calls] == [(500, False), (500, True), (None, False)]
    assert len(inf.keys()) == 600
    assert len(rec.calls) == 600, "the abandoned first page must not produce handler calls"


# ------------------------------------------------------------------ resumption


@pytest.mark.parametrize(
    "failure",
    [
        errors.ConnectionFailed("reset"),
        errors.ServiceUnavailable("apiserver restarting"),
        errors.InternalError("etcd hiccup"),
        httpx.ReadError("connection closed"),
        httpx.RemoteProtocolError("peer closed"),
        OSError("broken pipe"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_dropped_watch_resumes_without_duplicates(failure: Exception, running: Any) -> None:
    api = FakeClient(replay_boundary=True)  # the resumed stream repeats the boundary event
    create(api, "a")
    create(api, "b")
    _, rec = await watching(api, running)
    update(api, "default/a", spec={"v": 1})
    await eventually(lambda: len(rec.calls) == 3)
    # The stream breaks, the first reconnect fails too; the changes written right after the
    # break (no await in between) can only arrive through the resumed watch's replay.
    api.fail_watch(errors.ServiceUnavailable("still down"))
    api.drop_watches(failure)
    create(api, "c")
    update(api, "default/b", spec={"v": 2})
    delete(api, "default/a")
    await eventually(lambda: len(rec.calls) == 6)
    await quiet()
    assert rec.calls[3:] == [
        ("add", "default/c", "104"),
        ("update", "default/b", "102", "105"),
        ("delete", "default/a", "106"),
    ]
    assert len(rec.calls) == 6, rec.calls
    assert len(api.list_calls) == 1, "a dropped watch must not relist"
    resumes = [c["resource_version"] for c in api.watch_calls]
    assert resumes[:3] == ["102", "103", "103"]


async def test_watch_that_ends_normally_is_resumed_from_last_rv(running: Any) -> None:
    api = FakeClient()
    create(api, "a")
    inf = make(api, watch_timeout_s=0.05)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    update(api, "default/a", spec={"n": 1})
    await eventually(lambda: len(api.watch_calls) >= 3)  # several 50 ms watches have ended
    update(api, "default/a", spec={"n": 2})
    await eventually(lambda: len(rec.calls) == 3)
    await quiet()
    assert [c[0] for c in rec.calls] == ["add", "update", "update"]
    assert all(c["timeout_s"] == 0.05 for c in api.watch_calls)
    assert api.watch_calls[0]["resource_version"] == "101"
    assert api.watch_calls[-1]["resource_version"] in ("102", "103")
    assert len(api.list_calls) == 1


async def test_end_watches_resumes_immediately(api: FakeClient, running: Any) -> None:
    create(api, "a")
    inf = make(api)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
    create(api, "b")
    await eventually(lambda: inf.get("default/b") is not None)
    api.end_watches()
    await eventually(lambda: len(api.watch_calls) == 2 and api.open_watches == 1)
    assert api.watch_calls[1]["resource_version"] == "102"


async def test_watch_ending_at_once_does_not_spin(running: Any) -> None:
    api = FakeClient()
    api.watch_ends_immediately = True
    inf = make(api, backoff=Backoff(0.05, 0.05, jitter=0.0))
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await asyncio.sleep(0.22)
    assert 2 <= len(api.watch_calls) <= 6, len(api.watch_calls)
