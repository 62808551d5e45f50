"""ControllerRefManager: claim, adopt, release, never touch others' objects, guarded patches."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.refmanager import AdoptionRefused, ControllerRefManager, add_claim_indexes, claim_candidates
from machinery import errors
from machinery.informer import Informer
from machinery.models import Deployment, Pod, ReplicaSet
from machinery.selectors import selector_from_map
from tests.unit.builders import NS, make_pod, make_rs, owner_ref, preload
from tests.unit.fake_client import FakeClient

SEL = selector_from_map({"app": "web"})


def manager(client: FakeClient, rs: ReplicaSet, **kw: Any) -> ControllerRefManager:
    return ControllerRefManager(client, rs, SEL, **kw)


def refs(client: FakeClient, name: str) -> list[tuple[str, bool]]:
    pod = client.stored(Pod, name, NS)
    return [(r.uid, bool(r.controller)) for r in pod.metadata.ownerReferences or []]


async def test_claims_owned_adopts_orphans_releases_strays_and_ignores_others() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    other = make_rs("other", uid="other-uid")
    pods = [
        make_pod("mine", owner=owner_ref(rs)),
        make_pod("stray", owner=owner_ref(rs), labels={"app": "db"}),
        make_pod("orphan"),
        make_pod("theirs", owner=owner_ref(other)),
        make_pod("theirs-stray", owner=owner_ref(other), labels={"app": "db"}),
        make_pod("orphan-db", labels={"app": "db"}),
        make_pod("orphan-deleting", deleting=True),
    ]
    client.add(rs, other, *pods)
    claimed = await manager(client, rs).claim_pods(pods)
    assert [p.name for p in claimed] == ["mine", "orphan"]
    assert refs(client, "orphan") == [("rs-uid", True)]
    assert refs(client, "stray") == []
    assert sorted(c.name for c in client.calls_of("patch", "Pod")) == ["orphan", "stray"]
    # The patches carry the resourceVersion the decision was taken on (compare-and-swap).
    assert {c.body["metadata"]["resourceVersion"] for c in client.calls_of("patch", "Pod")} == {"5"}
    assert len(client.calls_of("get", "ReplicaSet")) == 1  # the live re-check, once


async def test_release_keeps_the_other_owner_references() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    pod = make_pod("stray", labels={"app": "db"})
    pod.metadata.ownerReferences = Pod.from_dict({"metadata": {"ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "cm-uid"}, owner_ref(rs)]}}).metadata.ownerReferences
    client.add(rs, pod)
    assert await manager(client, rs).claim_pods([pod]) == []
    assert refs(client, "stray") == [("cm-uid", False)]


async def test_filters_narrow_what_matches() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    active, done = make_pod("a"), make_pod("b", phase="Succeeded")
    client.add(rs, active, done)

    def running(p: Pod) -> bool:
        return p.status is not None and p.status.phase == "Running"

    claimed = await manager(client, rs).claim_pods([active, done], running)
    assert [p.name for p in claimed] == ["a"]
    assert [c.name for c in client.calls_of("patch", "Pod")] == ["a"]


async def test_a_controller_being_deleted_neither_adopts_nor_releases() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    rs.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    pods = [make_pod("orphan"), make_pod("stray", owner=owner_ref(rs), labels={"app": "db"}),
            make_pod("mine", owner=owner_ref(rs))]
    client.add(rs, *pods)
    assert [p.name for p in await manager(client, rs).claim_pods(pods)] == ["mine"]
    assert not client.calls_of("patch") and not client.calls_of("get")


async def test_orphans_of_another_namespace_are_never_adopted() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    pod = Pod.from_dict({**make_pod("elsewhere").to_dict(), "metadata": {
        "name": "elsewhere", "namespace": "other", "labels": {"app": "web"}, "resourceVersion": "5"}})
    assert await manager(client, rs).claim_pods([pod]) == []
    assert not client.calls


@pytest.mark.parametrize(("live", "message"), [
    (None, "is gone"),
    (make_rs(uid="new-uid"), "got uid new-uid, wanted rs-uid"),
    (make_rs(), "has just been deleted"),
])
async def test_adoption_needs_the_live_controller(live: ReplicaSet | None, message: str) -> None:
    client = FakeClient(namespace=NS)
    if live is not None:
        if message == "has just been deleted":
            live.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
        client.add(live)
    pods = [make_pod("o1"), make_pod("o2")]
    client.add(*pods)
    with pytest.raises(AdoptionRefused, match=message):
        await manager(client, make_rs()).claim_pods(pods)
    assert not client.calls_of("patch", "Pod")
    assert len(client.calls_of("get", "ReplicaSet")) == 1  # refused once, remembered


async def test_custom_can_adopt_and_vanished_objects() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    checks: list[str] = []

    async def can_adopt() -> None:
        checks.append("checked")

    gone = make_pod("gone")  # never stored: the patch answers 404, which is skipped
    assert await manager(client, rs, can_adopt=can_adopt).claim_pods([gone]) == []
    assert checks == ["checked"] and not client.calls_of("get")


async def test_an_error_does_not_stop_the_other_claims_and_is_raised_after() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    first, second = make_pod("first"), make_pod("second")
    client.add(rs, first, second)
    client.fail("patch", "Pod", errors.Conflict("the object has been modified"), times=1)
    with pytest.raises(errors.Conflict):
        await manager(client, rs).claim_pods([first, second])
    assert refs(client, "second") == [("rs-uid", True)]


async def test_a_stale_object_is_not_adopted_over_a_concurrent_change() -> None:
    client = FakeClient(namespace=NS)
    rs = make_rs()
    pod = make_pod("p")
    client.add(rs, pod)
    await client.patch(Pod, "p", {"metadata": {"labels": {"app": "web", "x": "y"}}}, namespace=NS)  # rv moves
    with pytest.raises(errors.Conflict):
        await manager(client, rs).claim_pods([pod])
    assert refs(client, "p") == []


async def test_generic_claim_of_replica_sets_by_a_deployment() -> None:
    client = FakeClient(namespace=NS)
    d = Deployment.from_dict({"metadata": {"name": "web", "namespace": NS, "uid": "d-uid", "resourceVersion": "3"},
                              "spec": {"selector": {"matchLabels": {"app": "web"}}}})
    orphan, mine, db = make_rs("a", uid="a"), make_rs("b", uid="b", owner=owner_ref(d)), make_rs("c", uid="c")
    for rs, app in ((orphan, "web"), (mine, "web"), (db, "db")):
        rs.metadata.labels = {"app": app}
    client.add(d, orphan, mine, db)
    claimed = await ControllerRefManager(client, d, SEL).claim([orphan, mine, db])
    assert sorted(r.name for r in claimed) == ["a", "b"]
    adopted = client.stored(ReplicaSet, "a", NS)
    ref = adopted.metadata.ownerReferences[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller, ref.blockOwnerDeletion) == (
        "Deployment", "web", "d-uid", True, True)
    assert [c.kind for c in client.calls_of("get")] == ["Deployment"]


def test_claim_candidates_are_own_objects_and_namespace_orphans_only() -> None:
    client = FakeClient(namespace=NS)
    rs, other = make_rs(), make_rs("other", uid="other-uid")
    informer: Informer[Pod] = Informer(client, Pod)
    add_claim_indexes(informer)
    elsewhere = make_pod("orphan-elsewhere")
    elsewhere.metadata.namespace = "elsewhere"
    preload(informer, make_pod("mine", owner=owner_ref(rs)), make_pod("stray", owner=owner_ref(rs),
                                                                       labels={"app": "db"}),
            make_pod("orphan"), make_pod("theirs", owner=owner_ref(other)), elsewhere)
    assert sorted(p.name for p in claim_candidates(informer, rs)) == ["mine", "orphan", "stray"]
    assert sorted(p.name for p in claim_candidates(informer, other)) == ["orphan", "theirs"]
    # An adopted orphan moves to its owner's index entry, with the informer's next version.
    preload(informer, make_pod("orphan", owner=owner_ref(other)))
    assert sorted(p.name for p in claim_candidates(informer, rs)) == ["mine", "stray"]
    assert sorted(p.name for p in claim_candidates(informer, other)) == ["orphan", "theirs"]


async def test_claim_over_candidates_equals_claim_over_the_namespace() -> None:
    client = FakeClient(namespace=NS)
    rs, other = make_rs(), make_rs("other", uid="other-uid")
    pods = [make_pod("mine", owner=owner_ref(rs)), make_pod("stray", owner=owner_ref(rs), labels={"app": "db"}),
            make_pod("orphan"), make_pod("theirs", owner=owner_ref(other)), make_pod("orphan-db", labels={"app": "db"})]
    client.add(rs, other, *pods)
    informer: Informer[Pod] = Informer(client, Pod)
    add_claim_indexes(informer)
    preload(informer, *pods)
    claimed = await manager(client, rs).claim_pods(claim_candidates(informer, rs))
    assert sorted(p.name for p in claimed) == ["mine", "orphan"]
    assert sorted(c.name for c in client.calls_of("patch", "Pod")) == ["orphan", "stray"]
