"""Which hollow nodes are stopped: node index ranges, from a flag or a control file.

Contract: `parse_ranges("0-9,15,20-21")` -> {0..9, 15, 20, 21} (blank -> empty set; a bad item
or a reversed range raises ValueError naming it). `read_control_file(path)` parses the file's
whole content the same way (commas, spaces or newlines between items; `#` starts a comment);
a missing file means no node is stopped. `python -m kubelet --hollow --control-file F` re-reads
F on SIGUSR1: the nodes listed stop heartbeating (no Lease renewal, no status, no pod work, as a
frozen kubelet), every other node runs.
"""

from __future__ import annotations

from pathlib import Path


def parse_ranges(text: str) -> set[int]:
    out: set[int] = set()
    for raw in text.replace("\n", ",").replace(" ", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        try:
            first, last = (int(lo), int(hi)) if sep else (int(item), int(item))
        except ValueError:
            raise ValueError(f"bad node index range {item!r} (want N or N-M)") from None
        if first < 0 or last < first:
            raise ValueError(f"bad node index range {item!r} (want 0 <= N <= M)")
        out.update(range(first, last + 1))
    return out


def read_control_file(path: str | Path) -> set[int]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return set()
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return parse_ranges(",".join(lines))
