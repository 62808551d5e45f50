"""The watch cache on a real etcd: replay, fan-out, predicates, index, bookmarks, outages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aetcd
import pytest

from apiserver.storage import EtcdStorage, StoredEvent, keys
from apiserver.storage.watchcache import WatchBatch, WatchCache
from machinery import errors
from tests.support import EtcdProcess, compact_etcd, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def storage(etcd_server: Any) -> AsyncIterator[EtcdStorage]:
    s = await EtcdStorage.connect([etcd_server.url], timeout_s=3.0, bookmark_interval_s=0.2)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def plural() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def pod(name: str, ns: str = "default", labels: dict[str, str] | None = None, node: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"nodeName": node}}


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


class Collector:
    """Consumes one watch in a task and keeps what it got."""

    def __init__(self, it: AsyncIterator[StoredEvent]) -> None:
        self.events: list[StoredEvent] = []
        self.error: BaseException | None = None
        self.ended = False
        self.task = asyncio.create_task(self._run(it))

    async def _run(self, it: AsyncIterator[StoredEvent]) -> None:
        try:
            async for ev in it:
                self.events.append(ev)
        except Exception as e:  # noqa: BLE001 - kept for the assertion
            self.error = e
        finally:
            self.ended = True

    def summary(self, bookmarks: bool = False) -> list[tuple[str, str, int]]:
        return [(e.type, e.object["metadata"].get("name", ""), e.resource_version)
                for e in self.events if bookmarks or e.type != "BOOKMARK"]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def started(c: Collector, cache: WatchCache, n: int = 1) -> Collector:
    await wait_until(lambda: cache.watcher_count >= n, timeout_s=5)
    return c


async def test_replay_from_revision_then_live(storage: EtcdStorage, plural: str) -> None:
    prefix = keys.collection_prefix(plural)
    a = await storage.create(keys.object_key(plural, "a", "ns"), pod("a", "ns"))
    b = await storage.create(keys.object_key(plural, "b", "ns"), pod("b", "ns"))
    b2 = await storage.update(keys.object_key(plural, "b", "ns"), {**b, "spec": {"x": 1}}, expected_rv=rv(b))
    # Another namespace and another resource: filtered out by prefix.
    await storage.create(keys.object_key(plural, "c", "other"), pod("c", "other"))

    c = Collector(storage.watch(keys.collection_prefix(plural, "ns"), from_rv=rv(a)))
    await started(c, storage.watch_cache(prefix))
    d = await storage.delete(keys.object_key(plural, "a", "ns"))
    await wait_until(lambda: len(c.events) >= 3)
    assert c.summary() == [("ADDED", "b", rv(b)), ("MODIFIED", "b", rv(b2)), ("DELETED", "a", rv(d))]
    assert c.events[2].object["metadata"]["resourceVersion"] == str(rv(d))
    assert c.error is None
    await c.stop()


async def test_from_zero_is_from_now(storage: EtcdStorage, plural: str) -> None:
    await storage.create(keys.object_key(plural, "old", "ns"), pod("old", "ns"))
    c = Collector(storage.watch(keys.collection_prefix(plural), from_rv=0))
    await started(c, storage.watch_cache(keys.collection_prefix(plural)))
    new = await storage.create(keys.object_key(plural, "new", "ns"), pod("new", "ns"))
    await wait_until(lambda: len(c.events) >= 1)
    await asyncio.sleep(0.1)
    assert c.summary() == [("ADDED", "new", rv(new))]
    await c.stop()


async def test_rv_newer_than_cache_skips_older_events(storage: EtcdStorage, plural: str) -> None:
    """A list of another resource can return a revision the cache never saw in its prefix."""
    prefix = keys.collection_prefix(plural)
    cache = storage.watch_cache(prefix)
    await cache.start()
    x = await storage.create(keys.object_key(plural, "x", "ns"), pod("x", "ns"))
    other = await storage.create(keys.object_key(plural + "z", "o", "ns"), pod("o", "ns"))
    c = Collector(storage.watch(prefix, from_rv=rv(other)))
    await started(c, cache)
    y = await storage.create(keys.object_key(plural, "y", "ns"), pod("y", "ns"))
    await wait_until(lambda: len(c.events) >= 1)
    await asyncio.sleep(0.1)
    assert c.summary() == [("ADDED", "y", rv(y))]
    assert rv(x) < rv(other)
    await c.stop()


async def test_thousand_watchers_all_get_the_event(storage: EtcdStorage, plural: str) -> None:
    prefix = keys.collection_prefix(plural)
    cache = storage.watch_cache(prefix)
    collectors = [Collector(storage.watch(prefix, from_rv=0)) for _ in range(1000)]
    await started(collectors[0], cache, 1000)
    t0 = time.monotonic()
    obj = await storage.create(keys.object_key(plural, "one", "ns"), pod("one", "ns"))
    await wait_until(lambda: all(c.events for c in collectors), timeout_s=10)
    elapsed = time.monotonic() - t0
    assert all(c.summary() == [("ADDED", "one", rv(obj))] for c in collectors)
    assert elapsed < 5.0
    for c in collectors:
        await c.stop()
    assert cache.watcher_count == 0


async def test_predicate_transitions(storage: EtcdStorage, plural: str) -> None:
    key = keys.object_key(plural, "p", "ns")
    prefix = keys.collection_prefix(plural)

    def is_web(o: dict[str, Any]) -> bool:
        return (o["metadata"].get("labels") or {}).get("app") == "web"

    c = Collector(storage.watch(prefix, from_rv=0, predicate=is_web))
    await started(c, storage.watch_cache(prefix))
    v1 = await storage.create(key, pod("p", "ns"))  # does not match: nothing
    v2 = await storage.update(key, pod("p", "ns", {"app": "web"}), expected_rv=rv(v1))  # starts -> ADDED
    v3 = await storage.update(key, {**pod("p", "ns", {"app": "web"}), "spec": {"n": 1}}, expected_rv=rv(v2))
    v4 = await storage.update(key, pod("p", "ns", {"app": "db"}), expected_rv=rv(v3))  # stops -> DELETED
    await storage.delete(key)  # no longer matching: nothing
    v6 = await storage.create(key, pod("p", "ns", {"app": "web"}))
    d = await storage.delete(key)
    await wait_until(lambda: len(c.events) >= 5)
    await asyncio.sleep(0.1)
    assert c.summary() == [
        ("ADDED", "p", rv(v2)), ("MODIFIED", "p", rv(v3)), ("DELETED", "p", rv(v4)),
        ("ADDED", "p", rv(v6)), ("DELETED", "p", rv(d)),
    ]
    # "Stops matching" sends the new state of the object, as Kubernetes does.
    assert c.events[2].object["metadata"]["labels"] == {"app": "db"}
    await c.stop()


async def test_older_than_the_buffer_is_served_from_etcd_then_expired_once_compacted(
        etcd_server: Any, plural: str) -> None:
    s = await EtcdStorage.connect([etcd_server.url], watch_cache_capacity=5)
    try:
        prefix = keys.collection_prefix(plural)
        first = await s.create(keys.object_key(plural, "o0", "ns"), pod("o0", "ns"))
        await s.watch_cache(prefix).start()
        written = [await s.create(keys.object_key(plural, f"o{i}", "ns"), pod(f"o{i}", "ns")) for i in range(1, 12)]
        cache = s.watch_cache(prefix)
        await wait_until(lambda: cache.revision >= rv(written[-1]))
        assert cache.oldest_revision > rv(first)
        # Older than the buffer but still in etcd: every change after `first`, in order.
        c = Collector(s.watch(prefix, from_rv=rv(first)))
        await wait_until(lambda: len(c.events) >= 11)
        assert [(e.type, e.resource_version) for e in c.events] == [("ADDED", rv(o)) for o in written]
        await c.stop()
        await compact_etcd(etcd_server.url)
        with pytest.raises(errors.Expired) as exc:
            async for _ in s.watch(prefix, from_rv=rv(first)):
                pass
        assert exc.value.code == 410 and "too old resource version" in exc.value.message
        # The oldest revision still served replays exactly the buffered events.
        c = Collector(s.watch(prefix, from_rv=cache.oldest_revision))
        await wait_until(lambda: len(c.events) >= 5)
        assert [e.resource_version for e in c.events] == [rv(o) for o in written[-5:]]
        await c.stop()
    finally:
        await s.close()


async def test_index_value_limits_predicate_work(etcd_server: Any) -> None:
    s = await EtcdStorage.connect([etcd_server.url])
    try:
        prefix = "/registry/pods/"  # pods carry the spec.nodeName index by default
        ns = f"ns{uuid.uuid4().hex[:8]}"
        calls = 0

        def on_node(node: str) -> Any:
            def pred(o: dict[str, Any]) -> bool:
                nonlocal calls
                calls += 1
                return bool(o["metadata"]["namespace"] == ns and o["spec"].get("nodeName") == node)
            return pred

        cs = {f"n{i}": Collector(s.watch(prefix, from_rv=0, predicate=on_node(f"n{i}"), index_value=f"n{i}"))
              for i in range(200)}
        await started(cs["n0"], s.watch_cache(prefix), 200)
        key = keys.object_key("pods", "p", ns)
        v1 = await s.create(key, pod("p", ns, node=""))
        v2 = await s.update(key, pod("p", ns, node="n7"), expected_rv=rv(v1))  # bound to n7
        v3 = await s.update(key, pod("p", ns, node="n9"), expected_rv=rv(v2))  # moved: n7 loses it
        await wait_until(lambda: len(cs["n9"].events) >= 1)
        await asyncio.sleep(0.1)
        assert cs["n7"].summary() == [("ADDED", "p", rv(v2)), ("DELETED", "p", rv(v3))]
        assert cs["n9"].summary() == [("ADDED", "p", rv(v3))]
        assert all(not c.events for n, c in cs.items() if n not in ("n7", "n9"))
        assert calls <= 12  # a handful per event, not 200
        for c in cs.values():
            await c.stop()
        await s.delete(key)
    finally:
        await s.close()


async def test_slow_watcher_is_closed_without_blocking_others(etcd_server: Any, plural: str) -> None:
    s = await EtcdStorage.connect([etcd_server.url], watch_queue_size=10)
    try:
        prefix = keys.collection_prefix(plural)
        cache = s.watch_cache(prefix)
        await cache.start()
        slow = s.watch(prefix, from_rv=cache.revision).__aiter__()
        first = await asyncio.wait_for(_first_after_write(s, plural, slow), 5)  # registered now
        fast = Collector(s.watch(prefix, from_rv=first.resource_version))
        await started(fast, cache, 2)
        for i in range(30):
            await s.create(keys.object_key(plural, f"o{i}", "ns"), pod(f"o{i}", "ns"))
        await wait_until(lambda: len(fast.events) >= 30)
        got = [ev async for ev in slow]  # drains what was queued, then ends
        assert 0 < len(got) <= 10
        assert [e.resource_version for e in got] == [e.resource_version for e in fast.events[:len(got)]]
        assert cache.watcher_count == 1
        await fast.stop()
    finally:
        await s.close()


async def _first_after_write(s: EtcdStorage, plural: str, it: AsyncIterator[StoredEvent]) -> StoredEvent:
    nxt = asyncio.ensure_future(it.__anext__())
    await wait_until(lambda: s.watch_cache(keys.collection_prefix(plural)).watcher_count >= 1)
    await s.create(keys.object_key(plural, "first", "ns"), pod("first", "ns"))
    return await nxt


async def test_bookmarks_carry_progress(storage: EtcdStorage, plural: str) -> None:
    prefix = keys.collection_prefix(plural)
    c = Collector(storage.watch(prefix, from_rv=0, predicate=lambda o: False, bookmarks=True))
    plain = Collector(storage.watch(prefix, from_rv=0, predicate=lambda o: False))
    await started(c, storage.watch_cache(prefix), 2)
    last = await storage.create(keys.object_key(plural, "b", "ns"), pod("b", "ns"))
    await wait_until(lambda: any(e.type == "BOOKMARK" and e.resource_version >= rv(last) for e in c.events))
    bm = [e for e in c.events if e.type == "BOOKMARK"][-1]
    assert bm.object == {"metadata": {"resourceVersion": str(bm.resource_version)}}
    assert not plain.events
    await c.stop()
    await plain.stop()


async def test_idle_cache_learns_revision_from_progress_notify(storage: EtcdStorage, plural: str) -> None:
    """The test etcd sends progress notifications every second; other prefixes move the rev."""
    prefix = keys.collection_prefix(plural)
    cache = storage.watch_cache(prefix)
    await cache.start()
    elsewhere = await storage.create(keys.object_key(plural + "z", "e", "ns"), pod("e", "ns"))
    await wait_until(lambda: cache.revision >= rv(elsewhere), timeout_s=5)


class BreakableSource:
    """A real EtcdStorage as the cache's source, with a switch that cuts the etcd watch."""

    def __init__(self, inner: EtcdStorage) -> None:
        self.inner = inner
        self.connected = asyncio.Event()
        self.connected.set()
        self.resumed_from: list[int] = []

    async def snapshot(self, prefix: str, revision: int | None) -> tuple[dict[str, Any], int]:
        return await self.inner.snapshot(prefix, revision)

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def stream(self, prefix: str, start_rev: int) -> AsyncIterator[WatchBatch]:
        self.resumed_from.append(start_rev)
        await self.connected.wait()
        async for batch in self.inner.stream(prefix, start_rev):
            if not self.connected.is_set():
                raise errors.ServiceUnavailable("cut by the test")
            yield batch


