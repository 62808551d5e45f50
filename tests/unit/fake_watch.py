"""How the fake clientset's watches see writes: selector matching and change -> WatchEvent.

Contract: `matcher(namespace, label_selector, field_selector)` is a predicate on wire dicts;
`translate(cls, change, match)` turns one recorded write into the event a watch with that
predicate gets, as the API server's watch cache does (an object that stops matching arrives
as DELETED, one that starts matching as ADDED, None when the watch sees nothing); `END` in a
watch's queue ends it; `sort_key` orders tracker keys for lists.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from machinery.client import WatchEvent
from machinery.selectors import parse_field_selector, parse_label_selector

Key = tuple[str, str | None, str]


@dataclass
class Change:
    rv: int
    kind: str
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


END = object()


Matcher = Callable[[dict[str, Any] | None], bool]


def matcher(namespace: str | None, label_selector: str | None, field_selector: str | None) -> Matcher:
    ls = parse_label_selector(label_selector or "")
    fs = parse_field_selector(field_selector or "")

    def match(obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if namespace and meta.get("namespace") != namespace:
            return False
        return ls.matches(meta.get("labels")) and fs.matches(obj)

    return match


def sort_key(item: tuple[Key, dict[str, Any]]) -> tuple[str, str, str]:
    (kind, ns, name), _ = item
    return kind, ns or "", name


def translate(cls: type[Any], c: Change, match: Matcher) -> WatchEvent[Any] | None:
    now, before = match(c.obj), match(c.old)
    if c.type == "ADDED":
        etype = "ADDED" if now else None
    elif c.type == "DELETED":
        etype = "DELETED" if before else None
    elif now and before:
        etype = "MODIFIED"
    elif now:
        etype = "ADDED"
    elif before:
        etype = "DELETED"
    else:
        etype = None
    if etype is None:
        return None
    return WatchEvent(etype, cls.model_validate(c.obj), {"type": etype, "object": copy.deepcopy(c.obj)})
