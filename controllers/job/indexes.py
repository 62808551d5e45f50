"""Completion indexes of Indexed Jobs, as Kubernetes writes them in `status.completedIndexes`.

Contract: `parse_indexes("1,3-5")` -> {1, 3, 4, 5} (malformed parts are ignored, as the
controller tolerates a hand-edited status); `format_indexes({1, 3, 4, 5})` -> "1,3-5" (sorted
ranges, "" when empty); `first_pending(count, completions, succeeded, active)` -> the lowest
`count` indexes in [0, completions) neither succeeded nor held by an active pod.
"""

from __future__ import annotations

from collections.abc import Iterable


def parse_indexes(text: str | None) -> set[int]:
    out: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            out.update(range(int(first), int(last or first) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    parts: list[str] = []
    ordered = sorted(set(indexes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def first_pending(count: int, completions: int, succeeded: set[int], active: set[int]) -> list[int]:
    out: list[int] = []
    for ix in range(completions):
        if len(out) >= count:
            break
        if ix not in succeeded and ix not in active:
            out.append(ix)
    return out


__all__ = ["first_pending", "format_indexes", "parse_indexes"]