async def test_compacted_resume_relists_with_synthetic_events(plural: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="apiserver.storage.watchcache")
    with EtcdProcess() as etcd:
        s = await EtcdStorage.connect([etcd.url])
        src = BreakableSource(s)
        prefix = keys.collection_prefix(plural)
        cache = WatchCache(src, prefix)
        try:
            keep = await s.create(keys.object_key(plural, "keep", "ns"), pod("keep", "ns"))
            gone = await s.create(keys.object_key(plural, "gone", "ns"), pod("gone", "ns"))
            chg = await s.create(keys.object_key(plural, "chg", "ns"), pod("chg", "ns"))
            c = Collector(cache.watch(prefix, from_rv=0))
            await started(c, cache)
            src.connected.clear()
            await s.create(keys.object_key(plural, "dummy", "x"), pod("dummy", "x"))  # wakes the stream
            await wait_until(lambda: len(src.resumed_from) >= 2)
            await s.delete(keys.object_key(plural, "gone", "ns"))
            chg2 = await s.update(keys.object_key(plural, "chg", "ns"), pod("chg", "ns", {"v": "2"}), expected_rv=rv(chg))
            new = await s.create(keys.object_key(plural, "new", "ns"), pod("new", "ns"))
            async with aetcd.Client(host="127.0.0.1", port=etcd.client_port, timeout=5) as raw:
                await raw.compact(await s.current_revision())
            src.connected.set()
            await wait_until(lambda: {e.object["metadata"]["name"] for e in c.events} >= {"gone", "chg", "new"})
            got = {(e.type, e.object["metadata"]["name"]) for e in c.events}
            assert {("DELETED", "gone"), ("MODIFIED", "chg"), ("ADDED", "new")} <= got
            assert ("MODIFIED", "keep") not in got and c.error is None
            assert {o["metadata"]["name"] for o in cache.objects(keys.collection_prefix(plural, "ns"))} == {"keep", "chg", "new"}
            mod = next(e for e in c.events if e.object["metadata"]["name"] == "chg")
            assert mod.object["metadata"]["labels"] == {"v": "2"} and rv(mod.object) == rv(chg2)
            assert rv(keep) < rv(gone) < rv(new)
            assert any("compacted; relisting" in r.getMessage() for r in caplog.records)
            await c.stop()
        finally:
            await cache.stop()
            await s.close()


