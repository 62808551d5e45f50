"""Selectors from API models and maps, requirement construction, and field selectors (parsing,
escaping, matching), as k8s.io/apimachinery labels and fields behave.
"""

from __future__ import annotations

from typing import Any

import pytest

from machinery import meta
from machinery.selectors import (
    FieldSelector,
    Requirement,
    escape_field_value,
    parse_field_selector,
    parse_label_selector,
    selector_from_map,
    selector_from_model,
    unescape_field_value,
)

# ------------------------------------------------------------------ selector_from_model / map


MODEL_CASES: list[tuple[Any, str, list[tuple[dict[str, str], bool]]]] = [
    ({}, "", [({}, True), ({"a": "b"}, True)]),
    ({"matchLabels": {}}, "", [({}, True)]),
    ({"matchLabels": {"app": "web", "tier": "fe"}}, "app=web,tier=fe",
     [({"app": "web", "tier": "fe"}, True), ({"app": "web"}, False)]),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}, "env in (dev,prod)",
     [({"env": "dev"}, True), ({"env": "qa"}, False), ({}, False)]),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, "env notin (prod)",
     [({"env": "dev"}, True), ({}, True), ({"env": "prod"}, False)]),
    ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, "env",
     [({"env": ""}, True), ({}, False)]),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist", "values": []}]}, "!env",
     [({"env": ""}, False), ({}, True)]),
    ({"matchLabels": {"z": "1"}, "matchExpressions": [{"key": "a", "operator": "Exists"}]}, "a,z=1",
     [({"z": "1", "a": "x"}, True), ({"z": "1"}, False)]),
]


@pytest.mark.parametrize(("model", "canonical", "checks"), MODEL_CASES)
def test_selector_from_model(model: Any, canonical: str, checks: list[tuple[dict[str, str], bool]]) -> None:
    for form in (model, meta.LabelSelector.model_validate(model)):
        sel = selector_from_model(form)
        assert str(sel) == canonical
        for labels, want in checks:
            assert sel.matches(labels) is want, (canonical, labels)


def test_selector_from_model_none_matches_nothing() -> None:
    sel = selector_from_model(None)
    assert sel.is_nothing
    assert not sel.matches({})


MODEL_ERRORS = [
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
     'matchExpressions[0].operator: "Equals" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}, "is not a valid label selector operator"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Gt", "values": ["1"]}]},
     "matchExpressions[1].operator"),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "matchExpressions[0].values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     "values set must be empty for exists and does not exist"),
    ({"matchExpressions": [{"key": "-a", "operator": "Exists"}]}, 'matchExpressions[0].key: Invalid value: "-a"'),
    ({"matchExpressions": [{"operator": "Exists"}]}, "matchExpressions[0].key: Required value"),
    ({"matchLabels": {"a": "-bad"}}, 'matchLabels[a].values[0]: Invalid value: "-bad"'),
    ({"matchLabels": {"bad key": "x"}}, 'matchLabels[bad key].key: Invalid value: "bad key"'),
]


