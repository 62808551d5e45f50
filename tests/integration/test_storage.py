"""EtcdStorage against a real etcd: CRUD, optimistic concurrency, paging, outages."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aetcd
import pytest

from apiserver.storage import EtcdStorage, Storage, keys
from machinery import errors
from tests.support import EtcdProcess, wait_until

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
    """A resource name of its own, so tests sharing the session etcd never see each other."""
    return f"t{uuid.uuid4().hex[:10]}"


def pod(name: str, ns: str = "default", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, **extra}


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def test_crud_round_trip(storage: EtcdStorage, plural: str, etcd_server: Any) -> None:
    as_protocol: Storage = storage  # mypy checks EtcdStorage against the Storage protocol
    assert as_protocol is storage
    key = keys.object_key(plural, "a", "default")
    created = await storage.create(key, pod("a", spec={"x": 1}))
    assert rv(created) > 0
    got = await storage.get(key)
    assert got == created

    # The stored value is compact JSON without resourceVersion.
    url = etcd_server.url.rsplit(":", 1)
    async with aetcd.Client(host="127.0.0.1", port=int(url[1]), timeout=5) as raw:
        stored = await raw.get(key.encode())
    assert stored is not None
    assert b" " not in stored.value
    assert "resourceVersion" not in json.loads(stored.value)["metadata"]
    assert stored.mod_revision == rv(created)

    updated = await storage.update(key, {**got, "spec": {"x": 2}}, expected_rv=rv(got))
    assert rv(updated) > rv(created)
    assert (await storage.get(key))["spec"] == {"x": 2}

    deleted = await storage.delete(key)
    assert deleted["spec"] == {"x": 2}
    assert rv(deleted) > rv(updated)
    assert rv(deleted) == await storage.current_revision()
    with pytest.raises(errors.NotFound) as exc:
        await storage.get(key)
    assert exc.value.message == 'pods "a" not found'.replace("pods", plural)
    with pytest.raises(errors.NotFound):
        await storage.delete(key)


async def test_create_twice_is_already_exists(storage: EtcdStorage, plural: str) -> None:
    key = keys.object_key(plural, "dup", "default")
    first = await storage.create(key, pod("dup"))
    with pytest.raises(errors.AlreadyExists) as exc:
        await storage.create(key, pod("dup", spec={"other": True}))
    assert exc.value.code == 409
    assert exc.value.message == f'{plural} "dup" already exists'
    assert await storage.get(key) == first  # nothing was written


async def test_stale_update_is_conflict(storage: EtcdStorage, plural: str) -> None:
    key = keys.object_key(plural, "x", "default")
    v1 = await storage.create(key, pod("x"))
    v2 = await storage.update(key, {**v1, "spec": {"n": 1}}, expected_rv=rv(v1))
    with pytest.raises(errors.Conflict) as exc:
        await storage.update(key, {**v1, "spec": {"n": 99}}, expected_rv=rv(v1))
    assert exc.value.message == (
        f'Operation cannot be fulfilled on {plural} "x": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert exc.value.to_status()["details"] == {"name": "x", "kind": plural}
    assert await storage.get(key) == v2

    with pytest.raises(errors.Conflict):
        await storage.delete(key, expected_rv=rv(v1))
    await storage.delete(key, expected_rv=rv(v2))
    with pytest.raises(errors.NotFound):
        await storage.update(key, v2, expected_rv=rv(v2))


async def test_guaranteed_update_loses_no_increment(storage: EtcdStorage, plural: str) -> None:
    key = keys.object_key(plural, "counter", "default")
    await storage.create(key, pod("counter", spec={"n": 0}))
    calls = 0

    async def inc(obj: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)  # let the other writers interleave between read and write
        obj["spec"]["n"] += 1
        return obj

    await asyncio.gather(*(storage.guaranteed_update(key, inc, retries=64) for _ in range(20)))
    assert (await storage.get(key))["spec"]["n"] == 20
    assert calls > 20  # conflicts really happened and were retried

    before = await storage.get(key)

    async def noop(obj: dict[str, Any]) -> None:
        return None

    assert await storage.guaranteed_update(key, noop) == before
    assert rv(await storage.get(key)) == rv(before)  # nothing written

    with pytest.raises(errors.NotFound):
        await storage.guaranteed_update(keys.object_key(plural, "missing", "default"), inc)


async def test_list_pages_are_read_at_one_revision(storage: EtcdStorage, plural: str) -> None:
    names = [f"p{i:02d}" for i in range(10)]
    for n in names:
        await storage.create(keys.object_key(plural, n, "ns"), pod(n, "ns"))
    # A namespace whose name extends "ns" must not leak into ns's list.
    await storage.create(keys.object_key(plural, "other", "ns2"), pod("other", "ns2"))
    prefix = keys.collection_prefix(plural, "ns")

    first = await storage.list(prefix, limit=4)
    assert [o["metadata"]["name"] for o in first.items] == names[:4]
    assert first.continue_token and first.remaining_item_count == 6

    # Writes between pages are invisible to the rest of the list.
    await storage.delete(keys.object_key(plural, "p05", "ns"))
    await storage.create(keys.object_key(plural, "p04a", "ns"), pod("p04a", "ns"))
    p6 = await storage.get(keys.object_key(plural, "p06", "ns"))
    await storage.update(keys.object_key(plural, "p06", "ns"), {**p6, "spec": {"late": 1}}, expected_rv=rv(p6))

    seen = list(first.items)
    token: str | None = first.continue_token
    while token:
        page = await storage.list(prefix, limit=4, continue_token=token)
        assert page.resource_version == first.resource_version
        seen.extend(page.items)
        token = page.continue_token
    assert [o["metadata"]["name"] for o in seen] == names
    assert all("late" not in (o.get("spec") or {}) for o in seen)

    fresh = await storage.list(prefix)
    assert [o["metadata"]["name"] for o in fresh.items] == sorted(set(names) - {"p05"} | {"p04a"})
    assert fresh.resource_version > first.resource_version
    assert fresh.continue_token is None

    everything = await storage.list(keys.collection_prefix(plural))
    assert len(everything.items) == 11 - 1 + 1

    # The predicate filters before the limit, as Kubernetes' selectors do.
    odd = await storage.list(prefix, limit=2, predicate=lambda o: int(o["metadata"]["name"][1:3]) % 2 == 1)
    assert [o["metadata"]["name"] for o in odd.items] == ["p01", "p03"]
    rest = await storage.list(prefix, limit=10, continue_token=odd.continue_token,
                              predicate=lambda o: int(o["metadata"]["name"][1:3]) % 2 == 1)
    assert [o["metadata"]["name"] for o in rest.items] == ["p07", "p09"]
    assert rest.continue_token is None

    old = await storage.list(prefix, resource_version=first.resource_version)
    assert [o["metadata"]["name"] for o in old.items] == names

    unlimited = await storage.list(prefix, limit=0)
    assert len(unlimited.items) == 10 and unlimited.continue_token is None

    with pytest.raises(errors.BadRequest):
        await storage.list(prefix, limit=2, continue_token="garbage")


async def test_compacted_revision_is_expired(plural: str) -> None:
    # Its own etcd: compacting the shared one could hand other tests' watches a 410.
    with EtcdProcess() as etcd:
        storage = await EtcdStorage.connect([etcd.url], timeout_s=3.0)
        try:
            await _compaction_case(storage, plural, etcd.client_port)
        finally:
            await storage.close()


async def _compaction_case(storage: EtcdStorage, plural: str, port: int) -> None:
    prefix = keys.collection_prefix(plural, "ns")
    for i in range(4):
        await storage.create(keys.object_key(plural, f"c{i}", "ns"), pod(f"c{i}", "ns"))
    page = await storage.list(prefix, limit=2)
    obj = await storage.get(keys.object_key(plural, "c0", "ns"))
    await storage.update(keys.object_key(plural, "c0", "ns"), obj, expected_rv=rv(obj))
    async with aetcd.Client(host="127.0.0.1", port=port, timeout=5) as raw:
        await raw.compact(await storage.current_revision())
    with pytest.raises(errors.Expired) as exc:
        await storage.list(prefix, limit=2, continue_token=page.continue_token)
    assert exc.value.code == 410
    with pytest.raises(errors.Expired):
        await storage.list(prefix, resource_version=page.resource_version)


async def test_etcd_outage_is_503_then_recovers(plural: str) -> None:
    with EtcdProcess() as etcd:
        s = await EtcdStorage.connect([etcd.url], timeout_s=2.0)
        try:
            key = keys.object_key(plural, "o", "default")
            await s.create(key, pod("o"))
            assert await s.healthy()

            etcd.kill()
            t0 = time.monotonic()
            with pytest.raises(errors.ServiceUnavailable) as exc:
                await s.get(key)
            assert time.monotonic() - t0 < 3.0
            assert exc.value.code == 503 and "etcd is unavailable" in exc.value.message
            with pytest.raises(errors.ServiceUnavailable):
                await s.create(keys.object_key(plural, "p", "default"), pod("p"))
            with pytest.raises(errors.ServiceUnavailable):
                await s.list(keys.collection_prefix(plural))
            assert not await s.healthy()

            etcd.start()  # same ports, same data dir
            await wait_until(s.healthy, timeout_s=10)
            assert (await s.get(key))["metadata"]["name"] == "o"
            await s.create(keys.object_key(plural, "p", "default"), pod("p"))
        finally:
            await s.close()


async def test_connect_before_etcd_is_up(plural: str) -> None:
    etcd = EtcdProcess()
    try:
        s = await EtcdStorage.connect([etcd.url], timeout_s=1.0)
        with pytest.raises(errors.ServiceUnavailable):
            await s.current_revision()
        etcd.start()
        await wait_until(s.healthy, timeout_s=10)
        await s.close()
    finally:
        etcd.cleanup()