async def test_etcd_restart_loses_no_event(plural: str) -> None:
    with EtcdProcess() as etcd:
        s = await EtcdStorage.connect([etcd.url], timeout_s=2.0)
        try:
            prefix = keys.collection_prefix(plural)
            written: list[int] = []
            for i in range(5):
                written.append(rv(await s.create(keys.object_key(plural, f"a{i}", "ns"), pod(f"a{i}", "ns"))))
            c = Collector(s.watch(prefix, from_rv=written[0]))
            await started(c, s.watch_cache(prefix))
            for i in range(5):  # written just before the kill: some may be in flight
                written.append(rv(await s.create(keys.object_key(plural, f"b{i}", "ns"), pod(f"b{i}", "ns"))))
            etcd.kill()
            with pytest.raises(errors.ServiceUnavailable):
                await s.create(keys.object_key(plural, "down", "ns"), pod("down", "ns"))
            await asyncio.sleep(0.5)
            etcd.start()
            await wait_until(s.healthy, timeout_s=10)
            for i in range(5):
                written.append(rv(await s.create(keys.object_key(plural, f"c{i}", "ns"), pod(f"c{i}", "ns"))))
            await wait_until(lambda: len(c.events) >= len(written) - 1, timeout_s=15)
            await asyncio.sleep(0.2)
            assert [e.resource_version for e in c.events] == written[1:]
            assert c.error is None and not c.ended
            await c.stop()
        finally:
            await s.close()


