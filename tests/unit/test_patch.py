"""apiserver.patch: merge patch, JSON patch and strategic merge patch with its directives."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from machinery import errors

POD: dict[str, Any] = {
    "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
    "spec": {
        "containers": [
            {"name": "app", "image": "busybox", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}],
             "args": ["a", "b"]},
            {"name": "side", "image": "pause"},
        ],
        "volumes": [{"name": "v1", "emptyDir": {}}],
    },
}


def test_merge_patch_rfc7386() -> None:
    original = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patched = merge_patch(original, {"a": "z", "c": {"f": None}, "l": [3]})
    assert patched == {"a": "z", "c": {"d": "e"}, "l": [3]}
    assert original["c"] == {"d": "e", "f": "g"}  # not mutated


def test_json_patch_ops_and_errors() -> None:
    out = json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}, {"op": "add", "path": "/b", "value": 1}])
    assert out == {"a": [1, 2], "b": 1}
    with pytest.raises(errors.Invalid):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    with pytest.raises(errors.Invalid):
        json_patch({"a": 1}, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(errors.BadRequest):
        json_patch({"a": 1}, {"op": "add"})
    with pytest.raises(errors.BadRequest):
        json_patch({"a": 1}, [{"op": "frobnicate", "path": "/a"}])


def test_strategic_merges_containers_by_name() -> None:
    before = copy.deepcopy(POD)
    out = strategic_merge_patch(POD, {"spec": {"containers": [{"name": "app", "image": "nginx"},
                                                              {"name": "new", "image": "x"}]}})
    names = [c["name"] for c in out["spec"]["containers"]]
    assert names == ["app", "side", "new"]
    app = out["spec"]["containers"][0]
    assert app["image"] == "nginx" and app["env"] == POD["spec"]["containers"][0]["env"]
    assert before == POD


def test_strategic_env_ports_and_primitive_lists() -> None:
    patch = {"spec": {"containers": [{
        "name": "app",
        "env": [{"name": "B", "value": "22"}, {"name": "C", "value": "3"}],
        "ports": [{"containerPort": 443, "name": "https"}],
        "args": ["c"],
    }]}}
    app = strategic_merge_patch(POD, patch)["spec"]["containers"][0]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "22"}, {"name": "C", "value": "3"}]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"},
                            {"containerPort": 443, "protocol": "TCP", "name": "https"}]
    assert app["args"] == ["c"]  # lists without a merge key are replaced


def test_service_ports_merge_by_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 81}]}}
    out = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 81, "targetPort": 9090}]}})
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 8080}, {"port": 81, "targetPort": 9090}]


def test_conditions_merge_by_type_and_finalizers_as_set() -> None:
    obj = {"metadata": {"finalizers": ["a"]},
           "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "status": "True"}]}}
    out = strategic_merge_patch(obj, {"metadata": {"finalizers": ["b", "a"]},
                                      "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert out["metadata"]["finalizers"] == ["a", "b"]
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"}, {"type": "X", "status": "True"}]


def test_directive_delete_in_list_and_map() -> None:
    out = strategic_merge_patch(POD, {"spec": {"containers": [{"name": "side", "$patch": "delete"}],
                                               "volumes": [{"name": "v1", "$patch": "delete"}]},
                                      "metadata": {"labels": {"$patch": "delete"}}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["app"]
    assert out["spec"]["volumes"] == []
    assert "labels" not in out["metadata"]


def test_directive_replace_list_and_map() -> None:
    out = strategic_merge_patch(POD, {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "i"}]},
                                      "metadata": {"labels": {"$patch": "replace", "c": "3"}}})
    assert out["spec"]["containers"] == [{"name": "only", "image": "i"}]
    assert out["metadata"]["labels"] == {"c": "3"}


def test_null_deletes_key() -> None:
    out = strategic_merge_patch(POD, {"metadata": {"labels": {"a": None}}})
    assert out["metadata"]["labels"] == {"b": "2"}


def test_set_element_order() -> None:
    out = strategic_merge_patch(POD, {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                                               "containers": [{"name": "side", "image": "pause:2"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["side", "app"]
    assert out["spec"]["containers"][0]["image"] == "pause:2"


def test_retain_keys_and_delete_from_primitive_list() -> None:
    obj = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
           "metadata": {"finalizers": ["a", "b", "c"]}}
    out = strategic_merge_patch(obj, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}},
                                      "metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["metadata"]["finalizers"] == ["a", "c"]


def test_bad_directives_are_400() -> None:
    with pytest.raises(errors.BadRequest):
        strategic_merge_patch(POD, {"spec": {"$patch": "explode"}})
    with pytest.raises(errors.BadRequest):
        strategic_merge_patch(POD, {"spec": {"$frob": 1}})
    with pytest.raises(errors.BadRequest):
        strategic_merge_patch(POD, {"spec": {"containers": [{"image": "no-name"}]}})
    with pytest.raises(errors.BadRequest):
        strategic_merge_patch(POD, [1])


def test_apply_patch_dispatch() -> None:
    base = {"a": {"b": 1}, "l": [{"name": "x"}]}
    assert apply_patch(MERGE_PATCH, base, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}, "l": [{"name": "x"}]}
    assert apply_patch(JSON_PATCH + "; charset=utf-8", base, [{"op": "remove", "path": "/a"}]) == {"l": [{"name": "x"}]}
    assert apply_patch(STRATEGIC_PATCH, base, {"a": None}) == {"l": [{"name": "x"}]}
    assert apply_patch(APPLY_PATCH, base, {"a": {"b": 3}})["a"] == {"b": 3}
    with pytest.raises(errors.UnsupportedMediaType):
        apply_patch("text/plain", base, {})
