"""The three-way merge of apply: deletions from last-applied, kept server fields, no-op re-apply."""

from __future__ import annotations

import json
from typing import Any

from cli.merge import LAST_APPLIED, annotated, covers, last_applied_of, three_way_patch


def merge_apply(target: Any, patch: Any) -> Any:
    """RFC 7386, to check that the patch really turns live into what we want."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_apply(out.get(k), v)
    return out


def deployment(replicas: int = 2, image: str = "busybox", env: list[dict[str, str]] | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": image}
    if env is not None:
        container["env"] = env
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}}}


def live_from(desired: dict[str, Any]) -> dict[str, Any]:
    """What the server would hold: the object plus defaults, status and server metadata."""
    live = json.loads(json.dumps(desired))
    live["metadata"].update(uid="u1", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z")
    c = live["spec"]["template"]["spec"]["containers"][0]
    c.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["status"] = {"replicas": 2, "readyReplicas": 2}
    result: dict[str, Any] = live
    return result


def test_unchanged_reapply_gives_empty_patch() -> None:
    desired = annotated(deployment())
    live = live_from(desired)
    assert three_way_patch(last_applied_of(live), live, desired) == {}


def test_changed_field_is_patched_and_server_fields_kept() -> None:
    live = live_from(annotated(deployment(replicas=2)))
    desired = annotated(deployment(replicas=5))
    patch = three_way_patch(last_applied_of(live), live, desired)
    assert patch["spec"] == {"replicas": 5}
    assert LAST_APPLIED in patch["metadata"]["annotations"]
    result = merge_apply(live, patch)
    assert result["spec"]["replicas"] == 5 and result["status"] == live["status"]
    assert result["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_field_removed_from_file_is_deleted_but_fields_others_set_are_kept() -> None:
    live = live_from(annotated(deployment(labels={"app": "web", "tier": "fe"})))
    live["metadata"]["labels"]["added-by-someone"] = "yes"
    desired = annotated(deployment(labels={"app": "web"}))
    patch = three_way_patch(last_applied_of(live), live, desired)
    assert patch["metadata"]["labels"] == {"tier": None}
    result = merge_apply(live, patch)
    assert result["metadata"]["labels"] == {"app": "web", "added-by-someone": "yes"}


def test_list_element_change_inside_list_replaces_the_list() -> None:
    live = live_from(annotated(deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])))
    desired = annotated(deployment(env=[{"name": "A", "value": "1"}]))
    patch = three_way_patch(last_applied_of(live), live, desired)
    containers = patch["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]


def test_image_change_in_list() -> None:
    live = live_from(annotated(deployment(image="a")))
    patch = three_way_patch(last_applied_of(live), live, annotated(deployment(image="b")))
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "b"


def test_without_last_applied_nothing_is_deleted() -> None:
    live = live_from(deployment(labels={"app": "web", "extra": "x"}))  # created with `create`, no annotation
    desired = annotated(deployment(labels={"app": "web"}))
    patch = three_way_patch(last_applied_of(live), live, desired)
    assert "extra" not in patch["metadata"].get("labels", {})
    assert set(patch) == {"metadata"}  # only the annotation is added


def test_explicit_null_deletes_and_top_level_removal() -> None:
    last = {"a": 1, "b": {"c": 2}, "d": 3}
    live = {"a": 1, "b": {"c": 2, "x": 9}, "d": 3, "status": {}}
    assert three_way_patch(last, live, {"a": 1, "b": {"c": None}}) == {"b": {"c": None}, "d": None}


def test_covers_is_strict_on_types_and_lengths() -> None:
    assert covers({"a": [1, 2], "b": True}, {"a": [1, 2]})
    assert not covers({"a": [1, 2, 3]}, {"a": [1, 2]})
    assert not covers({"a": 1}, {"a": True})
    assert not covers({"a": "1"}, {"a": 1})


def test_annotation_is_stable_and_excludes_itself() -> None:
    one = annotated(deployment())
    two = annotated(one)
    assert one["metadata"]["annotations"][LAST_APPLIED] == two["metadata"]["annotations"][LAST_APPLIED]
    stored = json.loads(one["metadata"]["annotations"][LAST_APPLIED])
    assert "annotations" not in stored["metadata"]
