"""ReplicaSet controller: sync(key) on preloaded caches with a recording fake client."""

from __future__ import annotations

import pytest

from controllers.refmanager import AdoptionRefused
from controllers.replicaset import ReplicaSetController, slow_start_batch
from machinery import errors
from machinery.models import Pod, ReplicaSet
from tests.unit.builders import NS, make_context, make_pod, make_rs, owner_ref, preload
from tests.unit.fake_client import FakeClient


def _controller(client: FakeClient) -> ReplicaSetController:
    return ReplicaSetController(make_context(client))


async def test_creates_missing_pods_with_owner_refs_and_expectations() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=3)
    client.add(rs)
    c = _controller(client)
    preload(c.rs_informer, rs)
    await c.sync(rs.key)
    creates = client.calls_of("create", "Pod")
    assert len(creates) == 3
    for call in creates:
        meta = call.body["metadata"]
        assert meta["generateName"] == "web-"
        assert meta["labels"] == {"app": "web"}
        assert meta["ownerReferences"] == [owner_ref(rs)]
    assert c.expectations.pending(rs.key) == (3, 0)
    assert len(client.calls_of("create", "Event")) == 3
    status = client.calls_of("patch/status", "ReplicaSet")
    assert status and status[0].body["status"]["replicas"] == 0


async def test_lagging_watch_never_double_creates() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=2)
    client.add(rs)
    c = _controller(client)
    preload(c.rs_informer, rs)
    await c.sync(rs.key)
    await c.sync(rs.key)  # the informer has not seen the two pods yet
    assert len(client.calls_of("create", "Pod")) == 2
    # The watch catches up: both adds observed, so the next sync manages again (no creates).
    for call in client.calls_of("create", "Pod"):
        pod = client.stored(Pod, call.name, NS)
        preload(c.pod_informer, pod)
        c._pod_added(pod)
    assert c.expectations.satisfied(rs.key)
    await c.sync(rs.key)
    assert len(client.calls_of("create", "Pod")) == 2


async def test_slow_start_stops_at_first_failed_batch() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=10)
    client.add(rs)
    client.fail("create", "Pod", errors.Forbidden("quota exceeded"), after=3)
    c = _controller(client)
    preload(c.rs_informer, rs)
    try:
        await c.sync(rs.key)
    except errors.Forbidden:
        pass
    else:
        raise AssertionError("sync should raise to retry")
    # batch 1 (ok), batch 2 (ok), batch 4 (all fail) -> 7 attempts; the last 3 never tried.
    assert len(client.calls_of("create", "Pod")) == 7
    # 3 pods really exist; only they are still expected.
    assert c.expectations.pending(rs.key) == (3, 0)
    status = client.calls_of("patch/status", "ReplicaSet")[-1].body["status"]
    assert status["conditions"][0]["type"] == "ReplicaFailure"
    assert status["conditions"][0]["reason"] == "FailedCreate"


async def test_slow_start_batch_sizes() -> None:
    sizes: list[int] = []
    running = 0

    async def fn() -> None:
        nonlocal running
        running += 1

    for total in (1, 5, 9):
        running = 0
        ok, err = await slow_start_batch(total, 1, fn)
        sizes.append(ok)
        assert err is None and running == total
    assert sizes == [1, 5, 9]


async def test_scale_down_deletes_least_valuable_first() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=2)
    ref = owner_ref(rs)
    pods = [
        make_pod("ready-old", owner=ref, ready=True, created="2026-01-01T00:00:00Z"),
        make_pod("ready-new", owner=ref, ready=True, created="2026-01-02T00:00:00Z",
                 ready_since="2026-01-02T00:00:00Z"),
        make_pod("unscheduled", owner=ref, node=None, phase="Pending"),
        make_pod("pending", owner=ref, phase="Pending"),
        make_pod("not-ready", owner=ref),
    ]
    client.add(rs, *pods)
    c = _controller(client)
    preload(c.rs_informer, rs)
    preload(c.pod_informer, *pods)
    await c.sync(rs.key)
    deleted = [call.name for call in client.calls_of("delete", "Pod")]
    assert deleted == ["unscheduled", "pending", "not-ready"]
    assert c.expectations.pending(rs.key) == (0, 3)
    await c.sync(rs.key)  # deletions not yet observed: nothing more
    assert len(client.calls_of("delete", "Pod")) == 3
    for p in pods[2:]:
        c._pod_deleted(p)
    assert c.expectations.satisfied(rs.key)


