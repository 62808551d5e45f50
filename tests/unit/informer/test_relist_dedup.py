"""Informer after 410 Expired/Gone (relist and diff), bookmarks, and duplicate or stale events."""

from __future__ import annotations

from typing import Any

from machinery import errors
from tests.unit.fake_client import FakeClient
from tests.unit.informer.support import create, delete, eventually, make, quiet, update, watching

# ------------------------------------------------------------------ 410: relist and diff


async def test_expired_relists_and_diffs(api: FakeClient, running: Any) -> None:
    for n in ["keep", "change", "gone"]:
        create(api, n)
    inf, rec = await watching(api, running)
    api.drop_watches()  # writes and compaction below happen before the informer reconnects
    update(api, "default/change", spec={"v": 2})
    delete(api, "default/gone")
    create(api, "new")
    api.compact()
    await eventually(lambda: len(api.list_calls) == 2)
    await eventually(lambda: len(rec.calls) == 6)
    await quiet()
    assert sorted(rec.calls[3:]) == [
        ("add", "default/new", "106"),
        ("delete", "default/gone", "103"),  # the last known object
        ("update", "default/change", "102", "104"),
    ]
    assert len(rec.calls) == 6
    assert sorted(inf.keys()) == ["default/change", "default/keep", "default/new"]
    await eventually(lambda: api.open_watches == 1)
    assert api.watch_calls[-1]["resource_version"] == "106"


async def test_gone_and_error_event_with_410_also_relist(api: FakeClient, running: Any) -> None:
    create(api, "a")
    _, rec = await watching(api, running)
    # A raw ERROR event (a client that passes it through instead of raising).
    api.inject("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
                         "message": "too old resource version"})
    await eventually(lambda: len(api.list_calls) == 2)
    api.fail_watch(errors.Gone("gone"))
    api.drop_watches()
    await eventually(lambda: len(api.list_calls) == 3)
    await quiet()
    assert rec.calls == [("add", "default/a", "101")], "relisting an unchanged world calls no handler"


async def test_other_error_events_back_off_and_resume(api: FakeClient, running: Any) -> None:
    create(api, "a")
    inf = make(api)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
    api.inject("ERROR", {"kind": "Status", "reason": "InternalError", "code": 500, "message": "boom"})
    await eventually(lambda: len(api.watch_calls) == 2)
    assert len(api.list_calls) == 1
    assert api.watch_calls[1]["resource_version"] == "101"


# ------------------------------------------------------------------ bookmarks and dedup


async def test_bookmark_moves_resume_point_only(api: FakeClient, running: Any) -> None:
    create(api, "a")
    inf, rec = await watching(api, running)
    api.rv = 250  # writes to other kinds moved etcd's revision on
    api.bookmark()
    await eventually(lambda: inf.last_resource_version == "250")
    assert rec.calls == [("add", "default/a", "101")]
    assert inf.keys() == ["default/a"]
    api.drop_watches()
    await eventually(lambda: len(api.watch_calls) == 2)
    assert api.watch_calls[1]["resource_version"] == "250"


async def test_duplicate_and_stale_events_are_not_delivered(api: FakeClient, running: Any) -> None:
    create(api, "a")
    inf, rec = await watching(api, running)
    current = dict(api.objects[("Thing", "default", "a")])
    api.inject("MODIFIED", current)  # identical object, same RV: a replay
    api.inject("ADDED", current)  # same again as ADDED
    stale = {**current, "metadata": {**current["metadata"], "resourceVersion": "99"}, "spec": {"old": True}}
    api.inject("MODIFIED", stale)  # older than what we have
    api.inject("DELETED", {**stale, "metadata": {**stale["metadata"], "name": "unknown"}})
    same_rv_new_content = {**current, "spec": {"surprise": 1}}
    api.inject("MODIFIED", same_rv_new_content)  # same RV but different: deliver
    api.inject("ADDED", {**current, "metadata": {**current["metadata"], "resourceVersion": "300"}})
    await eventually(lambda: len(rec.calls) == 3)
    await quiet()
    assert rec.calls == [
        ("add", "default/a", "101"),
        ("update", "default/a", "101", "101"),
        ("update", "default/a", "101", "300"),  # ADDED for a cached key is an update
    ]
    stale_delete = {**current, "metadata": {**current["metadata"], "resourceVersion": "200"}}
    api.inject("DELETED", stale_delete)  # older than the cached 300: ignored
    api.inject("MODIFIED", {**current, "metadata": {**current["metadata"], "name": "fresh", "resourceVersion": "301"}})
    await eventually(lambda: len(rec.calls) == 4)
    await quiet()
    assert rec.calls[3] == ("add", "default/fresh", "301"), "MODIFIED for an unknown key is an add"
    assert inf.get("default/a") is not None
