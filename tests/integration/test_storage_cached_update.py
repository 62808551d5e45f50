"""guaranteed_update starting from the watch cache (one etcd read saved per write), and the
cases where the cached copy is stale: the write must still be based on the current object."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from apiserver.storage import EtcdStorage, keys
from machinery import errors
from tests.support import EtcdProcess, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdProcess]:
    with EtcdProcess(name="cached-update") as e:
        yield e


@pytest.fixture
async def storage(etcd: EtcdProcess) -> AsyncIterator[EtcdStorage]:
    s = await EtcdStorage.connect([etcd.url], timeout_s=3.0)
    try:
        yield s
    finally:
        await s.close()


class Counting:
    """Counts the Range calls EtcdStorage makes (wraps its KV stub)."""

    def __init__(self, kv: Any) -> None:
        self.kv, self.ranges, self.txns = kv, 0, 0

    async def Range(self, *a: Any, **kw: Any) -> Any:
        self.ranges += 1
        return await self.kv.Range(*a, **kw)

    async def Txn(self, *a: Any, **kw: Any) -> Any:
        self.txns += 1
        return await self.kv.Txn(*a, **kw)


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": dict(spec)}


async def _cached_setup(storage: EtcdStorage) -> tuple[str, str, Counting]:
    plural = f"t{uuid.uuid4().hex[:10]}"
    key = keys.object_key(plural, "a", "default")
    cache = storage.watch_cache(f"/registry/{plural}/")
    await cache.start()
    created = await storage.create(key, pod("a", n=0))
    await wait_until(lambda: cache.cached(key) is not None, timeout_s=5)
    counting = Counting(storage._kv)
    storage._kv = counting
    return key, created["metadata"]["resourceVersion"], counting


async def test_update_from_cache_needs_no_read(storage: EtcdStorage) -> None:
    key, _, calls = await _cached_setup(storage)

    async def bump(cur: dict[str, Any]) -> dict[str, Any]:
        cur["spec"]["n"] += 1
        return cur

    out = await storage.guaranteed_update(key, bump)
    assert out["spec"]["n"] == 1
    assert (calls.ranges, calls.txns) == (0, 1)
    assert (await storage.get(key))["spec"]["n"] == 1


async def test_stale_cache_retries_on_the_current_object(storage: EtcdStorage) -> None:
    key, rv0, calls = await _cached_setup(storage)
    cache = storage.watch_cache(keys.resource_prefix(key))
    await cache.stop()  # freeze the cache: it keeps the first version
    cache._started = True  # still used as a hint
    written = await storage.update(key, pod("a", n=10), expected_rv=int(rv0))
    seen: list[int] = []

    async def bump(cur: dict[str, Any]) -> dict[str, Any]:
        seen.append(cur["spec"]["n"])
        cur["spec"]["n"] += 1
        return cur

    out = await storage.guaranteed_update(key, bump)
    assert seen == [0, 10]  # the stale guess, then the object the failed compare returned
    assert out["spec"]["n"] == 11
    assert int(out["metadata"]["resourceVersion"]) > int(written["metadata"]["resourceVersion"])
    assert calls.ranges == 0  # the failed txn carried the current object


async def test_stale_cache_error_and_noop_are_rechecked(storage: EtcdStorage) -> None:
    key, rv0, _ = await _cached_setup(storage)
    cache = storage.watch_cache(keys.resource_prefix(key))
    await cache.stop()
    cache._started = True
    await storage.update(key, pod("a", n=10), expected_rv=int(rv0))

    async def needs_ten(cur: dict[str, Any]) -> dict[str, Any]:
        if cur["spec"]["n"] != 10:
            raise errors.Conflict("stale")
        return cur  # no change

    out = await storage.guaranteed_update(key, needs_ten)
    assert out["spec"]["n"] == 10  # the no-op answers the current object, not the cached one

    async def refuse(cur: dict[str, Any]) -> dict[str, Any]:
        raise errors.Conflict(f"n is {cur['spec']['n']}")

    with pytest.raises(errors.Conflict, match="n is 10"):
        await storage.guaranteed_update(key, refuse)


async def test_deleted_key_is_not_found_despite_cache(storage: EtcdStorage) -> None:
    key, _rv0, _ = await _cached_setup(storage)
    cache = storage.watch_cache(keys.resource_prefix(key))
    await cache.stop()
    cache._started = True
    await storage.delete(key)

    async def same(cur: dict[str, Any]) -> dict[str, Any]:
        cur["spec"]["n"] = 5
        return cur

    with pytest.raises(errors.NotFound):
        await storage.guaranteed_update(key, same)
