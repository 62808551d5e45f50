"""Kubernetes' protobuf envelope: the 4 bytes `k8s\\0`, then a runtime.Unknown message
{typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4}
whose `raw` is the typed object (k8s.io/apimachinery/pkg/runtime/serializer/protobuf).

Contract (the envelope only; codec.py's `decode_object`/`encode_object` put typed objects in
and out of it, since an object may itself hold envelopes in its RawExtensions):
- `decode_unknown(body) -> (apiVersion, kind, raw, contentEncoding, contentType)`;
  `ProtobufError` (a ValueError: the API server answers 400) when the magic is missing or the
  envelope is malformed.
- `encode_unknown(apiVersion, kind, raw) -> bytes`: the envelope around an encoded message.
"""

from __future__ import annotations

from apiserver.protobuf.wire import LEN, MAGIC, ProtobufError, WireError, Writer, iter_fields

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


def encode_unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    """The envelope around an already encoded object message."""
    type_meta = Writer()
    type_meta.len_field(1, api_version.encode())
    type_meta.len_field(2, kind.encode())
    w = Writer()
    w.len_field(1, type_meta.getvalue())
    w.len_field(2, raw)
    w.len_field(3, b"")
    w.len_field(4, b"")
    return MAGIC + w.getvalue()
