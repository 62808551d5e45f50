"""Kubernetes protobuf <-> the JSON-shaped dicts every other part of kubelite works on,
driven by the field table (`schema`).

Contract:
- `decode_message(name, data) -> dict` gives what Kubernetes' Go JSON encoding of the same
  object gives: JSON field names, `json:",inline"` structs flattened into their parent, a
  non-pointer `omitempty` scalar that is zero on the wire left out (gogo-protobuf writes them
  always), pointer fields kept even when zero (`replicas: 0`), non-pointer structs kept even
  when empty (`"status": {}`, as Go's JSON), unknown field numbers skipped (as protobuf does).
  Well-known types (Time, Duration, Quantity, ...) as wellknown.py says; FieldsV1/RawExtension
  -> the embedded JSON value (a RawExtension holding a `k8s\\0` envelope is decoded as an
  object); bytes -> base64 text.
- `encode_message(name, obj, go_style=False) -> bytes` is the inverse, for tests and clients.
  With `go_style` it writes what a Go client writes: every non-pointer scalar (zero or not) and
  every non-pointer struct (empty or not).
- Malformed input (bad wire format, wrong wire type for a known field, invalid UTF-8, bad JSON
  inside a RawExtension, nesting deeper than `MAX_DEPTH`) raises `ProtobufError` (ValueError).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from apiserver.protobuf import schema
from apiserver.protobuf.envelope import CONTENT_TYPE, decode_unknown, encode_unknown
from apiserver.protobuf.wellknown import (
    DECODERS,
    ENCODERS,
    fields_of,
    raw_field,
    scalar_zero,
    text,
    zero_json,
)
from apiserver.protobuf.wire import (
    I32,
    I64,
    LEN,
    MAGIC,
    VARINT,
    ProtobufError,
    WireError,
    Writer,
    as_double,
    as_float,
    iter_fields,
    read_varint,
    signed,
)

MAX_DEPTH = 64
_PACKABLE = {"bool", "int32", "int64", "uint32", "uint64", "double", "float"}


def _json_raw(data: memoryview, depth: int) -> Any:
    """FieldsV1 / RawExtension: the embedded JSON value, or the object of an embedded envelope."""
    raw = raw_field(fields_of(data), 1)
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode_object(raw, depth=depth + 1)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ProtobufError(f"embedded JSON is invalid: {e}") from None


_DECODERS: dict[str, Callable[[memoryview, int], Any]] = {
    **DECODERS, "meta.v1.FieldsV1": _json_raw, "runtime.RawExtension": _json_raw}


# --- decoding -------------------------------------------------------------------------------------


def _scalar(typ: str, wire_type: int, value: int | memoryview, where: str) -> Any:
    expected = LEN if typ in ("string", "bytes") else I64 if typ == "double" else I32 if typ == "float" else VARINT
    if wire_type != expected:
        raise ProtobufError(f"{where}: wire type {wire_type} for a {typ}")
    if typ == "string":
        return text(value)
    if typ == "bytes":
        return base64.b64encode(bytes(value)).decode()
    assert isinstance(value, int)
    if typ == "bool":
        return bool(value)
    if typ == "int32":
        return signed(value, 32)
    if typ == "int64":
        return signed(value, 64)
    if typ == "uint32":
        return value & 0xFFFFFFFF
    if typ == "double":
        return as_double(value)
    if typ == "float":
        return as_float(value)
    return value  # uint64


def _value(typ: str, wire_type: int, value: int | memoryview, depth: int, where: str) -> Any:
    if typ in schema.SCALARS:
        return _scalar(typ, wire_type, value, where)
    if wire_type != LEN or isinstance(value, int):
        raise ProtobufError(f"{where}: wire type {wire_type} for a message")
    return decode_message(typ, value, depth=depth + 1)


def _packed(typ: str, data: memoryview, where: str) -> list[Any]:
    """The elements of a packed repeated scalar (one LEN field holding them back to back)."""
    size = 8 if typ == "double" else 4 if typ == "float" else 0
    wire_type = I64 if typ == "double" else I32 if typ == "float" else VARINT
    items: list[Any] = []
    pos = 0
    while pos < len(data):
        if size:
            if pos + size > len(data):
                raise ProtobufError(f"{where}: truncated packed field")
            raw = int.from_bytes(data[pos:pos + size], "little")
            pos += size
        else:
            raw, pos = read_varint(data, pos)
        items.append(_scalar(typ, wire_type, raw, where))
    return items


def _map_entry(field: schema.Field, data: memoryview, depth: int) -> tuple[Any, Any]:
    key: Any = None
    value: Any = None
    for number, wire_type, raw in iter_fields(data):
        if number == 1:
            key = _value(field.map_key or "string", wire_type, raw, depth, f"{field.json} key")
        elif number == 2:
            value = _value(field.type, wire_type, raw, depth, f"{field.json}[{key}]")
    if key is None:
        key = "" if field.map_key == "string" else 0
    if value is None:  # an absent value is the zero value
        value = _zero(field.type, depth)
    return key, value


def _zero(typ: str, depth: int) -> Any:
    """The JSON form of a map value the entry left out (protobuf's default value)."""
    if typ in schema.SCALARS:
        return scalar_zero(typ)
    return decode_message(typ, memoryview(b""), depth=depth + 1)


def decode_message(name: str, data: bytes | memoryview, *, depth: int = 0) -> Any:
    """The JSON form of message `name` (see the module docstring)."""
    if depth > MAX_DEPTH:
        raise ProtobufError(f"nesting deeper than {MAX_DEPTH} levels")
    view = memoryview(data)
    try:
        special = _DECODERS.get(name)
        if special is not None:
            return special(view, depth)
        msg = schema.message(name)
        if msg is None:
            raise ProtobufError(f"no protobuf schema for message {name}")
        out: dict[str, Any] = {}
        for number, wire_type, value in iter_fields(view):
            f = msg.by_number.get(number)
            if f is None:
                continue
            if f.map_key is not None:
                if wire_type != LEN or isinstance(value, int):
                    raise ProtobufError(f"{f.json}: wire type {wire_type} for a map entry")
                k, v = _map_entry(f, value, depth)
                out.setdefault(f.json, {})[k] = v
            elif f.repeated:
                items = out.setdefault(f.json, [])
                if wire_type == LEN and f.type in _PACKABLE and isinstance(value, memoryview):
                    items.extend(_packed(f.type, value, f.json))
                else:
                    items.append(_value(f.type, wire_type, value, depth, f.json))
            else:
                out[f.json] = _value(f.type, wire_type, value, depth, f.json)
    except WireError as e:
        raise ProtobufError(f"{name}: {e}") from None
    return _finish(msg, out)


def _finish(msg: schema.Message, out: dict[str, Any]) -> dict[str, Any]:
    for f in msg.fields:
        if f.json not in out:
            continue
        v = out[f.json]
        if v is None or (f.drops_zero and not v):
            del out[f.json]
        elif f.inline:
            inner = out.pop(f.json)
            if isinstance(inner, dict):
                for k, val in inner.items():
                    out.setdefault(k, val)
    return out


# --- encoding -------------------------------------------------------------------------------------


def _write(w: Writer, number: int, typ: str, value: Any, go_style: bool) -> None:
    if typ == "string":
        w.len_field(number, str(value).encode())
    elif typ == "bytes":
        w.len_field(number, base64.b64decode(value))
    elif typ == "bool":
        w.varint(number, 1 if value else 0)
    elif typ in ("int32", "int64", "uint32", "uint64"):
        w.varint(number, int(value))
    elif typ == "double":
        w.fixed64(number, float(value))
    elif typ == "float":
        w.fixed32(number, float(value))
    else:
        w.len_field(number, encode_message(typ, value, go_style=go_style))


def encode_message(name: str, obj: Any, *, go_style: bool = False) -> bytes:
    """The protobuf bytes of `obj` (a JSON-shaped value) as message `name`."""
    special = ENCODERS.get(name)
    if special is not None:
        return special(obj, go_style)
    msg = schema.message(name)
    if msg is None:
        raise ProtobufError(f"no protobuf schema for message {name}")
    if not isinstance(obj, dict):
        raise ProtobufError(f"{name} must be an object, got {type(obj).__name__}")
    w = Writer()
    for f in msg.fields:
        if f.inline:  # the parent's JSON object carries the inlined struct's keys
            w.len_field(f.number, encode_message(f.type, obj, go_style=go_style))
            continue
        value = obj.get(f.json)
        if value is None:
            if go_style and not f.pointer and not f.repeated and f.map_key is None:
                _write(w, f.number, f.type, zero_json(f.type), go_style)
            continue
        if f.map_key is not None:
            for key in sorted(value):
                entry = Writer()
                _write(entry, 1, f.map_key, key, go_style)
                _write(entry, 2, f.type, value[key], go_style)
                w.len_field(f.number, entry.getvalue())
        elif f.repeated:
            for item in value:
                _write(w, f.number, f.type, item, go_style)
        else:
            _write(w, f.number, f.type, value, go_style)
    return w.getvalue()


# --- objects in their envelope ------------------------------------------------------------------


def decode_object(body: bytes, *, depth: int = 0) -> dict[str, Any]:
    """The object of an envelope as its JSON form, `apiVersion` and `kind` first (from
    typeMeta), then the fields of the message `schema.message_for_kind` names. ProtobufError
    when typeMeta lacks a kind/apiVersion, a content encoding is set (Kubernetes defines none)
    or no message is known for the kind."""
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
    """The envelope of a JSON-form object (tests, and any client wanting to speak protobuf)."""
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    name = schema.message_for_kind(api_version, kind)
    if name is None:
        raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")
    return encode_unknown(api_version, kind, encode_message(name, obj, go_style=go_style))
