"""kubectl's extra output options of `get`: -o jsonpath=..., -o custom-columns=..., -L, --sort-by,
--no-headers.

Contract:
- `is_template(output)`: true for `jsonpath=T`, `jsonpath-as-json=T`, `custom-columns=SPEC`.
- `render_template(output, items, single)`: jsonpath over the object (one named object) or
  over a `List` of the items, as kubectl; custom-columns `HEADER:.path[,HEADER2:{.path}]` gives
  a table (several values joined by `,`, nothing found is `<none>`).
- `sort_items(items, expr)`: --sort-by JSONPath (`.metadata.name` or `{.metadata.name}`):
  numbers numerically, strings lexically, items without the field first (kubectl's order);
  a field that is a map or list is `error: ... is not sortable` (CliError).
- `label_columns(keys, headers, rows, items)`: -L adds one column per key, headed by the key's
  last path segment upper-cased, empty where the label is absent.
"""

from __future__ import annotations

import json
from typing import Any

from cli import jsonpath
from cli.errors import CliError
from cli.printers import as_list, render_table

TEMPLATES = ("jsonpath=", "jsonpath-as-json=", "custom-columns=")


def is_template(output: str) -> bool:
    return output.startswith(TEMPLATES)


def _expr(text: str) -> str:
    text = text.strip()
    return text[1:-1] if text.startswith("{") and text.endswith("}") else text


def custom_columns(spec: str, items: list[dict[str, Any]], *, with_header: bool = True) -> str:
    columns: list[tuple[str, str]] = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header:
            raise CliError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append((header, _expr(path)))
    rows = []
    for item in items:
        row = []
        for _, path in columns:
            found = jsonpath.find(path, item)
            row.append(",".join(jsonpath.format_value(v) for v in found) if found else "<none>")
        rows.append(row)
    return render_table([h for h, _ in columns], rows, with_header=with_header)


def render_template(output: str, items: list[dict[str, Any]], *, single: bool, with_header: bool = True) -> str:
    kind, _, arg = output.partition("=")
    if kind == "custom-columns":
        return custom_columns(arg, items, with_header=with_header)
    data: Any = items[0] if single and len(items) == 1 else as_list(items)
    if kind == "jsonpath-as-json":
        return json.dumps([jsonpath.find(_expr(arg), data)], indent=4)
    if not arg:
        raise CliError("template format specified but no template given")
    return jsonpath.render(arg, data)


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, bool):
        return 1, float(value), ""
    if isinstance(value, int | float):
        return 1, float(value), ""
    return 2, 0.0, str(value)


def sort_items(items: list[dict[str, Any]], expr: str) -> list[dict[str, Any]]:
    path = _expr(expr)
    keyed = []
    for item in items:
        found = jsonpath.find(path, item)
        if found and isinstance(found[0], dict | list):
            raise CliError(f"error sorting by {expr}: field is not sortable (it is a map or list)")
        keyed.append(((0, 0.0, "") if not found else _sort_key(found[0]), item))
    return [item for _, item in sorted(keyed, key=lambda kv: kv[0])]


def label_columns(keys: list[str], headers: list[str], rows: list[list[str]], items: list[dict[str, Any]]
                  ) -> tuple[list[str], list[list[str]]]:
    keys = [k for part in keys for k in part.split(",") if k]
    if not keys:
        return headers, rows
    new_headers = headers + [k.rsplit("/", 1)[-1].upper() for k in keys]
    new_rows = []
    for row, item in zip(rows, items, strict=True):
        labels = (item.get("metadata") or {}).get("labels") or {}
        new_rows.append(row + [str(labels.get(k, "")) for k in keys])
    return new_headers, new_rows
