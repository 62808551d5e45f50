"""The compiled field table of every message we can decode (data: schema_data.py, generated
from Kubernetes' generated.proto and Go struct tags by gen_schema.py).

Contract: `message(name) -> Message | None`: the fields of "core.v1.Pod", "meta.v1.ObjectMeta"...
by number (`by_number`) and in field-number order (`fields`). `message_for_kind(api_version,
kind) -> str | None`: the message of a top-level object (`v1`+`Pod` -> "core.v1.Pod",
`apps/v1`+`Deployment` -> "apps.v1.Deployment", `coordination.k8s.io/v1`+`Lease` ->
"coordination.v1.Lease"; meta/v1 bodies such as DeleteOptions whatever their apiVersion).
A kind is decodable as soon as its message is in the table: nothing else to register.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from apiserver.protobuf.schema_data import SCHEMA as _GENERATED
from apiserver.protobuf.schema_extra import EXTRA_SCHEMA

SCHEMA = {**_GENERATED, **EXTRA_SCHEMA}  # extra: groups Kubernetes removed (PodPreset)

REPEATED, POINTER, OMITEMPTY, INLINE = 1, 2, 4, 8
SCALARS = frozenset({"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"})
_META_KINDS = frozenset({"DeleteOptions", "Status", "CreateOptions", "UpdateOptions", "PatchOptions",
                         "GetOptions", "ListOptions", "WatchEvent"})


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    json: str
    type: str
    """A scalar ("string", "int32"...), a message name, or the value type of a map."""
    repeated: bool
    pointer: bool
    omitempty: bool
    inline: bool
    map_key: str | None = None
    """Set for map fields: the key type (their `type` is then the value type)."""

    @property
    def drops_zero(self) -> bool:
        """A zero value on the wire means unset: a non-pointer `omitempty` Go scalar, which
        gogo-protobuf always writes (JSON would have omitted it)."""
        return self.omitempty and not self.pointer and not self.repeated and self.type in SCALARS


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    by_number: dict[int, Field]


def _field(number: int, json: str, typ: str, flags: int) -> Field:
    key = None
    if typ.startswith("map<"):
        key, typ = typ[4:-1].split(",", 1)
    return Field(number=number, json=json, type=typ, repeated=bool(flags & REPEATED),
                 pointer=bool(flags & POINTER), omitempty=bool(flags & OMITEMPTY),
                 inline=bool(flags & INLINE), map_key=key)


@functools.cache
def message(name: str) -> Message | None:
    rows = SCHEMA.get(name)
    if rows is None:
        return None
    fields = tuple(sorted((_field(*row) for row in rows), key=lambda f: f.number))
    return Message(name=name, fields=fields, by_number={f.number: f for f in fields})


def message_for_kind(api_version: str, kind: str) -> str | None:
    group, _, version = api_version.rpartition("/")
    if kind in _META_KINDS:
        name = f"meta.v1.{kind}"
    else:
        package = group.split(".", 1)[0] if group else "core"
        name = f"{package}.{version}.{kind}"
    return name if name in SCHEMA else None