@pytest.mark.parametrize(("model", "message"), MODEL_ERRORS)
def test_selector_from_model_errors(model: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        selector_from_model(model)
    assert message in str(exc.value)


def test_selector_from_model_rejects_non_objects() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        selector_from_model(["a"])


def test_selector_from_map() -> None:
    assert selector_from_map(None).empty()
    assert selector_from_map({}).matches({"a": "b"})
    sel = selector_from_map({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert not sel.matches({"a": "1"})
    assert parse_label_selector(str(sel)) == sel


# ------------------------------------------------------------------ requirement construction


@pytest.mark.parametrize(
    ("key", "op", "values", "message"),
    [
        ("a", "in", [], "values set can't be empty"),
        ("a", "=", [], "exact-match compatibility requires one single value"),
        ("a", "=", ["x", "y"], "exact-match compatibility requires one single value"),
        ("a", "exists", ["x"], "values set must be empty"),
        ("a", "gt", ["1", "2"], "exactly one value is required"),
        ("a", "lt", ["x"], "the value must be an integer"),
        ("a", "~", ["x"], 'operator: Unsupported value: "~"'),
        ("", "exists", [], "name part must be non-empty"),
    ],
)
def test_requirement_new_errors(key: str, op: str, values: list[str], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        Requirement.new(key, op, values)
    assert message in str(exc.value)


# ------------------------------------------------------------------ field selectors

FIELD_VALID = [
    ("", "", []),
    ("a=b", "a=b", [("a", "=", "b")]),
    ("a==b", "a=b", [("a", "=", "b")]),
    ("a!=b", "a!=b", [("a", "!=", "b")]),
    ("a=", "a=", [("a", "=", "")]),
    ("a!=", "a!=", [("a", "!=", "")]),
    ("b=1,a=2", "a=2,b=1", [("a", "=", "2"), ("b", "=", "1")]),
    ("metadata.name=x,spec.nodeName=n1", "metadata.name=x,spec.nodeName=n1",
     [("metadata.name", "=", "x"), ("spec.nodeName", "=", "n1")]),
    (r"a=x\,y", r"a=x\,y", [("a", "=", "x,y")]),
    (r"a=x\=y", r"a=x\=y", [("a", "=", "x=y")]),
    (r"a=x\\y", r"a=x\\y", [("a", "=", "x\\y")]),
    (r"a=\\\,\=", r"a=\\\,\=", [("a", "=", "\\,=")]),
    (r"a=x\,y,b=z", r"a=x\,y,b=z", [("a", "=", "x,y"), ("b", "=", "z")]),
    ("a=b,", "a=b", [("a", "=", "b")]),
    (",a=b", "a=b", [("a", "=", "b")]),
    ("a=b,,c=d", "a=b,c=d", [("a", "=", "b"), ("c", "=", "d")]),
    ("a!==b", None, None),  # "!=" then value "=b": unescaped '=' -> error (below)
    ("a=b c", "a=b c", [("a", "=", "b c")]),
    (" a=b", " a=b", [(" a", "=", "b")]),
    ("=b", "=b", [("", "=", "b")]),
    ("a==", "a=", [("a", "=", "")]),
]
FIELD_VALID = [f for f in FIELD_VALID if f[1] is not None]

FIELD_INVALID = [
    ("a", "invalid selector: 'a'; can't understand 'a'"),
    ("a=b,c", "can't understand 'c'"),
    ("a!==b", "unescaped character in value: '='"),
    ("a=b=c", "unescaped character in value: '='"),
    ("a===b", "unescaped character in value: '='"),
    (r"a=x\y", r"invalid escape sequence: \y"),
    ("a=x\\", "invalid escape sequence: \\"),
    ("a<b", "can't understand 'a<b'"),
    ("a in (b)", "can't understand"),
]


@pytest.mark.parametrize(("text", "canonical", "reqs"), FIELD_VALID)
def test_field_parse(text: str, canonical: str, reqs: list[tuple[str, str, str]]) -> None:
    sel = parse_field_selector(text)
    assert str(sel) == canonical
    assert sel.requirements == reqs
    assert parse_field_selector(str(sel)) == sel


@pytest.mark.parametrize(("text", "message"), FIELD_INVALID)
def test_field_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_field_selector(text)
    assert message in str(exc.value)


POD = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-a", "hostNetwork": True, "priority": 5, "containers": [{"name": "c"}]},
    "status": {"phase": "Running"},
    "involvedObject": {"name": "x,y=z"},
}

FIELD_MATCH = [
    ("", True),
    ("metadata.name=web-1", True),
    ("metadata.name==web-1", True),
    ("metadata.name=web-2", False),
    ("metadata.name!=web-2", True),
    ("metadata.name!=web-1", False),
    ("metadata.namespace=prod,spec.nodeName=node-a", True),
    ("metadata.namespace=prod,spec.nodeName=node-b", False),
    ("spec.nodeName=", False),
    ("spec.nodeName!=", True),
    ("spec.missing=", True),
    ("spec.missing!=", False),
    ("spec.missing=x", False),
    ("nothere.at.all=", True),
    ("status.phase=Running", True),
    ("status.phase!=Failed,status.phase!=Succeeded", True),
    ("spec.hostNetwork=true", True),
    ("spec.hostNetwork=True", False),
    ("spec.priority=5", True),
    ("spec.containers=", True),  # non-scalar reads as ""
    ("spec.nodeName.deeper=", True),
    (r"involvedObject.name=x\,y\=z", True),
    ("involvedObject.name!=x", True),
]


@pytest.mark.parametrize(("text", "expected"), FIELD_MATCH)
def test_field_matches(text: str, expected: bool) -> None:
    assert parse_field_selector(text).matches(POD) is expected


def test_field_matches_model_and_fields() -> None:
    class Obj:
        def to_dict(self) -> dict[str, Any]:
            return POD

    sel = parse_field_selector("spec.nodeName=node-a")
    assert sel.matches(Obj())
    assert sel.matches_fields({"spec.nodeName": "node-a"})
    assert not sel.matches_fields({})
    assert parse_field_selector("spec.nodeName!=x").matches_fields({})


def test_field_single_value() -> None:
    sel = parse_field_selector("status.phase!=Failed,spec.nodeName=n1")
    assert sel.single_value("spec.nodeName") == "n1"
    assert sel.single_value("status.phase") is None
    assert sel.single_value("metadata.name") is None
    assert parse_field_selector("spec.nodeName==n2").single_value("spec.nodeName") == "n2"
    assert parse_field_selector("spec.nodeName=").single_value("spec.nodeName") == ""
    assert FieldSelector.everything().single_value("spec.nodeName") is None
    assert FieldSelector.everything().empty()


def test_field_selector_constructor_validates_operator() -> None:
    assert str(FieldSelector((("a", "==", "b,c"),))) == r"a=b\,c"
    with pytest.raises(ValueError, match="operator"):
        FieldSelector((("a", "in", "b"),))


@pytest.mark.parametrize("value", ["", "plain", "a,b", "a=b", "a\\b", "\\", ",,==\\\\", "x\\,y", "ü ß"])
def test_escape_round_trip(value: str) -> None:
    escaped = escape_field_value(value)
    assert unescape_field_value(escaped) == value
    sel = parse_field_selector(f"f={escaped}")
    assert sel.requirements == [("f", "=", value)]
    assert sel.matches({"f": value})


def test_selector_from_model_rejects_non_string_label_values() -> None:
    with pytest.raises(ValueError, match=r"matchLabels\[a\]: Invalid value: 1"):
        selector_from_model({"matchLabels": {"a": 1}})
