"""The well-known types of Kubernetes protobuf (meta/v1 Time, MicroTime, Duration, resource
Quantity, IntOrString, FieldsV1/RawExtension, the user-info ExtraValue): their own wire forms
<-> their JSON forms, for codec.py.

Contract:
- `DECODERS[name](data, depth) -> JSON value` for every well-known message except the two that
  embed JSON or an envelope (FieldsV1, RawExtension: codec.py, which decodes envelopes):
  Time -> RFC 3339 seconds (a zero Time -> None, left out), MicroTime -> RFC 3339 with
  microseconds, Duration -> Go duration text ("1m30s"), Quantity -> its string, IntOrString ->
  int or string, ExtraValue -> a list of strings.
- `ENCODERS[name](value, go_style) -> bytes` is the inverse for all of them (FieldsV1 and
  RawExtension: compact JSON).
- `zero_json(typ)` is the JSON form of a field's zero value, what a Go client writes for a
  non-pointer field it left unset (`scalar_zero(typ)` for a scalar); `go_duration(ns)` /
  `parse_go_duration(text)` are Go's time.Duration text forms; `text(value)` a UTF-8 string
  field; `fields_of(data)` / `raw_field(fields, n)` read a small message's fields.
- Malformed input raises `ProtobufError` (ValueError).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apiserver.protobuf import schema
from apiserver.protobuf.wire import ProtobufError, Writer, iter_fields, signed


def fields_of(data: memoryview) -> dict[int, int | memoryview]:
    return {number: value for number, _, value in iter_fields(data)}


def _num(fields: dict[int, int | memoryview], number: int) -> int:
    """A varint field of a well-known type (0 when absent)."""
    value = fields.get(number, 0)
    if not isinstance(value, int):
        raise ProtobufError(f"field {number}: expected a number, got bytes")
    return value


def raw_field(fields: dict[int, int | memoryview], number: int) -> bytes:
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
    f = fields_of(data)
    return _utc(signed(_num(f, 1), 64)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(data: memoryview, _: int) -> str | None:
    if not len(data):
        return None
    f = fields_of(data)
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
    return go_duration(signed(_num(fields_of(data), 1), 64))


def _quantity(data: memoryview, _: int) -> str:
    return text(raw_field(fields_of(data), 1))


def _int_or_string(data: memoryview, _: int) -> int | str:
    f = fields_of(data)
    if _num(f, 1) == 1:
        return text(raw_field(f, 3))
    return signed(_num(f, 2), 32)


def _extra_value(data: memoryview, _: int) -> list[str]:
    """ExtraValue (user extra info): `repeated string items = 1` on the wire, a JSON list."""
    return [text(value) for number, _, value in iter_fields(data) if number == 1]


DECODERS: dict[str, Callable[[memoryview, int], Any]] = {
    "meta.v1.Time": _time,
    "meta.v1.MicroTime": _micro_time,
    "meta.v1.Duration": _duration,
    "resource.Quantity": _quantity,
    "resource.QuantityValue": _quantity,
    "intstr.IntOrString": _int_or_string,
    "authentication.v1.ExtraValue": _extra_value,
    "authorization.v1.ExtraValue": _extra_value,
    "certificates.v1.ExtraValue": _extra_value,
}


def text(value: int | memoryview | bytes) -> str:
    if isinstance(value, int):
        raise ProtobufError("expected a length-delimited string, got a number")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError("a string field is not valid UTF-8") from None


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


ENCODERS: dict[str, Callable[[Any, bool], bytes]] = {
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


def scalar_zero(typ: str) -> str | bool | int:
    """Protobuf's default value of a scalar type, in its JSON form."""
    if typ in ("string", "bytes"):
        return ""
    if typ == "bool":
        return False
    return 0


def zero_json(typ: str) -> Any:
    if typ in schema.SCALARS:
        return scalar_zero(typ)
    if typ in ("meta.v1.Time", "meta.v1.MicroTime", "meta.v1.FieldsV1", "runtime.RawExtension"):
        return None
    if typ in ("resource.Quantity", "resource.QuantityValue"):
        return "0"
    if typ == "intstr.IntOrString":
        return 0
    if typ == "meta.v1.Duration":
        return "0s"
    return {}
