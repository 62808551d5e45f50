"""EtcdStorage.list_fresh on a real etcd: the watch cache behind a consistent-read fence sees
every write this storage made before the call, and falls back to etcd when the cache lags."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apiserver.storage import EtcdStorage, keys

pytestmark = pytest.mark.integration


@pytest.fixture
async def storage(etcd_server: Any) -> AsyncIterator[EtcdStorage]:
    s = await EtcdStorage.connect([etcd_server.url], timeout_s=3.0)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def plural() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def obj(name: str, ns: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, **extra}


def names(items: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in items]


async def test_a_write_just_before_is_always_seen(storage: EtcdStorage, plural: str) -> None:
    prefix = keys.collection_prefix(plural, "a")
    assert (await storage.list_fresh(prefix)).items == []  # starts the cache
    for i in range(40):  # each list comes right after the write it must see
        await storage.create(keys.object_key(plural, f"o{i:02d}", "a"), obj(f"o{i:02d}", "a"))
        assert names((await storage.list_fresh(prefix)).items)[-1] == f"o{i:02d}"
    updated = await storage.guaranteed_update(keys.object_key(plural, "o00", "a"),
                                              lambda cur: _set(cur, "data", {"k": "v"}))
    fresh = (await storage.list_fresh(prefix)).items
    assert fresh[0]["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]
    await storage.delete(keys.object_key(plural, "o01", "a"))
    assert "o01" not in names((await storage.list_fresh(prefix)).items)
    # Another namespace's collection is its own: a write there does not delay this one.
    await storage.create(keys.object_key(plural, "x", "b"), obj("x", "b"))
    assert names((await storage.list_fresh(keys.collection_prefix(plural, "b"))).items) == ["x"]
    assert len((await storage.list_fresh(prefix)).items) == 39


async def _set(cur: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    cur[field] = value
    return cur


async def test_a_lagging_cache_falls_back_to_etcd(storage: EtcdStorage, plural: str) -> None:
    prefix = keys.collection_prefix(plural, "a")
    await storage.list_fresh(prefix)
    cache = storage.watch_cache(keys.resource_prefix(prefix))
    runner = cache._tasks[0]  # the etcd watch feeding the cache: stop it, the cache lags from now on
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    storage.fresh_wait_s = 0.2
    await storage.create(keys.object_key(plural, "late", "a"), obj("late", "a"))
    assert cache.objects(prefix) == []  # the cache never saw it...
    result = await storage.list_fresh(prefix)
    assert names(result.items) == ["late"]  # ...the fresh list read etcd after the fence timed out
    assert result.resource_version >= int(result.items[0]["metadata"]["resourceVersion"])


async def test_get_fresh_sees_own_writes_and_confirms_a_miss_in_etcd(storage: EtcdStorage, plural: str,
                                                                     etcd_server: Any) -> None:
    key = keys.object_key(plural, "sa", "a")
    assert await storage.get_fresh(key) is None  # starts the cache; absent everywhere
    for i in range(20):  # each read comes right after the write it must see
        cur = await storage.get(key) if i else None
        if cur is None:
            await storage.create(key, obj("sa", "a", data={"i": str(i)}))
        else:
            await storage.update(key, obj("sa", "a", data={"i": str(i)}),
                                 expected_rv=int(cur["metadata"]["resourceVersion"]))
        found = await storage.get_fresh(key)
        assert found is not None
        assert found["data"] == {"i": str(i)}
    # Written by another API server (its own storage): this cache may not have it yet, and a
    # miss is confirmed by an etcd read, so it is found at once.
    cache = storage.watch_cache(keys.resource_prefix(key))
    runner = cache._tasks[0]  # stop this cache's watch: only the etcd fallback can find it
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    other = await EtcdStorage.connect([etcd_server.url], timeout_s=3.0)
    try:
        other_key = keys.object_key(plural, "other", "a")
        await other.create(other_key, obj("other", "a"))
    finally:
        await other.close()
    assert cache.cached(other_key) is None
    found = await storage.get_fresh(other_key)
    assert found is not None
    assert found["metadata"]["name"] == "other"
