"""ReplicationController: defaults, validation, table row, Scale selector, and its controller (the
ReplicaSet controller over this kind) on preloaded caches with the recording fake client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apiserver.admission.validation import validate
from apiserver.handlers_sub import to_scale
from controllers.replicaset import ReplicationControllerController
from machinery import registry
from machinery.defaults import apply_defaults
from machinery.models import ReplicationController
from machinery.tables import LAYOUTS
from tests.unit.builders import NS, TEMPLATE_SPEC, make_context, make_pod, preload
from tests.unit.fake_client import FakeClient


def make_rc(name: str = "web", *, replicas: int = 3, uid: str = "rc-uid") -> ReplicationController:
    return ReplicationController.from_dict({
        "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "10", "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"replicas": replicas, "selector": {"app": "web"},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": TEMPLATE_SPEC}},
    })


def rc_ref(rc: ReplicationController) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController", "name": rc.name, "uid": rc.uid,
            "controller": True, "blockOwnerDeletion": True}


def test_kind_is_core_v1_with_scale_and_status() -> None:
    cls = registry.resolve("rc")
    assert cls is ReplicationController and registry.resolve("replicationcontrollers") is cls
    assert cls.api_version() == "v1" and cls.SUBRESOURCES == ("status", "scale")
    assert registry.collection_path(cls, "ns") == "/api/v1/namespaces/ns/replicationcontrollers"


def test_defaults_take_selector_and_labels_from_the_template() -> None:
    rc = ReplicationController.from_dict({
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    apply_defaults(rc)
    assert rc.spec is not None
    assert rc.spec.selector == {"app": "web", "tier": "fe"} and rc.metadata.labels == {"app": "web", "tier": "fe"}
    assert rc.spec.replicas == 1
    assert rc.status is not None and rc.status.to_dict() == {"replicas": 0}
    assert rc.spec.template and rc.spec.template.spec and rc.spec.template.spec.restartPolicy == "Always"
    given = ReplicationController.from_dict({"metadata": {"name": "w", "labels": {"mine": "1"}}, "spec": {
        "replicas": 0, "selector": {"app": "web"},
        "template": {"metadata": {"labels": {"app": "web", "x": "y"}}, "spec": TEMPLATE_SPEC}}})
    apply_defaults(given)
    assert given.spec and given.spec.selector == {"app": "web"} and given.metadata.labels == {"mine": "1"}
    assert given.spec.replicas == 0


def test_validation_names_the_bad_fields() -> None:
    bad = ReplicationController.from_dict({"metadata": {"name": "web"}, "spec": {
        "replicas": -1, "selector": {"app": "other"},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {**TEMPLATE_SPEC, "restartPolicy": "Never"}}}})
    fields = {c["field"] for c in validate(bad)}
    assert {"spec.replicas", "spec.template.metadata.labels", "spec.template.spec.restartPolicy"} <= fields
    no_selector = ReplicationController.from_dict({"metadata": {"name": "web"}, "spec": {
        "template": {"spec": TEMPLATE_SPEC}}})
    causes = validate(apply_defaults(no_selector))
    assert any(c["field"] == "spec.selector" and c["reason"] == "FieldValueRequired" for c in causes)
    ok = apply_defaults(make_rc())
    assert validate(ok) == []
    moved = make_rc()
    assert moved.spec is not None and moved.spec.template and moved.spec.template.metadata
    moved.spec.selector = {"app": "web2"}
    moved.spec.template.metadata.labels = {"app": "web2"}
    assert validate(apply_defaults(moved), apply_defaults(make_rc())) == []  # an RC's selector is mutable


def test_table_row_and_scale_selector() -> None:
    rc = make_rc().to_dict() | {"status": {"replicas": 2, "readyReplicas": 1}}
    layout = LAYOUTS["ReplicationController"]
    assert layout.headers == ["DESIRED", "CURRENT", "READY", "AGE"]
    at = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert layout.row(rc, False, at) == ["3", "2", "1", "5m"]
    assert layout.row(rc, True, at)[-3:] == ["c", "kubelite/busybox:latest", "app=web"]
    scale = to_scale(rc)
    assert scale["spec"] == {"replicas": 3} and scale["status"] == {"replicas": 2, "selector": "app=web"}


async def test_controller_creates_pods_owned_by_the_rc_and_writes_its_status() -> None:
    client = FakeClient(namespace=NS)
    rc = make_rc(replicas=2)
    client.add(rc)
    c = ReplicationControllerController(make_context(client))
    assert c.NAME == "replicationcontroller"
    preload(c.rs_informer, rc)
    await c.sync(rc.key)
    creates = client.calls_of("create", "Pod")
    assert len(creates) == 2
    assert all(call.body["metadata"]["ownerReferences"] == [rc_ref(rc)] for call in creates)
    assert all(call.body["metadata"]["generateName"] == "web-" for call in creates)
    status = client.calls_of("patch/status", "ReplicationController")
    assert status and status[0].body["status"]["replicas"] == 0


async def test_controller_adopts_orphans_and_scales_down_its_own_pods() -> None:
    client = FakeClient(namespace=NS)
    rc = make_rc(replicas=1)
    client.add(rc)
    mine = [make_pod(f"web-{i}", owner=rc_ref(rc), ready=True) for i in range(2)]
    orphan = make_pod("stray", ready=True)
    other = make_pod("rs-pod", owner={"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "x",
                                      "controller": True})
    for p in [*mine, orphan, other]:
        client.add(p)
    c = ReplicationControllerController(make_context(client))
    preload(c.rs_informer, rc)
    preload(c.pod_informer, *mine, orphan, other)
    await c.sync(rc.key)
    adopted = [call for call in client.calls_of("patch", "Pod") if call.name == "stray"]
    assert adopted, "the matching orphan is adopted"
    deleted = {call.name for call in client.calls_of("delete", "Pod")}
    assert len(deleted) == 2 and "rs-pod" not in deleted  # 3 owned -> 1; another owner's pod untouched
