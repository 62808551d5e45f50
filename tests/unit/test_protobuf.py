"""apiserver.protobuf: Kubernetes protobuf bodies decoded into the same dicts as JSON.

Covers the wire format, the schema's coverage of every served kind, round trips of a rich
manifest per kind (plain and as a Go client writes them), the Go zero-value rules, bodies
captured from the real kubectl 1.37 (tests/unit/data/kubectl_protobuf_bodies.json), malformed
input, and the generator's parsers.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from apiserver.admission import validation
from apiserver.protobuf import ProtobufError, decode_message, decode_object, encode_message, encode_object
from apiserver.protobuf.gen_schema import INLINE, OMITEMPTY, POINTER, REPEATED, parse_go, parse_proto
from apiserver.protobuf.schema import message_for_kind
from apiserver.protobuf.wellknown import go_duration, parse_go_duration
from apiserver.protobuf.wire import MAGIC, Writer, iter_fields, signed
from machinery import registry
from machinery.defaults import apply_defaults
from machinery.meta import Resource
from tests.protobuf_samples import assert_extends_with_zeros, sample

VECTORS = json.loads((Path(__file__).parent / "data" / "kubectl_protobuf_bodies.json").read_text())["bodies"]
ALL = [*registry.ALL_KINDS, *registry.SUBRESOURCE_KINDS]


# --- schema coverage -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.KIND)
def test_every_served_kind_has_a_message(cls: type[Resource]) -> None:
    assert message_for_kind(cls.api_version(), cls.KIND), (
        f"no protobuf message for {cls.KIND}: add its package to apiserver/protobuf/gen_schema.PACKAGES")


def test_message_names() -> None:
    assert message_for_kind("v1", "Pod") == "core.v1.Pod"
    assert message_for_kind("apps/v1", "Deployment") == "apps.v1.Deployment"
    assert message_for_kind("coordination.k8s.io/v1", "Lease") == "coordination.v1.Lease"
    assert message_for_kind("meta.k8s.io/v1", "DeleteOptions") == "meta.v1.DeleteOptions"
    assert message_for_kind("v1", "DeleteOptions") == "meta.v1.DeleteOptions"
    assert message_for_kind("example.com/v1", "Widget") is None
    assert message_for_kind("v1", "NoSuchKind") is None


# --- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", registry.ALL_KINDS, ids=lambda c: c.KIND)
def test_round_trip_of_every_kind(cls: type[Resource]) -> None:
    obj = sample(cls, "x", "ns")
    assert decode_object(encode_object(obj)) == obj


@pytest.mark.parametrize("cls", registry.ALL_KINDS, ids=lambda c: c.KIND)
def test_go_client_bytes_decode_like_json(cls: type[Resource]) -> None:
    """A Go client writes every non-pointer field, zero or not: decoding drops what JSON's
    omitempty drops, keeps pointer zeros, and the model sees the same object."""
    obj = sample(cls, "x", "ns")
    decoded = decode_object(encode_object(obj, go_style=True))
    # Everything sent comes back; anything more is a zero value that Go's JSON writes too
    # (fields without omitempty, e.g. a Node's status.nodeInfo.machineID: "").
    assert_extends_with_zeros(decoded, obj)
    model, causes = validation.parse_object(cls, copy.deepcopy(decoded))
    assert not causes and model is not None
    from_json, _ = validation.parse_object(cls, copy.deepcopy(obj))
    assert from_json is not None
    assert_extends_with_zeros(apply_defaults(model).to_dict(), apply_defaults(from_json).to_dict())


def test_go_zero_value_rules() -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"replicas": 0, "template": {"spec": {
               "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 0,
               "containers": [{"name": "c", "image": "i", "stdin": False}]}}}}
    out = decode_object(encode_object(dep, go_style=True))
    spec = out["spec"]
    assert spec["replicas"] == 0  # *int32: a real zero
    assert "paused" not in spec and "minReadySeconds" not in spec  # non-pointer omitempty zeros
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["terminationGracePeriodSeconds"] == 0
    assert "hostNetwork" not in pod and "restartPolicy" not in pod and "nodeName" not in pod
    container = pod["containers"][0]
    assert container == {"name": "c", "image": "i", "resources": {}}  # struct kept, as Go's JSON
    assert out["metadata"] == {"name": "d"}  # empty strings and the zero creationTimestamp dropped
    assert out["status"] == {}


def test_well_known_types() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "creationTimestamp": "2026-01-02T03:04:05Z"},
           "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}}
    assert decode_object(encode_object(svc)) == svc
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"renewTime": "2026-01-02T03:04:05.000007Z"}}
    assert decode_object(encode_object(lease)) == lease
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}
    assert decode_object(encode_object(node)) == node
    assert go_duration(0) == "0s" and go_duration(90 * 10**9) == "1m30s" and go_duration(1500) == "1.5µs"
    assert go_duration(3600 * 10**9 + 500 * 10**6) == "1h0m0.5s"
    assert parse_go_duration("1h0m0.5s") == 3600 * 10**9 + 500 * 10**6


def test_raw_extension_holding_an_envelope() -> None:
    inner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    w = Writer()
    w.len_field(1, encode_object(inner))
    rev = Writer()
    rev.len_field(1, encode_message("meta.v1.ObjectMeta", {"name": "r"}))
    rev.len_field(2, w.getvalue())
    rev.varint(3, 1)
    assert decode_message("apps.v1.ControllerRevision", rev.getvalue()) == {
        "metadata": {"name": "r"}, "data": inner, "revision": 1}


# --- the real kubectl's bytes ----------------------------------------------------------------------


@pytest.mark.parametrize("verb", sorted(VECTORS))
def test_real_kubectl_bodies(verb: str) -> None:
    body = bytes.fromhex(VECTORS[verb])
    obj = decode_object(body)
    cls = registry.model_for(obj)
    namespaced = copy.deepcopy(obj)
    if cls.NAMESPACED:  # kubectl leaves it to the URL
        namespaced["metadata"]["namespace"] = "default"
    model, causes = validation.parse_object(cls, namespaced)
    assert not causes and model is not None
    assert not validation.validate(apply_defaults(model))
    # Re-encoding as a Go client gives kubectl's exact bytes: the schema's numbers, types and
    # pointer/omitempty flags agree with kubectl's Go structs.
    assert encode_object(obj, go_style=True) == body


def test_real_kubectl_body_contents() -> None:
    dep = decode_object(bytes.fromhex(VECTORS["create deployment"]))
    assert dep["spec"]["replicas"] == 0
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080}]
    assert dep["status"] == {} and "creationTimestamp" not in dep["metadata"]
    cm = decode_object(bytes.fromhex(VECTORS["create configmap"]))
    assert cm["data"] == {"a": "1", "b": "two"}
    secret = decode_object(bytes.fromhex(VECTORS["create secret generic"]))
    assert secret["data"] == {"pw": "aHVudGVyMg=="}
    svc = decode_object(bytes.fromhex(VECTORS["create service clusterip"]))
    assert svc["spec"]["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    assert svc["status"] == {"loadBalancer": {}}
    cron = decode_object(bytes.fromhex(VECTORS["create cronjob"]))
    assert cron["spec"]["schedule"] == "*/5 * * * *"
    job = decode_object(bytes.fromhex(VECTORS["create job"]))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# --- malformed input --------------------------------------------------------------------------------


def _envelope(api_version: bytes, kind: bytes, raw: bytes, encoding: bytes = b"") -> bytes:
    tm = Writer()
    tm.len_field(1, api_version)
    tm.len_field(2, kind)
    w = Writer()
    w.len_field(1, tm.getvalue())
    w.len_field(2, raw)
    w.len_field(3, encoding)
    return MAGIC + w.getvalue()


GOOD = encode_object(sample(registry.by_kind("ConfigMap"), "c", "ns"))
BAD = {
    "no magic": b'{"kind": "ConfigMap"}',
    "magic only": MAGIC,
    "truncated": GOOD[:-3],
    "length past the end": MAGIC + b"\x12\x7f\x00",
    "varint too long": MAGIC + b"\x08" + b"\xff" * 11,
    "field number 0": MAGIC + b"\x00\x00",
    "group wire type": MAGIC + b"\x0b",
    "unknown kind": _envelope(b"v1", b"Widget", b""),
    "unknown group": _envelope(b"example.com/v1", b"ConfigMap", b""),
    "content encoding": _envelope(b"v1", b"ConfigMap", b"", b"gzip"),
    "invalid utf-8 name": _envelope(b"v1", b"ConfigMap", b"\x0a\x03\x0a\x01\xff"),
    "number for a string": _envelope(b"v1", b"ConfigMap", b"\x0a\x02\x08\x05"),
    "number for a message": _envelope(b"v1", b"ConfigMap", b"\x08\x05"),
    "bad embedded json": _envelope(b"apps/v1", b"ControllerRevision", b"\x12\x03\x0a\x01{"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_bodies_raise_protobuf_error(name: str) -> None:
    with pytest.raises(ProtobufError):
        decode_object(BAD[name])


def test_deep_nesting_is_refused() -> None:
    body = encode_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    for _ in range(80):  # a ControllerRevision whose data is a ControllerRevision whose data...
        w = Writer()
        w.len_field(1, body)
        rev = Writer()
        rev.len_field(2, w.getvalue())
        body = _envelope(b"apps/v1", b"ControllerRevision", rev.getvalue())
    with pytest.raises(ProtobufError, match="nesting"):
        decode_object(body)


def test_unknown_fields_are_skipped() -> None:
    w = Writer()
    w.len_field(1, encode_message("meta.v1.ObjectMeta", {"name": "c"}))
    w.len_field(999, b"future field")
    w.varint(998, 7)
    assert decode_object(_envelope(b"v1", b"ConfigMap", w.getvalue())) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}


# --- wire format and generator --------------------------------------------------------------------


def test_wire_signed_and_packed() -> None:
    w = Writer()
    w.varint(3, -5)  # Go writes a negative int32 as a 10-byte varint
    (number, wire_type, value), = list(iter_fields(w.getvalue()))
    assert (number, wire_type, signed(int(value), 32)) == (3, 0, -5)
    packed = Writer()
    packed.len_field(3, bytes([1, 2, 0x7F]))  # PodFailurePolicyOnExitCodesRequirement.values, packed
    assert decode_message("batch.v1.PodFailurePolicyOnExitCodesRequirement", packed.getvalue()) == {
        "values": [1, 2, 127]}


def test_generator_parsers() -> None:
    proto = """
    message Volume {
      // comment
      optional string name = 1;
      optional VolumeSource volumeSource = 2;
      repeated .k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference refs = 3;
      map<string, .k8s.io.apimachinery.pkg.api.resource.Quantity> limits = 4;
    }
    """
    assert parse_proto(proto, "core.v1") == {"Volume": [
        (1, "name", "string", False), (2, "volumeSource", "core.v1.VolumeSource", False),
        (3, "refs", "meta.v1.OwnerReference", True), (4, "limits", "map<string,resource.Quantity>", False)]}
    go = '''
type Volume struct {
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	VolumeSource `json:",inline" protobuf:"bytes,2,opt,name=volumeSource"`
	Replicas *int32 `json:"replicas,omitempty" protobuf:"varint,3,opt,name=replicas"`
	EphemeralContainerCommon `json:"" protobuf:"bytes,4,req"`
}
'''
    fields = parse_go(go)["Volume"]
    assert fields["name"].json_name == "name" and not fields["name"].omitempty
    assert fields["volumeSource"].inline and fields["replicas"].pointer and fields["replicas"].omitempty
    assert fields["ephemeralContainerCommon"].inline
    assert (REPEATED, POINTER, OMITEMPTY, INLINE) == (1, 2, 4, 8)


def test_mutated_bodies_decode_or_raise_protobuf_error_only() -> None:
    """Fuzz: flipped, inserted and deleted bytes and truncations of every kind's body either
    decode or raise ProtobufError (the API server's 400), never anything else (a 500)."""
    rng = random.Random(10)
    bodies = [encode_object(sample(c, "x", "ns"), go_style=g) for c in registry.ALL_KINDS for g in (False, True)]
    outcomes = {"decoded": 0, "refused": 0}
    for _ in range(4000):
        b = bytearray(rng.choice(bodies))
        for _ in range(rng.randint(1, 4)):
            op, pos = rng.random(), rng.randrange(4, len(b)) if len(b) > 4 else 4
            if op < 0.4 and len(b) > 4:
                b[pos] = rng.randrange(256)
            elif op < 0.6:
                b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            elif op < 0.8:
                del b[pos:pos + rng.randint(1, 8)]
            else:
                b = b[:pos]
        try:
            assert isinstance(decode_object(bytes(b)), dict)
            outcomes["decoded"] += 1
        except ProtobufError:
            outcomes["refused"] += 1
    assert outcomes["decoded"] > 100 and outcomes["refused"] > 100, outcomes
