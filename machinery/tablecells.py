"""The cells tables are made of: kubectl's human durations and ages, label and selector
strings, safe accessors on plain JSON objects, and `Layout` (a kind's headers, wide headers and
row function). Used by machinery/tables.py (the per-kind layouts) and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from machinery.clock import parse_time

Obj = dict[str, Any]
NONE = "<none>"


def now() -> datetime:
    return datetime.now(UTC)


def parse_ts(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        dt = parse_time(value)
    except ValueError:
        return None
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


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
        return f"{minutes}m" if seconds % 60 == 0 else f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
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


def labels_string(labels: dict[str, str] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def terminated_label(term: dict[str, Any], prefix: str = "") -> str:
    return (prefix + str(term["reason"]) if term.get("reason") else f"{prefix}Signal:{term['signal']}"
            if term.get("signal") else f"{prefix}ExitCode:{term.get('exitCode', 0)}")


def condition_true(status: dict[str, Any], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in status.get("conditions") or [])


def spec_of(o: Obj) -> Obj:
    return o.get("spec") or {}


def status_of(o: Obj) -> Obj:
    return o.get("status") or {}


def meta_of(o: Obj) -> Obj:
    return o.get("metadata") or {}


def as_int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


_SELECTOR_OPS = {"In": "{k} in ({v})", "NotIn": "{k} notin ({v})", "Exists": "{k}", "DoesNotExist": "!{k}"}


def format_selector(sel: Obj | None) -> str:
    if not sel:
        return NONE
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        fmt = _SELECTOR_OPS.get(expr.get("operator", ""))
        if fmt is not None:
            parts.append(fmt.format(k=expr.get("key", ""), v=",".join(expr.get("values") or [])))
    return ",".join(parts) or NONE


def containers_images(template_spec: Obj) -> list[str]:
    containers = template_spec.get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def template_spec(o: Obj) -> Obj:
    return ((spec_of(o).get("template") or {}).get("spec")) or {}


def wide_ci(o: Obj) -> list[str]:
    """CONTAINERS IMAGES SELECTOR of the workload kinds."""
    return [*containers_images(template_spec(o)), format_selector(spec_of(o).get("selector"))]


def controller_name(o: Obj) -> str:
    """kubectl's CONTROLLER cell: `statefulset.apps/web` from the controller ownerReference."""
    for ref in meta_of(o).get("ownerReferences") or []:
        if ref.get("controller"):
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            kind = str(ref.get("kind") or "").lower()
            return f"{kind}.{group}/{ref.get('name', '')}" if group else f"{kind}/{ref.get('name', '')}"
    return NONE


def with_age(*cells: Callable[[Obj], str]) -> Callable[[Obj, bool, datetime], list[str]]:
    """Row function of a kind whose columns are `cells` then AGE (no wide columns)."""
    return lambda o, wide, at: [c(o) for c in cells] + [human_age(meta_of(o).get("creationTimestamp"), at)]


def count_of(*fields: str) -> Callable[[Obj], str]:
    return lambda o: str(sum(len(o.get(f) or {}) for f in fields))


@dataclass(frozen=True)
class Layout:
    headers: list[str]
    wide: list[str]
    row: Callable[[Obj, bool, datetime], list[str]]
    name_header: str = "NAME"
    name_cell: Callable[[Obj], str] | None = None
    """The NAME cell when it is not just metadata.name (a default StorageClass: "x (default)")."""

    def name_of(self, o: Obj) -> str:
        return self.name_cell(o) if self.name_cell else str(meta_of(o).get("name", ""))


_ACCESS_ABBREV = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                  ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: list[str] | None) -> str:
    """kubectl's GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order, each once."""
    have = set(modes or [])
    return ",".join(short for full, short in _ACCESS_ABBREV if full in have)


def phase_cell(o: Obj) -> str:
    return "Terminating" if meta_of(o).get("deletionTimestamp") else str(status_of(o).get("phase") or "")
