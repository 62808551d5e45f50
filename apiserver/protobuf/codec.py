"""Kubernetes protobuf <-> the JSON-shaped dicts every other part of kubelite works on,
driven by the field table (`schema`).

Contract:
- `decode_message(name, data) -> dict` gives what Kubernetes' Go JSON encoding of the same
  object gives: JSON field names, `json:",inline"` structs flattened into their parent, a
  non-pointer `omitempty` scalar that is zero on the wire left out (gogo-protobuf writes them
  always), pointer fields kept even when zero (`replicas: 0`), non-pointer structs kept even
  when empty (`"status": {}`, as Go's JSON), unknown field numbers skipped (as protobuf does).
  Well-known types: meta/v1 Time -> RFC 3339 seconds ("2026-01-02T03:04:05Z", a zero Time is
  left out), MicroTime -> RFC 3339 with microseconds, Duration -> Go duration text ("1m30s"),
  Quantity -> its string, IntOrString -> int or string, FieldsV1/RawExtension -> the embedded
  JSON value (a RawExtension holding a `k8s\\0` envelope is decoded as an object), the
  user-info ExtraValue -> a list of strings, bytes -> base64 text.
- `encode_message(name, obj, go_style=False) -> bytes` is the inverse, for tests and clients.
  With `go_style` it writes what a Go client writes: every non-pointer scalar (zero or not) and
  every non-pointer struct (empty or not).
- Malformed input (bad wire format, wrong wire type for a known field, invalid UTF-8, bad JSON
  inside a RawExtension, nesting deeper than `MAX_DEPTH`) raises `ProtobufError` (ValueError).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apiserver.protobuf import schema
from apiserver.protobuf.envelope import CONTENT_TYPE, decode_unknown, encode_unknown
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


# --- well-known types: decoding -----------------------------------------------------------------


def _ints(data: memoryview) -> dict[int, int | memoryview]:
    return {number: value for number, _, value in iter_fields(data)}


def _num(fields: dict[int, int | memoryview], number: int) -> int:
    """A varint field of a well-known type (0 when absent)."""
    value = fields.get(number, 0)
    if not isinstance(value, int):
        raise ProtobufError(f"field {number}: expected a number, got bytes")
    return value


def _raw(fields: dict[int, int | memoryview], number: int) -> bytes:
    """A length-delimited field of a well-known type (empty when absent)."""
    value = fields.get(number, b"")
    if isinstance(value, int):
        raise ProtobufError(f"field {number}: expected bytes, got a number")
    return bytes(value)


def _utc(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"time out of range: {seconds} s") from None


def _time(data: memoryview, _: int) -> str | None:
    if not len(data):
        return None  # a zero metav1.Time: JSON null, left out
    f = _ints(data)
    return _utc(signed(_num(f, 1), 64)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(data: memoryview, _: int) -> str | None:
    if not len(data):
        return None
    f = _ints(data)
    nanos = signed(_num(f, 2), 32)
    if not 0 <= nanos < 10**9:
        raise ProtobufError(f"nanos out of range: {nanos}")
    return _utc(signed(_num(f, 1), 64)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"


_UNITS = [("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3),
          ("µs", 10**3), ("ns", 1)]


def go_duration(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns, size) + unit
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    out = f"{h}h{m}m" if h else (f"{m}m" if m else "")
    return sign + out + _trim(rest, 10**9) + "s"


def _trim(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string ("1h30m", "1.5s", "-2ms")."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return 0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(h|m|s|ms|us|µs|ns)", body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ProtobufError(f"invalid duration {text!r}")
    sizes = dict(_UNITS)
    return sign * round(sum(float(n) * sizes[u] for n, u in parts))


def _duration(data: memoryview, _: int) -> str:
    return go_duration(signed(_num(_ints(data), 1), 64))


def _quantity(data: memoryview, _: int) -> str:
    return _text(_raw(_ints(data), 1))


def _int_or_string(data: memoryview, _: int) -> int | str:
    f = _ints(data)
    if _num(f, 1) == 1:
        return _text(_raw(f, 3))
    return signed(_num(f, 2), 32)


def _json_raw(data: memoryview, depth: int) -> Any:
    raw = _raw(_ints(data), 1)
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode_object(raw, depth=depth + 1)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ProtobufError(f"embedded JSON is invalid: {e}") from None


def _extra_value(data: memoryview, _: int) -> list[str]:
    """ExtraValue (user extra info): `repeated string items = 1` on the wire, a JSON list."""
    return [_text(value) for number, _, value in iter_fields(data) if number == 1]


_SPECIAL_DECODERS: dict[str, Callable[[memoryview, int], Any]] = {
    "meta.v1.Time": _time,
    "meta.v1.MicroTime": _micro_time,
    "meta.v1.Duration": _duration,
    "resource.Quantity": _quantity,
    "resource.QuantityValue": _quantity,
    "intstr.IntOrString": _int_or_string,
    "meta.v1.FieldsV1": _json_raw,
    "runtime.RawExtension": _json_raw,
    "authentication.v1.ExtraValue": _extra_value,
    "authorization.v1.ExtraValue": _extra_value,
    "certificates.v1.ExtraValue": _extra_value,
}


# --- decoding -------------------------------------------------------------------------------------


def _text(value: int | memoryview | bytes) -> str:
    if isinstance(value, int):
        raise ProtobufError("expected a length-delimited string, got a number")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError("a string field is not valid UTF-8") from None


def _scalar(typ: str, wire_type: int, value: int | memoryview, where: str) -> Any:
    expected = LEN if typ in ("string", "bytes") else I64 if typ == "double" else I32 if typ == "float" else VARINT
    if wire_type != expected:
        raise ProtobufError(f"{where}: wire type {wire_type} for a {typ}")
    if typ == "string":
        return _text(value)
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
    if typ in ("string", "bytes"):
        return ""
    if typ == "bool":
        return False
    if typ in schema.SCALARS:
        return 0
    return decode_message(typ, memoryview(b""), depth=depth + 1)


def decode_message(name: str, data: bytes | memoryview, *, depth: int = 0) -> Any:
    """The JSON form of message `name` (see the module docstring)."""
    if depth > MAX_DEPTH:
        raise ProtobufError(f"nesting deeper than {MAX_DEPTH} levels")
    view = memoryview(data)
    try:
        special = _SPECIAL_DECODERS.get(name)
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


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ProtobufError(f"a time must be a string, got {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProtobufError(f"invalid time {value!r}") from None


def _enc_time(value: Any, _: bool) -> bytes:
    w = Writer()
    if value is not None:
        w.varint(1, int(_parse_time(value).timestamp()))
    return w.getvalue()


def _enc_micro_time(value: Any, _: bool) -> bytes:
    w = Writer()
    if value is not None:
        t = _parse_time(value)
        w.varint(1, int(t.replace(microsecond=0).timestamp()))
        w.varint(2, t.microsecond * 1000)
    return w.getvalue()


def _enc_duration(value: Any, _: bool) -> bytes:
    w = Writer()
    w.varint(1, parse_go_duration(str(value)) if value is not None else 0)
    return w.getvalue()


def _enc_quantity(value: Any, _: bool) -> bytes:
    w = Writer()
    w.len_field(1, str(value if value is not None else "0").encode())
    return w.getvalue()


def _enc_int_or_string(value: Any, _: bool) -> bytes:
    w = Writer()
    if isinstance(value, str):
        w.varint(1, 1)
        w.varint(2, 0)
        w.len_field(3, value.encode())
    else:
        w.varint(1, 0)
        w.varint(2, int(value or 0))
        w.len_field(3, b"")
    return w.getvalue()


def _enc_json_raw(value: Any, _: bool) -> bytes:
    w = Writer()
    if value is not None:
        w.len_field(1, json.dumps(value, separators=(",", ":")).encode())
    return w.getvalue()


def _enc_extra_value(value: Any, _: bool) -> bytes:
    if not isinstance(value, list):
        raise ProtobufError(f"an ExtraValue must be a list of strings, got {type(value).__name__}")
    w = Writer()
    for item in value:
        w.len_field(1, str(item).encode())
    return w.getvalue()


_SPECIAL_ENCODERS: dict[str, Callable[[Any, bool], bytes]] = {
    "meta.v1.Time": _enc_time,
    "meta.v1.MicroTime": _enc_micro_time,
    "meta.v1.Duration": _enc_duration,
    "resource.Quantity": _enc_quantity,
    "resource.QuantityValue": _enc_quantity,
    "intstr.IntOrString": _enc_int_or_string,
    "meta.v1.FieldsV1": _enc_json_raw,
    "runtime.RawExtension": _enc_json_raw,
    "authentication.v1.ExtraValue": _enc_extra_value,
    "authorization.v1.ExtraValue": _enc_extra_value,
    "certificates.v1.ExtraValue": _enc_extra_value,
}


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
    special = _SPECIAL_ENCODERS.get(name)
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
                _write(w, f.number, f.type, _zero_json(f.type), go_style)
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


def _zero_json(typ: str) -> Any:
    if typ in ("string", "bytes"):
        return ""
    if typ == "bool":
        return False
    if typ in schema.SCALARS:
        return 0
    if typ in ("meta.v1.Time", "meta.v1.MicroTime", "meta.v1.FieldsV1", "runtime.RawExtension"):
        return None
    if typ in ("resource.Quantity", "resource.QuantityValue"):
        return "0"
    if typ == "intstr.IntOrString":
        return 0
    if typ == "meta.v1.Duration":
        return "0s"
    return {}


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