async def test_newest_ready_pod_goes_before_older() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=1)
    ref = owner_ref(rs)
    old = make_pod("old", owner=ref, ready=True, created="2026-01-01T00:00:00Z")
    new = make_pod("new", owner=ref, ready=True, created="2026-01-01T00:00:00Z",
                   ready_since="2026-01-03T00:00:00Z")
    client.add(rs, old, new)
    c = _controller(client)
    preload(c.rs_informer, rs)
    preload(c.pod_informer, old, new)
    await c.sync(rs.key)
    assert [call.name for call in client.calls_of("delete", "Pod")] == ["new"]


async def test_adopts_matching_orphans_and_releases_non_matching() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=2)
    orphan = make_pod("orphan", ready=True)
    stray = make_pod("stray", labels={"app": "other"}, owner=owner_ref(rs))
    foreign = make_pod("foreign", owner={**owner_ref(rs), "uid": "someone-else", "name": "x"})
    client.add(rs, orphan, stray, foreign)
    c = _controller(client)
    preload(c.rs_informer, rs)
    preload(c.pod_informer, orphan, stray, foreign)
    await c.sync(rs.key)
    patches = {call.name: call.body for call in client.calls_of("patch", "Pod")}
    assert set(patches) == {"orphan", "stray"}
    assert patches["orphan"]["metadata"]["ownerReferences"] == [owner_ref(rs)]
    assert patches["orphan"]["metadata"]["resourceVersion"] == "5"
    assert patches["stray"]["metadata"]["ownerReferences"] is None
    assert len(client.calls_of("create", "Pod")) == 1  # orphan counts: one more needed
    status = client.calls_of("patch/status", "ReplicaSet")[-1].body["status"]
    assert status["replicas"] == 1 and status["readyReplicas"] == 1


async def test_status_counts_available_with_min_ready_seconds() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=2, min_ready=3600, generation=4)
    ref = owner_ref(rs)
    from machinery.meta import now_rfc3339
    long_ready = make_pod("a", owner=ref, ready=True)
    just_ready = make_pod("b", owner=ref, ready=True, ready_since=now_rfc3339())
    client.add(rs, long_ready, just_ready)
    c = _controller(client)
    preload(c.rs_informer, rs)
    preload(c.pod_informer, long_ready, just_ready)
    await c.sync(rs.key)
    status = client.calls_of("patch/status", "ReplicaSet")[-1].body["status"]
    assert status == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1,
                      "observedGeneration": 4, "conditions": None}
    assert rs.key in c.queue.waiting()  # re-checked when b becomes available
    c.queue.shutdown()


async def test_unchanged_status_is_not_written_and_deleted_rs_is_noop() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=0)
    rs.status = ReplicaSet.from_dict({"status": {"replicas": 0, "fullyLabeledReplicas": 0, "readyReplicas": 0,
                                                 "availableReplicas": 0, "observedGeneration": 1}}).status
    client.add(rs)
    c = _controller(client)
    preload(c.rs_informer, rs)
    await c.sync(rs.key)
    assert client.calls == []
    await c.sync(f"{NS}/gone")
    assert client.calls == []


async def test_pod_handlers_route_to_owner() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    other = make_rs("other", labels={"app": "other"}, uid="other-uid")
    c = _controller(client)
    preload(c.rs_informer, rs, other)
    c._pod_added(make_pod("p", owner=owner_ref(rs)))
    c._pod_added(make_pod("q", labels={"app": "other"}))  # orphan: matching RS
    keys = []
    while len(c.queue):
        keys.append(await c.queue.get())
    assert keys == [rs.key, other.key]


async def test_terminating_namespace_stops_creation_without_retry() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs(replicas=3)
    client.add(rs)
    message = f"unable to create new content in namespace {NS} because it is being terminated"
    client.fail("create", "Pod", errors.Forbidden(message, causes=[
        {"reason": errors.NAMESPACE_TERMINATING_CAUSE, "message": message, "field": "metadata.namespace"}]))
    c = _controller(client)
    preload(c.rs_informer, rs)
    await c.sync(rs.key)  # no exception: a retry cannot help
    assert len(client.calls_of("create", "Pod")) == 1
    assert c.expectations.satisfied(rs.key)
    assert not client.calls_of("create", "Event")


async def test_stale_cached_rs_does_not_adopt() -> None:
    client = FakeClient(namespace=NS)
    cached = make_rs(replicas=1, uid="old-uid")
    orphan = make_pod("orphan")
    client.add(make_rs(replicas=1, uid="new-uid"), orphan)  # deleted and re-created meanwhile
    c = _controller(client)
    preload(c.rs_informer, cached)
    preload(c.pod_informer, orphan)
    with pytest.raises(AdoptionRefused, match="got uid new-uid, wanted old-uid"):
        await c.sync(cached.key)  # an error, as client-go's: retried once the cache caught up
    assert not client.calls_of("patch", "Pod") and not client.calls_of("create", "Pod")