async def test_one_txn_writing_two_keys_delivers_both(storage: EtcdStorage, plural: str, etcd_server: Any) -> None:
    prefix = keys.collection_prefix(plural)
    c = Collector(storage.watch(prefix, from_rv=0))
    await started(c, storage.watch_cache(prefix))
    port = int(etcd_server.url.rsplit(":", 1)[1])
    async with aetcd.Client(host="127.0.0.1", port=port, timeout=5) as raw:
        t = raw.transactions
        k1, k2 = keys.object_key(plural, "t1", "ns"), keys.object_key(plural, "t2", "ns")
        await raw.transaction(compare=[], failure=[], success=[
            t.put(k1.encode(), b'{"metadata":{"name":"t1","namespace":"ns"}}'),
            t.put(k2.encode(), b'{"metadata":{"name":"t2","namespace":"ns"}}'),
        ])
    await wait_until(lambda: len(c.events) >= 2)
    assert [(e.type, e.object["metadata"]["name"]) for e in c.events] == [("ADDED", "t1"), ("ADDED", "t2")]
    assert c.events[0].resource_version == c.events[1].resource_version
    await c.stop()


async def test_list_cached_follows_writes(storage: EtcdStorage, plural: str) -> None:
    a = await storage.create(keys.object_key(plural, "a", "ns"), pod("a", "ns"))
    first = await storage.list_cached(keys.collection_prefix(plural))
    assert [o["metadata"]["name"] for o in first.items] == ["a"] and first.resource_version >= rv(a)
    b = await storage.create(keys.object_key(plural, "b", "ns2"), pod("b", "ns2"))
    cache = storage.watch_cache(keys.collection_prefix(plural))
    await wait_until(lambda: cache.revision >= rv(b))
    only_ns2 = await storage.list_cached(keys.collection_prefix(plural, "ns2"))
    assert [o["metadata"]["name"] for o in only_ns2.items] == ["b"]


