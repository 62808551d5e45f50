"""Key layout and continue tokens (no daemons)."""

from __future__ import annotations

import base64
import json

import pytest

from apiserver.storage import keys
from machinery import errors


def test_object_keys_follow_kubernetes_layout() -> None:
    assert keys.object_key("pods", "web", "default") == "/registry/pods/default/web"
    assert keys.object_key("nodes", "n1") == "/registry/nodes/n1"
    assert keys.collection_prefix("pods") == "/registry/pods/"
    assert keys.collection_prefix("pods", "ns") == "/registry/pods/ns/"


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_bad_segments_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.object_key("pods", bad, "default")
    with pytest.raises(ValueError):
        keys.collection_prefix("pods", bad or "x/")


def test_resource_prefix_and_describe() -> None:
    assert keys.resource_prefix("/registry/pods/ns/x") == "/registry/pods/"
    assert keys.resource_prefix("/registry/pods/") == "/registry/pods/"
    assert keys.resource_prefix("/registry/nodes/n1") == "/registry/nodes/"
    assert keys.describe_key("/registry/pods/ns/x") == ("pods", "x")
    assert keys.describe_key("/registry/nodes/n1") == ("nodes", "n1")
    with pytest.raises(ValueError):
        keys.resource_prefix("/elsewhere/pods/")


def test_range_end() -> None:
    assert keys.range_end(b"/registry/pods/") == b"/registry/pods0"
    assert keys.range_end(b"a\xff") == b"b"
    assert keys.range_end(b"\xff\xff") == b"\x00"


def test_continue_token_round_trip() -> None:
    tok = keys.encode_continue(revision=42, next_key="/registry/pods/ns/b\x00", prefix="/registry/pods/")
    assert keys.decode_continue(tok, "/registry/pods/") == (42, "/registry/pods/ns/b\x00")
    # Kubernetes' token shape: base64 JSON with v, rv, start relative to the prefix.
    data = json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
    assert data == {"v": "meta.k8s.io/v1", "rv": 42, "start": "ns/b\x00"}


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64 !!",
        base64.urlsafe_b64encode(b"not json").decode(),
        _token(["list"]),
        _token({"v": "other/v1", "rv": 1, "start": "a"}),
        _token({"v": "meta.k8s.io/v1", "rv": 0, "start": "a"}),
        _token({"v": "meta.k8s.io/v1", "rv": True, "start": "a"}),
        _token({"v": "meta.k8s.io/v1", "rv": 5, "start": 3}),
        _token({"v": "meta.k8s.io/v1", "rv": 5, "start": "../secrets/x"}),
        _token({"v": "meta.k8s.io/v1", "rv": 5, "start": "/registry/secrets/x"}),
    ],
)
def test_bad_continue_tokens_are_400(token: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        keys.decode_continue(token, "/registry/pods/")
    assert exc.value.code == 400
    assert "continue" in exc.value.message


def test_encode_refuses_keys_outside_prefix() -> None:
    with pytest.raises(ValueError):
        keys.encode_continue(revision=1, next_key="/registry/secrets/a", prefix="/registry/pods/")


def test_errors_named_from_keys() -> None:
    nf = keys.not_found("/registry/pods/ns/web")
    assert (nf.code, nf.message, nf.name, nf.kind) == (404, 'pods "web" not found', "web", "pods")
    ae = keys.already_exists("/registry/nodes/n1")
    assert (ae.code, ae.reason, ae.message) == (409, "AlreadyExists", 'nodes "n1" already exists')
    c = keys.conflict("/registry/deployments/ns/d")
    assert c.reason == "Conflict" and c.message.startswith('Operation cannot be fulfilled on deployments "d": ')
