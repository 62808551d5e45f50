"""Informer resync, handler isolation, late handlers, indexes, the shared factory and selector checks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from machinery.informer import Informer, InformerFactory, namespace_index, path_index
from machinery.selectors import selector_from_model
from tests.unit.fake_client import FakeClient
from tests.unit.informer.support import Recorder, Thing, create, delete, eventually, make, update

# ------------------------------------------------------------------ resync, handlers


async def test_resync_calls_update_with_same_object(api: FakeClient, running: Any) -> None:
    create(api, "a")
    create(api, "b")
    inf = make(api, resync_s=0.03)
    seen: list[tuple[str, bool]] = []
    inf.add_handlers(on_update=lambda old, new: seen.append((new.key, old is new)))
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: len(seen) >= 4)
    assert {k for k, _ in seen} == {"default/a", "default/b"}
    assert all(same for _, same in seen)


async def test_no_resync_by_default(api: FakeClient, running: Any) -> None:
    create(api, "a")
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await asyncio.sleep(0.05)
    assert rec.kinds() == ["add"]


async def test_handler_exceptions_are_isolated(
    api: FakeClient, running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    create(api, "a")
    inf = make(api)

    def bad(*args: Any) -> None:
        raise RuntimeError("handler bug")

    inf.add_handlers(on_add=bad, on_update=bad, on_delete=bad)
    rec = Recorder().register(inf)
    with caplog.at_level(logging.ERROR, logger="machinery.informer"):
        task = running(inf)
        await inf.wait_synced(timeout_s=2)
        await eventually(lambda: api.open_watches == 1)
        update(api, "default/a", spec={"v": 1})
        create(api, "b")
        delete(api, "default/a")
        await eventually(lambda: len(rec.calls) == 4)
    assert rec.kinds() == ["add", "update", "add", "delete"]
    assert not task.done()
    failures = [r for r in caplog.records if "event handler" in r.getMessage()]
    assert len(failures) == 4 and all(r.exc_info for r in failures)


async def test_late_handler_gets_existing_objects(api: FakeClient, running: Any) -> None:
    create(api, "a")
    create(api, "b")
    inf = make(api)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    rec = Recorder().register(inf)
    assert sorted(rec.calls) == [("add", "default/a", "101"), ("add", "default/b", "102")]


# ------------------------------------------------------------------ indexes


async def test_indexes_follow_adds_updates_deletes(api: FakeClient, running: Any) -> None:
    create(api, "p1", spec={"nodeName": "n1"})
    create(api, "p2", spec={"nodeName": "n1"})
    create(api, "p3", namespace="other", spec={})
    inf = make(api)
    inf.add_index("node", path_index("spec.nodeName"))
    running(inf)
    await inf.wait_synced(timeout_s=2)
    assert [o.name for o in inf.by_index("node", "n1")] == ["p1", "p2"]
    assert inf.index_keys("namespace", "other") == ["other/p3"]
    assert [o.name for o in inf.by_index("namespace", "default")] == ["p1", "p2"]
    await eventually(lambda: api.open_watches == 1)
    update(api, "default/p2", spec={"nodeName": "n2"})
    update(api, "other/p3", spec={"nodeName": "n2"})
    delete(api, "default/p1")
    await eventually(lambda: inf.get("default/p1") is None)
    assert inf.by_index("node", "n1") == []
    assert [o.key for o in inf.by_index("node", "n2")] == ["default/p2", "other/p3"]
    assert inf.index_keys("namespace", "default") == ["default/p2"]
    # An index added later is built from what is cached.
    inf.add_index("has-spec", lambda o: ["yes"] if o.spec else [])
    assert inf.index_keys("has-spec", "yes") == ["default/p2", "other/p3"]
    with pytest.raises(KeyError):
        inf.by_index("nope", "x")


def test_index_helpers() -> None:
    t = Thing.model_validate({"metadata": {"name": "x", "namespace": "ns"}, "spec": {"nodeName": "n", "empty": ""}})
    assert namespace_index(t) == ["ns"]
    assert namespace_index(Thing.model_validate({"metadata": {"name": "x"}})) == []
    assert path_index("spec.nodeName")(t) == ["n"]
    assert path_index("spec.empty")(t) == []
    assert path_index("spec.missing.deeper")(t) == []
    assert path_index("metadata.name")(t) == ["x"]


async def test_index_function_errors_do_not_break_the_cache(api: FakeClient, running: Any) -> None:
    create(api, "a", spec={})
    inf = make(api)
    inf.add_index("broken", lambda o: [o.spec["missing"]])
    running(inf)
    await inf.wait_synced(timeout_s=2)
    assert inf.keys() == ["default/a"]


# ------------------------------------------------------------------ factory


async def test_factory_shares_informers_and_starts_late_ones(api: FakeClient) -> None:
    create(api, "a", labels={"app": "x"})
    f = InformerFactory(api)
    i1 = f.informer(Thing)
    assert f.informer(Thing) is i1
    i2 = f.informer(Thing, label_selector="app=x")
    assert i2 is not i1 and f.informer(Thing, label_selector="app=x") is i2
    try:
        await f.start()
        await f.wait_synced(timeout_s=2)
        assert i1.keys() == i2.keys() == ["default/a"]
        late = f.informer(Thing, namespace="default")
        await late.wait_synced(timeout_s=2)
        assert late.keys() == ["default/a"]
    finally:
        await f.stop()
    assert api.open_watches == 0


def test_informer_refuses_a_nothing_selector(api: FakeClient) -> None:
    with pytest.raises(ValueError, match="matches nothing"):
        Informer(api, Thing, label_selector=selector_from_model(None))
