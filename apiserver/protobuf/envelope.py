"""Kubernetes' protobuf envelope: the 4 bytes `k8s\\0`, then a runtime.Unknown message
{typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4}
whose `raw` is the typed object (k8s.io/apimachinery/pkg/runtime/serializer/protobuf).

Contract:
- `decode_object(body) -> dict`: the object as its JSON form, `apiVersion` and `kind` first
  (from typeMeta), then the fields of the message that `schema.message_for_kind` names.
  `ProtobufError` (a ValueError: the API server answers 400) when the magic is missing, the
  envelope or the object is malformed, typeMeta lacks a kind/apiVersion, a content encoding
  is set (Kubernetes defines none), or no message is known for the kind.
- `encode_object(obj, go_style=False) -> bytes`: the envelope of a JSON-form object (tests,
  and any client wanting to speak protobuf); `go_style` as in `codec.encode_message`.
"""

from __future__ import annotations

from typing import Any

from apiserver.protobuf import schema
from apiserver.protobuf.codec import MAGIC, ProtobufError, decode_message, encode_message
from apiserver.protobuf.wire import LEN, WireError, Writer, iter_fields

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


def _text(value: int | memoryview, what: str) -> str:
    if isinstance(value, int):
        raise ProtobufError(f"envelope: {what} is not a string")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"envelope: {what} is not valid UTF-8") from None


def decode_unknown(body: bytes) -> tuple[str, str, memoryview, str, str]:
    """(apiVersion, kind, raw, contentEncoding, contentType) of an envelope."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic k8s\\0")
    api_version = kind = content_encoding = content_type = ""
    raw = memoryview(b"")
    try:
        for number, wire_type, value in iter_fields(memoryview(body)[len(MAGIC):]):
            if wire_type != LEN or isinstance(value, int):
                raise ProtobufError(f"envelope: field {number} has wire type {wire_type}")
            if number == 1:
                for n, wt, v in iter_fields(value):
                    if wt != LEN or isinstance(v, int):
                        raise ProtobufError(f"envelope: typeMeta field {n} has wire type {wt}")
                    if n == 1:
                        api_version = _text(v, "typeMeta.apiVersion")
                    elif n == 2:
                        kind = _text(v, "typeMeta.kind")
            elif number == 2:
                raw = value
            elif number == 3:
                content_encoding = _text(value, "contentEncoding")
            elif number == 4:
                content_type = _text(value, "contentType")
    except WireError as e:
        raise ProtobufError(f"envelope: {e}") from None
    return api_version, kind, raw, content_encoding, content_type


def decode_object(body: bytes, *, depth: int = 0) -> dict[str, Any]:
    api_version, kind, raw, encoding, content_type = decode_unknown(body)
    if not kind or not api_version:
        raise ProtobufError("the protobuf envelope has no apiVersion/kind in its typeMeta")
    if encoding:
        raise ProtobufError(f"content encoding {encoding!r} is not supported")
    if content_type not in ("", CONTENT_TYPE):
        raise ProtobufError(f"the envelope's content type {content_type!r} is not protobuf")
    name = schema.message_for_kind(api_version, kind)
    if name is None:
        raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")
    fields = decode_message(name, raw, depth=depth)
    return {"apiVersion": api_version, "kind": kind, **fields}


def encode_object(obj: dict[str, Any], *, go_style: bool = False) -> bytes:
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    name = schema.message_for_kind(api_version, kind)
    if name is None:
        raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")
    type_meta = Writer()
    type_meta.len_field(1, api_version.encode())
    type_meta.len_field(2, kind.encode())
    w = Writer()
    w.len_field(1, type_meta.getvalue())
    w.len_field(2, encode_message(name, obj, go_style=go_style))
    w.len_field(3, b"")
    w.len_field(4, b"")
    return MAGIC + w.getvalue()
