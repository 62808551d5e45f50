"""The three-way merge behind `apply`: (last-applied, live, new manifest) -> JSON merge patch.

Contract: `three_way_patch(last_applied, live, desired) -> dict` returns an RFC 7386 merge patch
that, applied to `live`, gives an object where
  * every field of `desired` has desired's value,
  * fields present in `last_applied` but removed from `desired` are deleted (set to null),
  * fields nobody declared (status, server defaults, fields other writers set) are kept.
Lists are replaced whole (merge-patch semantics), but only when they really changed: a live
list that equals the desired one plus server-filled fields (defaults inside containers) counts
as unchanged, so an unchanged re-apply yields `{}` and makes no write.
`LAST_APPLIED` is kubectl's annotation; `annotated(desired)` stores the manifest in it.
"""

from __future__ import annotations

import json
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_MISSING: Any = object()


def covers(live: Any, desired: Any) -> bool:
    """True when `live` holds everything `desired` says (extra live fields are allowed)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        for key, value in desired.items():
            if value is None:
                if live.get(key) is not None:
                    return False
            elif key not in live or not covers(live[key], value):
                return False
        return True
    if isinstance(desired, list):
        return (isinstance(live, list) and len(live) == len(desired)
                and all(covers(lv, dv) for lv, dv in zip(live, desired, strict=True)))
    if isinstance(desired, bool) or isinstance(live, bool):
        return type(desired) is type(live) and desired == live
    return bool(live == desired)


def three_way_patch(last_applied: dict[str, Any] | None, live: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    original = last_applied if isinstance(last_applied, dict) else {}
    patch: dict[str, Any] = {}
    for key in original:
        if key not in desired and live.get(key) is not None:
            patch[key] = None  # declared before, dropped from the file now: delete it
    for key, want in desired.items():
        have = live.get(key, _MISSING)
        before = original.get(key, _MISSING)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = three_way_patch(before if isinstance(before, dict) else {}, have, want)
            if sub:
                patch[key] = sub
        elif isinstance(want, list) and isinstance(have, list):
            # An element removed from inside a list item (an env var, a port) leaves live still
            # "covering" desired, so also compare against what was applied last time.
            if not covers(have, want) or (before is not _MISSING and before != want):
                patch[key] = want
        elif want is None:
            if have is not _MISSING and have is not None:
                patch[key] = None
        elif have is _MISSING or not covers(have, want):
            patch[key] = want
    return patch


def last_applied_of(live: dict[str, Any]) -> dict[str, Any] | None:
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def annotated(desired: dict[str, Any]) -> dict[str, Any]:
    """A copy of the manifest carrying itself (minus the annotation) in LAST_APPLIED."""
    clean = json.loads(json.dumps(desired))
    meta = clean.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    encoded = json.dumps(clean, sort_keys=True, separators=(",", ":"))
    out: dict[str, Any] = json.loads(encoded)
    out["metadata"]["annotations"] = {**annotations, LAST_APPLIED: encoded}
    return out
