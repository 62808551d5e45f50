"""Informer (reflector + cache + handlers + indexes) against the scriptable FakeClient, and the
jittered Backoff it reconnects with.

Every test drives the informer's real run() task; the fake keeps history like the API
server's watch cache, so resumption, compaction (410) and paging behave as they would.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from machinery import errors
from machinery.backoff import Backoff
from machinery.clock import FakeClock
from machinery.informer import Informer, InformerFactory, namespace_index, path_index
from machinery.meta import split_key
from machinery.selectors import parse_label_selector
from tests.unit.fake_client import FakeClient, Thing


def fast_backoff() -> Backoff:
    return Backoff(0.001, 0.01, reset_after_s=60.0)


class Recorder:
    """Handler that records (event, key, resourceVersions) tuples."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def on_add(self, obj: Thing) -> None:
        self.calls.append(("add", obj.key, obj.resource_version))

    def on_update(self, old: Thing, new: Thing) -> None:
        self.calls.append(("update", new.key, old.resource_version, new.resource_version))

    def on_delete(self, obj: Thing) -> None:
        self.calls.append(("delete", obj.key, obj.resource_version))

    def register(self, inf: Informer[Any]) -> Recorder:
        inf.add_handlers(on_add=self.on_add, on_update=self.on_update, on_delete=self.on_delete)
        return self

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]


async def eventually(pred: Callable[[], bool], timeout_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


async def quiet(rounds: int = 20) -> None:
    """Give the informer a chance to (wrongly) do more work."""
    for _ in range(rounds):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


@pytest.fixture
def api() -> FakeClient:
    return FakeClient()


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Informer[Any]], asyncio.Task[None]]]:
    """Start informers' run() tasks and always cancel them."""
    tasks: list[asyncio.Task[None]] = []

    def start(inf: Informer[Any]) -> asyncio.Task[None]:
        t = asyncio.create_task(inf.run())
        tasks.append(t)
        return t

    yield start
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def create(api: FakeClient, name: str, namespace: str | None = "default", *, labels: dict[str, str] | None = None,
           spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Thing written straight into the tracker (as another client would write it)."""
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    if ("Thing", namespace, name) in api.objects:
        raise errors.AlreadyExists(name)
    return api.store({"apiVersion": Thing.api_version(), "kind": "Thing", "metadata": meta, "spec": spec or {}})


def update(api: FakeClient, key: str, *, spec: dict[str, Any] | None = None,
           labels: dict[str, str] | None = None) -> dict[str, Any]:
    ns, name = split_key(key)
    new = copy.deepcopy(api.objects[("Thing", ns, name)])
    if spec is not None:
        new["spec"] = spec
    if labels is not None:
        new["metadata"]["labels"] = labels
    return api.store(new)


def delete(api: FakeClient, key: str) -> dict[str, Any]:
    ns, name = split_key(key)
    return api.remove(Thing, ns, name)


def make(api: FakeClient, **kw: Any) -> Informer[Thing]:
    kw.setdefault("backoff", fast_backoff())
    return Informer(api, Thing, **kw)


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
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
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


# ------------------------------------------------------------------ 410: relist and diff


async def test_expired_relists_and_diffs(api: FakeClient, running: Any) -> None:
    for n in ["keep", "change", "gone"]:
        create(api, n)
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
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
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
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
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
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
    inf = make(api)
    rec = Recorder().register(inf)
    running(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
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


# ------------------------------------------------------------------ Backoff


def test_backoff_sequence_and_cap() -> None:
    b = Backoff(0.8, 30.0, rand=lambda: 0.0)
    assert [round(b.next(), 3) for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


def test_backoff_jitter_stays_within_bounds() -> None:
    b = Backoff(1.0, 4.0, jitter=0.25, rand=lambda: 0.999999)
    assert [round(b.next(), 3) for _ in range(4)] == [0.75, 1.5, 3.0, 3.0]
    b2 = Backoff(0.8, 30.0)
    delays = [b2.next() for _ in range(50)]
    assert all(0.8 * 0.8 <= d <= 30.0 for d in delays)
    assert len({round(d, 6) for d in delays[10:]}) > 1, "delays at the cap must still be spread"


def test_backoff_resets_after_a_healthy_period() -> None:
    clock = FakeClock()
    b = Backoff(1.0, 60.0, reset_after_s=60.0, clock=clock, rand=lambda: 0.0)
    assert [b.next() for _ in range(3)] == [1.0, 2.0, 4.0]
    clock.advance(59.0)
    assert b.next() == 8.0
    clock.advance(60.5)
    assert b.next() == 1.0
    b.next()
    b.reset()
    assert b.next() == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0, "max_s": 1}, {"initial_s": 2, "max_s": 1}, {"initial_s": 1, "max_s": 2, "factor": 0.5},
     {"initial_s": 1, "max_s": 2, "jitter": 1.0}],
)
def test_backoff_validates(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_fake_clock_is_monotonic() -> None:
    with pytest.raises(ValueError):
        FakeClock().advance(-1)


def test_informer_refuses_a_nothing_selector(api: FakeClient) -> None:
    from machinery.selectors import selector_from_model

    with pytest.raises(ValueError, match="matches nothing"):
        Informer(api, Thing, label_selector=selector_from_model(None))
