"""The key/value layout of `describe`, aligned like kubectl's prefix writer.

Contract: `Writer.line(level, key, value)` adds `key:` at indent `2*level` with `value` after it;
`render()` aligns the values of consecutive lines that share an indent (as kubectl's tabwriter
does per block). A value of None prints just `key:` (a heading). `labels(level, key, mapping)`
prints one `k=v` per line, `<none>` when empty. `events_table` renders the Events section.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cli.printers import human_age, human_duration, parse_ts, render_table

NONE = "<none>"


class Writer:
    def __init__(self) -> None:
        self._lines: list[tuple[int, str, str | None]] = []

    def line(self, level: int, key: str, value: Any = None) -> None:
        self._lines.append((level, key, None if value is None else str(value)))

    def text(self, level: int, raw: str) -> None:
        """A raw line (no key), e.g. a table row."""
        self._lines.append((level, "\x00" + raw, None))

    def labels(self, level: int, key: str, mapping: dict[str, str] | None, sep: str = "=") -> None:
        items = sorted((mapping or {}).items())
        if not items:
            self.line(level, key, NONE)
            return
        for i, (k, v) in enumerate(items):
            self.line(level, key if i == 0 else "", f"{k}{sep}{v}")

    def render(self) -> str:
        """kubectl's tabwriter: a run of consecutive key/value lines (any indent) shares one
        value column, two spaces past its widest `indent+key:`; headings end a run."""
        out: list[str] = []
        lines = self._lines
        i = 0
        while i < len(lines):
            if lines[i][2] is None:
                lvl, key, _ = lines[i]
                out.append("  " * lvl + (key[1:] if key.startswith("\x00") else f"{key}:"))
                i += 1
                continue
            j = i
            while j < len(lines) and lines[j][2] is not None:
                j += 1
            cells = ["  " * lvl + (f"{key}:" if key else "") for lvl, key, _ in lines[i:j]]
            width = max(len(c) for c in cells) + 2
            for cell, (_, _, value) in zip(cells, lines[i:j], strict=True):
                out.append((cell.ljust(width) + (value or "")).rstrip())
            i = j
        return "\n".join(out)


def format_time(value: Any) -> str:
    """kubectl's describe time format: `Mon, 02 Jan 2006 15:04:05 -0700`."""
    ts = parse_ts(value)
    return ts.strftime("%a, %d %b %Y %H:%M:%S %z") if ts else NONE


def events_table(w: Writer, events: list[dict[str, Any]], at: datetime) -> None:
    if not events:
        w.text(0, f"Events:  {NONE}")  # its own line, as kubectl prints it, not aligned with the fields above
        return
    w.line(0, "Events")
    rows = []
    for ev in sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
        last = ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp")
        first = ev.get("firstTimestamp") or last
        count = int(ev.get("count") or 1)
        age = human_age(last, at)
        if count > 1:
            first_ts = parse_ts(first)
            over = human_duration((at - first_ts).total_seconds()) if first_ts else "<unknown>"
            age = f"{age} (x{count} over {over})"
        source = ev.get("source") or {}
        origin = ev.get("reportingComponent") or source.get("component") or ""
        if source.get("host"):
            origin = f"{origin}, {source['host']}" if origin else source["host"]
        rows.append([ev.get("type") or "", ev.get("reason") or "", age, origin, (ev.get("message") or "").strip()])
    headers = ["Type", "Reason", "Age", "From", "Message"]
    table = render_table(headers, [["-" * len(h) for h in headers], *rows])
    for row in table.splitlines():
        w.text(1, row)
