"""Garbage collector and namespace controller: sync(key) on preloaded caches, recorded calls."""

from __future__ import annotations

from controllers.gc import GarbageCollector, work_key
from controllers.namespace import NamespaceController
from machinery.models import Namespace, Pod, ReplicaSet
from tests.unit.builders import NS, make_context, make_pod, make_rs, owner_ref, preload
from tests.unit.fake_client import FakeClient


def _gc(client: FakeClient) -> GarbageCollector:
    return GarbageCollector(make_context(client))


def _deleting(rs: ReplicaSet, finalizer: str) -> ReplicaSet:
    rs = rs.model_copy(deep=True)
    rs.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    rs.metadata.finalizers = [finalizer]
    return rs


async def test_dependent_of_a_vanished_owner_is_deleted() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    pod = make_pod("p", owner=owner_ref(rs))
    client.add(pod)  # the owner exists nowhere
    gc = _gc(client)
    preload(gc.informers["Pod"], pod)
    await gc.sync(work_key(pod))
    assert [(c.verb, c.kind, c.name) for c in client.calls] == [("get", "ReplicaSet", "web"), ("delete", "Pod", "p")]
    assert client.calls[-1].body == {"propagationPolicy": "Background"}


async def test_owner_missing_from_cache_but_alive_is_not_a_reason_to_delete() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    pod = make_pod("p", owner=owner_ref(rs))
    client.add(rs, pod)  # the API has it; the RS informer lags behind
    gc = _gc(client)
    preload(gc.informers["Pod"], pod)
    await gc.sync(work_key(pod))
    assert not client.calls_of("delete")


async def test_owner_with_same_name_but_other_uid_counts_as_gone() -> None:
    client = FakeClient(namespace=NS)
    old = make_rs(uid="old-uid")
    pod = make_pod("p", owner=owner_ref(old))
    client.add(make_rs(uid="new-uid"), pod)
    gc = _gc(client)
    preload(gc.informers["Pod"], pod)
    await gc.sync(work_key(pod))
    assert [c.name for c in client.calls_of("delete", "Pod")] == ["p"]


async def test_dangling_reference_is_removed_when_another_owner_lives() -> None:
    client = FakeClient(namespace=NS)
    alive = make_rs("alive", uid="a")  # its co-owner "gone" (uid g) exists nowhere
    pod = make_pod("p", owner=owner_ref(alive))
    pod.metadata.ownerReferences.append(pod.metadata.ownerReferences[0].model_copy(  # type: ignore[union-attr,index]
        update={"name": "gone", "uid": "g", "controller": None}))
    client.add(alive, pod)
    gc = _gc(client)
    preload(gc.informers["ReplicaSet"], alive)
    preload(gc.informers["Pod"], pod)
    await gc.sync(work_key(pod))
    patch = client.calls_of("patch", "Pod")[0].body
    assert patch["metadata"]["ownerReferences"] == [owner_ref(alive)]
    assert patch["metadata"]["resourceVersion"] == pod.resource_version
    assert not client.calls_of("delete")


async def test_foreground_deletes_dependents_then_removes_finalizer() -> None:
    client = FakeClient(namespace=NS)
    rs = _deleting(make_rs(), "foregroundDeletion")
    pods = [make_pod(f"p{i}", owner=owner_ref(rs)) for i in range(2)]
    client.add(rs, *pods)
    gc = _gc(client)
    preload(gc.informers["ReplicaSet"], rs)
    preload(gc.informers["Pod"], *pods)
    await gc.sync(work_key(rs))
    assert [(c.name, c.body["propagationPolicy"]) for c in client.calls_of("delete", "Pod")] == \
        [("p0", "Foreground"), ("p1", "Foreground")]
    assert not client.calls_of("patch", "ReplicaSet")  # dependents still in the cache: wait
    # The watch reports them gone: now the owner may go.
    for p in pods:
        gc.informers["Pod"]._store(p.key, None)
        gc._deleted(p)
    assert await gc.queue.get() == work_key(rs)
    await gc.sync(work_key(rs))
    assert client.calls_of("patch", "ReplicaSet")[0].body["metadata"]["finalizers"] is None


async def test_orphan_strips_owner_references_then_finalizer() -> None:
    client = FakeClient(namespace=NS)
    rs = _deleting(make_rs(), "orphan")
    pods = [make_pod(f"p{i}", owner=owner_ref(rs)) for i in range(2)]
    client.add(rs, *pods)
    gc = _gc(client)
    preload(gc.informers["ReplicaSet"], rs)
    preload(gc.informers["Pod"], *pods)
    await gc.sync(work_key(rs))
    assert [(c.verb, c.kind, c.name) for c in client.calls] == [
        ("patch", "Pod", "p0"), ("patch", "Pod", "p1"), ("patch", "ReplicaSet", "web")]
    assert all(client.stored(Pod, f"p{i}", NS).metadata.ownerReferences is None for i in range(2))
    assert client.stored(ReplicaSet, "web", NS).metadata.finalizers is None
    assert not client.calls_of("delete")


async def test_handlers_route_owner_deletion_to_dependents() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    pod = make_pod("p", owner=owner_ref(rs))
    gc = _gc(client)
    preload(gc.informers["Pod"], pod)
    gc._deleted(rs)
    assert await gc.queue.get() == work_key(pod)


def _terminating_ns(name: str = NS) -> Namespace:
    return Namespace.from_dict({"metadata": {"name": name, "uid": "ns-uid", "resourceVersion": "7",
                                             "deletionTimestamp": "2026-01-01T00:00:00Z"},
                                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}})


async def test_namespace_controller_empties_then_finalizes() -> None:
    client = FakeClient(namespace=NS)
    ns = _terminating_ns()
    client.add(ns, make_rs(), make_pod("p"))
    c = NamespaceController(make_context(client))
    preload(c.ns_informer, ns)
    await c.sync(NS)
    deleted = sorted((call.kind, call.name) for call in client.calls_of("delete"))
    assert deleted == [("Pod", "p"), ("ReplicaSet", "web")]
    final = [call for call in client.calls if call.verb == "replace/finalize"]
    assert len(final) == 1 and final[0].body["spec"]["finalizers"] == []


async def test_namespace_controller_waits_while_objects_remain() -> None:
    client = FakeClient(namespace=NS)
    ns = _terminating_ns()
    stuck = make_pod("p", deleting=True)  # a kubelet is still stopping it
    client.add(ns, stuck)
    c = NamespaceController(make_context(client), recheck_s=30)
    preload(c.ns_informer, ns)
    await c.sync(NS)
    assert not client.calls_of("delete")
    assert not [call for call in client.calls if call.verb == "replace/finalize"]
    assert NS in c.queue.waiting()
    c.queue.shutdown()


async def test_namespace_not_being_deleted_is_left_alone() -> None:
    client = FakeClient(namespace=NS)
    ns = Namespace.from_dict({"metadata": {"name": NS}, "spec": {"finalizers": ["kubernetes"]}})
    c = NamespaceController(make_context(client))
    preload(c.ns_informer, ns)
    await c.sync(NS)
    assert client.calls == []


