"""Unit tests of the API server's input hardening (issue 19): selectors per kind, bounded body
decoding, warning header encoding, int64 parameters, JSON patch limits, quantities."""

from __future__ import annotations

import json

import pytest

from apiserver import bodies
from apiserver.fieldvalidation import go_quote, warning_header, warning_headers
from apiserver.handlers_common import parse_int64
from apiserver.patch import json_patch
from apiserver.selection import selection
from machinery import errors
from machinery.models import ConfigMap, Event, Node, Pod
from machinery.quantity import parse_quantity


def pod(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}}, "spec": spec,
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}}


def test_field_labels_are_per_kind_as_kubernetes() -> None:
    with pytest.raises(errors.BadRequest, match=r"^field label not supported: spec\.nodeName$"):
        selection(ConfigMap, None, "spec.nodeName==")
    with pytest.raises(errors.BadRequest, match=r"field label not supported: status\.hostIP"):
        selection(Pod, None, "status.hostIP=1")
    sel = selection(Pod, "app=web", "spec.host=n1,status.podIP=10.0.0.1,spec.hostNetwork=false")
    assert sel.fields is not None and sel.fields.single_value("spec.nodeName") == "n1"
    assert sel.predicate is not None and sel.predicate(pod(nodeName="n1"))
    assert not sel.predicate(pod(nodeName="n2"))
    assert selection(Pod, None, "status.podIPs=10.0.0.1\\,fd00::1").predicate(pod()) is True  # type: ignore[misc]
    assert selection(Node, None, "spec.unschedulable=false").predicate({"spec": {}}) is True  # type: ignore[misc]
    ev = {"involvedObject": {"name": "x"}, "source": {"component": "kubelet"}}
    assert selection(Event, None, "involvedObject.name=x,source=kubelet").predicate(ev) is True  # type: ignore[misc]
    assert selection(ConfigMap, "", "").predicate is None


@pytest.mark.parametrize("bad", ["a in (", "a=b=c", "!", "a b", "-a=1", "a in (x,y", "a😀=1"])
def test_label_selector_syntax_errors_are_400(bad: str) -> None:
    with pytest.raises(errors.BadRequest):
        selection(ConfigMap, bad, None)


def test_empty_set_is_the_empty_value_as_kubernetes() -> None:
    sel = selection(ConfigMap, "a in ()", None)
    assert sel.predicate is not None
    assert sel.predicate({"metadata": {"labels": {"a": ""}}})
    assert not sel.predicate({"metadata": {"labels": {"a": "x"}}}) and not sel.predicate({"metadata": {}})


def test_json_depth_surrogates_and_numbers() -> None:
    with pytest.raises(errors.BadRequest, match="nested too deeply"):
        bodies.loads_json(b"[" * 10_000 + b"]" * 10_000)
    with pytest.raises(errors.BadRequest, match="nested too deeply"):
        bodies.loads_json(json.dumps({"a": json.loads("[" * 101 + "]" * 101)}).encode())
    assert bodies.loads_json(b"[" * 99 + b"]" * 99) is not None
    assert bodies.loads_json(b'{"k\\ud800":"\\udfff"}') == {"k\ufffd": "\ufffd"}
    with pytest.raises(errors.BadRequest, match="not valid JSON"):
        bodies.loads_json(b'{"a":')


def test_yaml_alias_budget_depth_timestamps_and_size() -> None:
    bomb = b"a: &a [x,x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"{c}: &{c} [{','.join([f'*{p}'] * 10)}]\n".encode() for p, c in zip("abcde", "bcdef", strict=True))
    with pytest.raises(errors.BadRequest, match="aliasing"):
        bodies.loads_yaml(bomb, 3 << 20)
    assert bodies.loads_yaml(b"a: &a [1]\nb: *a\n", 3 << 20) == {"a": [1], "b": [1]}
    with pytest.raises(errors.BadRequest, match="nested too deeply"):
        bodies.loads_yaml(b"a: " + b"[" * 5_000 + b"]" * 5_000, 3 << 20)
    assert bodies.loads_yaml(b't: 2024-01-01T00:00:00Z\n1: x\nn: "\\ud800"\n', 3 << 20) == {
        "t": "2024-01-01T00:00:00Z", "1": "x", "n": "\ufffd"}
    with pytest.raises(errors.RequestEntityTooLarge):
        bodies.loads_yaml(b"x: &x " + b"y" * 1000 + b"\nl: [" + b",".join([b"*x"] * 100) + b"]\n", 50_000)
    with pytest.raises(errors.BadRequest):
        bodies.loads_yaml(b"a: !!binary aGVsbG8=\n", 3 << 20)


def test_warning_headers_quote_as_go_and_encode_as_utf8() -> None:
    assert go_quote('x😀"\\\n\x00') == '"x😀\\"\\\\\\n\\x00"'
    assert warning_header('unknown field "x😀"') == '299 - "unknown field \\"x😀\\""'.encode()
    many = [f"w{i} " + "x" * 300 for i in range(20)]
    headers = warning_headers(many)
    assert all(len(h) < 300 for h in headers) and sum(len(h) for h in headers) < 5_000


def test_int64_parameters() -> None:
    assert parse_int64(str(2**63 - 1), "limit") == 2**63 - 1
    for bad in (str(2**63), str(2**70), "1.5", " 1", "١", "", "-" + "9" * 20):  # noqa: RUF001 - a non-ASCII digit on purpose
        with pytest.raises(errors.BadRequest):
            parse_int64(bad, "limit")


def test_json_patch_limits() -> None:
    doc = {"data": {"v": "x" * 10_000}, "metadata": {"annotations": {}}}
    ops = [{"op": "copy", "from": "/data" if i == 0 else "/metadata", "path": f"/metadata/annotations/k{i}"}
           for i in range(30)]
    with pytest.raises(errors.RequestEntityTooLarge):
        json_patch(doc, ops)
    with pytest.raises(errors.RequestEntityTooLarge):
        json_patch(doc, [{"op": "test", "path": "/data", "value": 1}] * 10_001)
    assert json_patch(doc, [{"op": "copy", "from": "/data", "path": "/copy"}])["copy"] == doc["data"]


def test_quantities_beyond_any_size_are_invalid() -> None:
    for bad in ("1e999999999", "1e99999999999999"):
        with pytest.raises(ValueError):
            parse_quantity(bad)
