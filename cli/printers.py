"""Output formats of `get`: aligned tables, ages, `-o name|json|yaml`.

Contract: every function here works on plain JSON dicts as the server returns them (no
models), so what is printed is exactly what the server said. `human_age` is kubectl's
`HumanDuration` (5s, 3m2s, 4h, 2d); `render_table` pads columns with three spaces like
kubectl's tabwriter; `resource_name` gives `pod/x`, `deployment.apps/web`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import yaml


def now() -> datetime:
    return datetime.now(UTC)


def parse_ts(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def human_duration(seconds_f: float) -> str:
    """kubectl's duration.HumanDuration, to the same breakpoints."""
    seconds = int(seconds_f)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def human_age(timestamp: Any, at: datetime | None = None) -> str:
    """Age of an RFC 3339 timestamp; `<unknown>` when absent, like kubectl."""
    ts = parse_ts(timestamp)
    if ts is None:
        return "<unknown>"
    return human_duration(((at or now()) - ts).total_seconds())


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


def labels_string(labels: dict[str, str] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def as_list(items: list[dict[str, Any]], resource_version: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": resource_version}}


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=4)


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True).rstrip("\n")


def no_resources_message(namespace: str | None) -> str:
    """What kubectl prints (on stderr) for an empty list."""
    if namespace:
        return f"No resources found in {namespace} namespace."
    return "No resources found"
