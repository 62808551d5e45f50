"""Server-side printing: meta.k8s.io/v1 Table answers for kubectl's `get`.

Contract:
- `table_request(request)` is true when the Accept header asks for `as=Table` (group
  meta.k8s.io, version v1 or v1beta1), as kubectl's `get` does; any other Accept gets the
  object itself (never a 406: JSON is always acceptable).
- `include_object(request)`: the `includeObject` parameter (None | Metadata | Object, default
  Metadata), 400 for anything else.
- `to_table(cls, items, list_meta, include=..., headers=True)` renders objects of one kind
  with the columns of `machinery.tables` (wide columns have priority 1, so `-o wide` works);
  each row carries the object as PartialObjectMetadata (or the whole object / nothing).
  `headers=False` leaves out columnDefinitions (watch events after the first, as Kubernetes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from machinery import errors, tables
from machinery.meta import Resource

Obj = dict[str, Any]
TABLE_GV = "meta.k8s.io/v1"
TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _params(clause: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in clause.split(";")]
    params: dict[str, str] = {}
    for p in parts[1:]:
        key, _, value = p.partition("=")
        params[key.strip().lower()] = value.strip()
    return parts[0].lower(), params


def table_request(request: Request) -> bool:
    for clause in request.headers.get("accept", "").split(","):
        mt, params = _params(clause)
        if (mt in ("application/json", "*/*") and params.get("as") == "Table"
                and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1")):
            return True
    return False


def include_object(request: Request) -> str:
    value = request.query_params.get("includeObject") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise errors.BadRequest(f'invalid includeObject "{value}": must be None, Metadata or Object')
    return value


def column_definitions(kind: str) -> list[Obj]:
    """TableColumnDefinitions; `-o wide` columns have priority 1. Names are the printed
    headers (kubectl upper-cases them anyway)."""
    layout = tables.layout_for(kind)
    cols: list[Obj] = []
    if layout.name_header:
        cols.append({"name": "Name", "type": "string", "format": "name", "priority": 0,
                     "description": "Name must be unique within a namespace."})
    for priority, headers in ((0, layout.headers), (1, layout.wide)):
        cols += [{"name": h, "type": "string", "format": "", "priority": priority, "description": h.lower()}
                 for h in headers]
    return cols


def row_cells(kind: str, obj: Obj, at: datetime) -> list[str]:
    """All cells of one row (wide ones included), in `column_definitions` order."""
    layout = tables.layout_for(kind)
    name = [layout.name_of(obj)] if layout.name_header else []
    return name + layout.row(obj, True, at)


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_GV, "metadata": obj.get("metadata") or {}}


def to_table(cls: type[Resource], items: list[Obj], list_meta: Obj | None = None, *,
             include: str = "Metadata", headers: bool = True, at: datetime | None = None) -> Obj:
    at = at or datetime.now(UTC)
    rows = []
    for obj in items:
        row: Obj = {"cells": row_cells(cls.KIND, obj, at)}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    out: Obj = {"kind": "Table", "apiVersion": TABLE_GV, "metadata": dict(list_meta or {})}
    if headers:
        out["columnDefinitions"] = column_definitions(cls.KIND)
    out["rows"] = rows
    return out
