"""Validation admission on update (immutable fields...), parsing errors by field path, the
Invalid error's wording and shape, and garbage bodies that never raise.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.admission.validation import invalid_error, parse_object, validate
from machinery import errors, registry
from machinery.defaults import apply_defaults
from tests.unit.validation_support import BASE, POD, check

# --- updates ---------------------------------------------------------------------------------

UPDATE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (kind, old changes, new changes, reason, field); reason "" means valid
    ("Pod", {}, {"spec.containers[0].image": "busybox:2"}, "", ""),
    ("Pod", {}, {"spec.activeDeadlineSeconds": 30}, "", ""),
    ("Pod", {"spec.activeDeadlineSeconds": 30}, {"spec.activeDeadlineSeconds": 20}, "", ""),
    ("Pod", {"spec.activeDeadlineSeconds": 30}, {"spec.activeDeadlineSeconds": 40}, "FieldValueInvalid",
     "spec.activeDeadlineSeconds"),
    ("Pod", {"spec.tolerations": [{"key": "a", "operator": "Exists"}]},
     {"spec.tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}, "", ""),
    ("Pod", {"spec.tolerations": [{"key": "a", "operator": "Exists"}]}, {"spec.tolerations": []},
     "FieldValueForbidden", "spec"),
    ("Pod", {}, {"spec.containers[0].command": ["sh"]}, "FieldValueForbidden", "spec"),
    ("Pod", {}, {"spec.restartPolicy": "Never"}, "FieldValueForbidden", "spec"),
    ("Pod", {}, {"metadata.labels": {"app": "y"}}, "", ""),
    ("Deployment", {}, {"spec.replicas": 5, "spec.template.spec.containers[0].image": "b:2"}, "", ""),
    ("Deployment", {}, {"spec.selector.matchLabels.tier": "x", "spec.template.metadata.labels.tier": "x"},
     "FieldValueInvalid", "spec.selector"),
    ("ReplicaSet", {}, {"spec.selector.matchLabels.tier": "x", "spec.template.metadata.labels.tier": "x"},
     "FieldValueInvalid", "spec.selector"),
    ("StatefulSet", {}, {"spec.replicas": 3, "spec.template.spec.containers[0].image": "b:2"}, "", ""),
    ("StatefulSet", {}, {"spec.serviceName": "other"}, "FieldValueForbidden", "spec"),
    ("Job", {}, {"spec.template.spec.containers[0].image": "b:2"}, "FieldValueInvalid", "spec.template"),
    ("Job", {}, {"spec.activeDeadlineSeconds": 9}, "", ""),
    ("Service", {"spec.clusterIP": "10.96.0.5"}, {"spec.clusterIP": "10.96.0.6"}, "FieldValueInvalid",
     "spec.clusterIP"),
    ("Service", {"spec.clusterIP": "10.96.0.5"}, {"spec.clusterIP": "10.96.0.5", "spec.ports[0].port": 81}, "", ""),
    ("ConfigMap", {"immutable": True}, {"immutable": True, "data": {"a.conf": "y"}}, "FieldValueForbidden", "data"),
    ("ConfigMap", {"immutable": True}, {"immutable": False}, "FieldValueForbidden", "immutable"),
    ("ConfigMap", {}, {"data": {"a.conf": "y"}, "immutable": True}, "", ""),
    ("Secret", {"immutable": True}, {"immutable": True, "data": {"pw": "eQ=="}}, "FieldValueForbidden", "data"),
]


@pytest.mark.parametrize(("kind", "old", "new", "reason", "field"), UPDATE_CASES)
def test_update_rules(kind: str, old: dict[str, Any], new: dict[str, Any], reason: str, field: str) -> None:
    causes = check(kind, new, old_changes=old)
    if not reason:
        assert causes == []
    else:
        assert {"reason": reason, "field": field} in [{"reason": c["reason"], "field": c["field"]} for c in causes]
        assert check(kind, {}, old_changes=old) == []  # no change at all is always fine


# --- parsing and the error shape -------------------------------------------------------------


def test_parse_object_names_every_bad_field_by_path() -> None:
    data: dict[str, Any] = copy.deepcopy(POD)
    data["spec"]["containers"][0]["ports"].append({"containerPort": "8080"})
    data["spec"]["containers"][0]["stdin"] = "yes"
    data["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = 1.5
    data["metadata"]["labels"]["n"] = 3
    data["spec"]["containers"][0]["env"] = [{"value": "x"}]
    data["spec"]["replicas"] = "ignored: unknown fields are dropped"
    obj, causes = parse_object(registry.resolve("po"), data)
    assert obj is None
    by_field = {c["field"]: c for c in causes}
    assert by_field["spec.containers[0].ports[1].containerPort"] == {
        "reason": "FieldValueInvalid", "field": "spec.containers[0].ports[1].containerPort",
        "message": 'Invalid value: "8080": must be of type integer'}
    assert by_field["spec.containers[0].stdin"]["message"] == 'Invalid value: "yes": must be of type boolean'
    assert by_field["spec.containers[0].livenessProbe.httpGet.port"]["message"] == \
        "Invalid value: 1.5: must be of type integer or string"
    assert by_field["metadata.labels[n]"]["reason"] == "FieldValueInvalid"
    assert by_field["spec.containers[0].env[0].name"] == {
        "reason": "FieldValueRequired", "field": "spec.containers[0].env[0].name", "message": "Required value"}
    assert len(causes) == 5


def test_parse_object_paths_for_maps_and_extras() -> None:
    _, causes = parse_object(registry.resolve("deploy"), {"spec": {"replicas": "3", "template": {
        "spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": [1]}}}]}}}})
    assert {c["field"] for c in causes} == {"spec.replicas", "spec.template.spec.containers[0].resources.limits[cpu]"}
    _, causes = parse_object(registry.resolve("po"), {"spec": {"containers": [{"name": "a"}],
                                                               "volumes": [{"name": 1, "csi": {"x": 1}}]}})
    assert [c["field"] for c in causes] == ["spec.volumes[0].name"]
    _, causes = parse_object(registry.resolve("po"), ["not", "an", "object"])
    assert causes and causes[0]["reason"] == "FieldValueInvalid"
    _, causes = parse_object(registry.resolve("po"), {"spec": {}})
    assert causes == [{"reason": "FieldValueRequired", "field": "spec.containers", "message": "Required value"}]


def test_invalid_error_wording() -> None:
    cls = registry.resolve("pod")
    one = [{"reason": "FieldValueRequired", "field": "spec.containers[0].image", "message": "Required value"}]
    err = invalid_error(cls, "x", one)
    assert isinstance(err, errors.Invalid) and err.code == 422
    assert err.message == 'Pod "x" is invalid: spec.containers[0].image: Required value'
    two = [*one, {"reason": "FieldValueInvalid", "field": "metadata.name", "message": 'Invalid value: "X": bad'}]
    status = invalid_error(cls, "x", two).to_status()
    assert status["message"] == ('Pod "x" is invalid: [spec.containers[0].image: Required value, '
                                 'metadata.name: Invalid value: "X": bad]')
    assert status["reason"] == "Invalid" and status["code"] == 422
    assert status["details"] == {"name": "x", "kind": "Pod", "causes": two}
    dep = invalid_error(registry.resolve("deploy"), "d", one).to_status()
    assert dep["details"]["group"] == "apps" and dep["message"].startswith('Deployment "d" is invalid: ')


def test_kubernetes_messages() -> None:
    causes = check("Pod", {"metadata.name": "Foo_bar", "spec.restartPolicy": "Sometimes",
                           "spec.containers[0].ports[0].containerPort": 0})
    msgs = {c["field"]: c["message"] for c in causes}
    assert msgs["metadata.name"].startswith('Invalid value: "Foo_bar": a lowercase RFC 1123 subdomain must consist')
    assert msgs["spec.restartPolicy"] == \
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    assert msgs["spec.containers[0].ports[0].containerPort"] == \
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    dep = check("Deployment", {"spec.selector.matchLabels.app": "y"})
    assert dep == [{"reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
                    "message": 'Invalid value: {"app":"x"}: `selector` does not match template `labels`'}]


def test_validate_accepts_old_by_keyword() -> None:
    cls = registry.resolve("po")
    obj, _ = parse_object(cls, copy.deepcopy(POD))
    assert obj is not None
    apply_defaults(obj)
    assert validate(obj, old=obj) == [] and validate(obj) == []


def test_scale_and_eviction_bodies() -> None:
    scale_cls = registry.by_kind("Scale")
    bad, _ = parse_object(scale_cls, {"metadata": {"name": "w", "namespace": "d"}, "spec": {"replicas": -1}})
    good, _ = parse_object(scale_cls, {"metadata": {"name": "w", "namespace": "d"}, "spec": {"replicas": 0}})
    assert bad is not None and good is not None
    assert [c["field"] for c in validate(bad)] == ["spec.replicas"]
    assert validate(good) == []
    eviction, causes = parse_object(registry.by_kind("Eviction"), {"metadata": {"name": "p", "namespace": "d"},
                                                                   "deleteOptions": {"gracePeriodSeconds": "5"}})
    assert eviction is None and [c["field"] for c in causes] == ["deleteOptions.gracePeriodSeconds"]


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [prefix] + [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [prefix] + [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


def test_garbage_never_raises() -> None:
    """Any value anywhere: parse, default and validate answer causes, never an exception."""
    import random

    from tests.unit.test_models import DEPLOYMENT, OTHERS
    from tests.unit.test_models import POD as FULL_POD
    from tests.unit.test_models import SERVICE as FULL_SERVICE

    rng = random.Random(7)
    junk: list[Any] = [None, "", "x", "-1", -1, 0, 2**40, 1.5, True, [], {}, [1], {"a": 1}, "Foo_Bar", "1e3Gi"]
    manifests = [DEPLOYMENT, FULL_POD, FULL_SERVICE, *OTHERS, *BASE.values()]
    for _ in range(600):
        data = copy.deepcopy(rng.choice(manifests))
        cls = registry.model_for(data)
        path = rng.choice(_leaf_paths(data)[1:])
        cur: Any = data
        for step in path[:-1]:
            cur = cur[step]
        cur[path[-1]] = copy.deepcopy(rng.choice(junk))
        obj, causes = parse_object(cls, data)
        if obj is None:
            assert causes and all(set(c) == {"reason", "field", "message"} for c in causes)
            continue
        apply_defaults(obj)
        for cause in validate(obj, obj):
            assert set(cause) == {"reason", "field", "message"}
