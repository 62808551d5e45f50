"""controllers/history.py: revision hashing, naming, rollback renumbering, collisions, truncation."""

from __future__ import annotations

from typing import Any

from controllers import history
from machinery.models import ControllerRevision, StatefulSet
from tests.unit.builders import NS
from tests.unit.fake_client import FakeClient


def _sts(image: str = "kubelite/busybox:latest", *, uid: str = "sts-uid") -> StatefulSet:
    return StatefulSet.from_dict({
        "metadata": {"name": "web", "namespace": NS, "uid": uid, "annotations": {"kubernetes.io/change-cause": "x"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "serviceName": "nginx",
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}},
    })


def _stored(client: FakeClient) -> list[ControllerRevision]:
    return [ControllerRevision.model_validate(d) for (kind, _ns, _n), d in client.objects.items()
            if kind == "ControllerRevision"]


def test_fnv1_matches_go_vectors() -> None:
    assert history.fnv32(b"") == 0x811C9DC5
    assert history.fnv32(b"a") == 0x050C5D7E
    assert history.fnv32(b"foobar") == 0x31F0B262


def test_canonical_json_sorts_and_escapes_as_go() -> None:
    assert history.canonical_json({"b": 1, "a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e","b":1}'


def test_template_patch_and_new_revision() -> None:
    sts = _sts()
    data = history.template_patch(sts)
    assert data["spec"]["template"]["$patch"] == "replace"
    assert data["spec"]["template"]["spec"]["containers"][0]["image"] == "kubelite/busybox:latest"
    cr = history.new_revision(sts, data, 1, 0, history.template_labels(sts))
    hash_ = history.hash_revision(data, 0)
    assert cr.name == f"web-{hash_}"
    assert cr.metadata.labels == {"app": "web", history.HASH_LABEL: hash_}
    assert cr.metadata.annotations == {"kubernetes.io/change-cause": "x"}
    ref = cr.metadata.ownerReferences[0] if cr.metadata.ownerReferences else None
    assert ref is not None and ref.uid == "sts-uid" and ref.controller and ref.kind == "StatefulSet"
    # Same data -> same hash, a probe changes it, other data changes it.
    assert history.hash_revision(history.template_patch(_sts())) == history.hash_revision(data)
    assert history.hash_revision(data, 1) != hash_
    assert history.hash_revision(history.template_patch(_sts("other"))) != history.hash_revision(data)


async def test_create_escapes_a_foreign_name_collision() -> None:
    client = FakeClient(namespace=NS)
    sts = _sts()
    cr = history.new_revision(sts, history.template_patch(sts), 1, 0)
    # A revision with our name but other data already exists: the probe is bumped.
    foreign = cr.model_copy(deep=True)
    foreign.data = {"other": True}
    client.add(foreign)
    h = history.History(client)
    created, count = await h.create(sts, cr, 0)
    assert count == 1
    assert created.name == f"web-{history.hash_revision(cr.data, 1)}"
    assert [c.verb for c in client.calls] == ["create", "get", "create"]
    # The same data already stored under our name is returned as it is.
    again, count2 = await h.create(sts, cr, 1)
    assert (again.name, count2) == (created.name, 1)


async def test_current_and_update_new_unchanged_and_rollback() -> None:
    client = FakeClient(namespace=NS)
    h = history.History(client)
    v1 = _sts("img:1")
    current, update, count = await history.current_and_update(h, v1, [], None, 0)
    assert current.name == update.name and update.revision == 1 and count == 0
    assert len(client.calls_of("create", "ControllerRevision")) == 1
    # Unchanged template: no write, the latest revision is the update revision.
    client.calls.clear()
    _, again, _ = await history.current_and_update(h, v1, _stored(client), update.name, 0)
    assert again.name == update.name and client.calls == []
    # New template: revision 2; the current one stays revision 1.
    v2 = _sts("img:2")
    cur2, upd2, _ = await history.current_and_update(h, v2, _stored(client), update.name, 0)
    assert (cur2.name, cur2.revision) == (update.name, 1)
    assert upd2.revision == 2 and upd2.name != update.name
    # Back to the first template: revision 1 is renumbered to 3, nothing created.
    client.calls.clear()
    _, upd3, _ = await history.current_and_update(h, v1, _stored(client), upd2.name, 0)
    assert (upd3.name, upd3.revision) == (update.name, 3)
    assert [(c.verb, c.kind) for c in client.calls] == [("patch", "ControllerRevision")]
    body: Any = client.calls[0].body
    assert body["revision"] == 3 and body["metadata"]["resourceVersion"]


def test_sort_and_truncate_keep_live_and_newest() -> None:
    revs = [ControllerRevision.from_dict({"metadata": {"name": f"r{i}", "namespace": NS}, "data": {}, "revision": i})
            for i in (3, 1, 5, 2, 4)]
    ordered = history.sort_revisions(revs)
    assert [r.revision for r in ordered] == [1, 2, 3, 4, 5]
    assert history.next_revision(ordered) == 6 and history.next_revision([]) == 1
    doomed = history.revisions_to_truncate(ordered, {"r1", "r5"}, 2)
    assert [r.name for r in doomed] == ["r2"]
    assert history.revisions_to_truncate(ordered, set(), 10) == []
    assert [r.name for r in history.revisions_to_truncate(ordered, {"r5"}, 0)] == ["r1", "r2", "r3", "r4"]
