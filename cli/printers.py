"""Output formats of `get`: aligned tables, ages, `-o name|json|yaml`.

Contract: every function here works on plain JSON dicts as the server returns them (no
models), so what is printed is exactly what the server said. `human_age` is kubectl's
`HumanDuration` (5s, 3m2s, 4h, 2d); `render_table` pads columns with three spaces like
kubectl's tabwriter; `resource_name` gives `pod/x`, `deployment.apps/web`.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

# Time and label formatting are shared with the API server's Table columns (one definition).
from machinery.tables import human_age, human_duration, labels_string, now, parse_ts

__all__ = ["human_age", "human_duration", "labels_string", "now", "parse_ts"]


def column_widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    widths = [0] * max([len(headers)] + [len(r) for r in rows])
    for row in [headers, *rows]:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    return widths


def render_table(headers: list[str], rows: list[list[str]], *, with_header: bool = True,
                 min_widths: list[int] | None = None) -> str:
    """Left-aligned columns separated by at least three spaces; the last column is not padded.
    `min_widths` keeps later rows (watch events) in the columns of the table printed first."""
    all_rows = ([headers] if with_header else []) + rows
    if not all_rows:
        return ""
    ncols = max(len(r) for r in all_rows)
    widths = list(min_widths or [])[:ncols] + [0] * max(0, ncols - len(min_widths or []))
    for row in all_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in all_rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def kind_path(obj: dict[str, Any]) -> str:
    """`pod`, `deployment.apps`: lower-case kind plus the group for non-core kinds."""
    kind = str(obj.get("kind") or "").lower()
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.split("/")[0] if "/" in api_version else ""
    return f"{kind}.{group}" if group else kind


def resource_name(obj: dict[str, Any]) -> str:
    return f"{kind_path(obj)}/{(obj.get('metadata') or {}).get('name', '')}"


def as_list(items: list[dict[str, Any]], resource_version: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": resource_version}}


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=4)


class _KubeDumper(yaml.SafeDumper):
    """Quotes as kubectl's Go YAML does: a string that would read back as another type (a number,
    a boolean) in double quotes ("3"), one that only needs quoting for its syntax in single ('*/5'),
    several lines as a literal block (|)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    tag = "tag:yaml.org,2002:str"
    if "\n" in value:
        return dumper.represent_scalar(tag, value, style="|")
    resolved = dumper.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    if resolved != tag:
        return dumper.represent_scalar(tag, value, style='"')
    return dumper.represent_scalar(tag, value)


_KubeDumper.add_representer(str, _represent_str)


def dump_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_KubeDumper, default_flow_style=False, sort_keys=True).rstrip("\n")


def no_resources_message(namespace: str | None) -> str:
    """What kubectl prints (on stderr) for an empty list."""
    if namespace:
        return f"No resources found in {namespace} namespace."
    return "No resources found"