async def test_future_revision_is_too_large(storage: EtcdStorage, plural: str) -> None:
    prefix = keys.collection_prefix(plural)
    future = await storage.current_revision() + 1000
    for _ in range(2):  # before and after the cache started
        with pytest.raises(errors.Timeout) as exc:
            async for _ in storage.watch(prefix, from_rv=future):
                pass
        assert exc.value.code == 504 and exc.value.message.startswith("Too large resource version")
        await storage.watch_cache(prefix).start()


async def test_initial_events_then_live(storage: EtcdStorage, plural: str) -> None:
    a = await storage.create(keys.object_key(plural, "a", "ns"), pod("a", "ns", {"app": "web"}))
    await storage.create(keys.object_key(plural, "b", "ns"), pod("b", "ns"))
    c = Collector(storage.watch(keys.collection_prefix(plural), from_rv=0, initial_events=True,
                                predicate=lambda o: "labels" in o["metadata"]))
    await started(c, storage.watch_cache(keys.collection_prefix(plural)))
    d = await storage.create(keys.object_key(plural, "d", "ns"), pod("d", "ns", {"app": "web"}))
    await wait_until(lambda: len(c.events) >= 2)
    assert c.summary() == [("ADDED", "a", rv(a)), ("ADDED", "d", rv(d))]
    await c.stop()
