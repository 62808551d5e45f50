"""WatchCache resumes older than its buffer from the store's history (issue 19 item 8), with a
fake versioned store: every change is (revision, key, object or None)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apiserver.storage.interface import StoredEvent
from apiserver.storage.watchcache import WatchBatch, WatchCache
from machinery import errors

Obj = dict[str, Any]


def obj(name: str, uid: str = "u1", **labels: str) -> Obj:
    return {"metadata": {"name": name, "uid": uid, "labels": labels}}


class History:
    """A store that keeps every revision until `compacted`."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, str, Obj | None]] = []
        self.compacted = 0
        self.snapshots = 0

    @property
    def revision(self) -> int:
        return self.changes[-1][0] if self.changes else 1

    def put(self, key: str, value: Obj | None) -> int:
        rev = self.revision + 1
        self.changes.append((rev, key, value))
        return rev

    async def snapshot(self, prefix: str, revision: int | None) -> tuple[dict[str, Obj], int]:
        self.snapshots += 1
        rev = self.revision if revision is None else revision
        if rev < self.compacted:
            raise errors.Expired("compacted")
        state: dict[str, Obj] = {}
        for r, key, value in self.changes:
            if r > rev:
                break
            if value is None:
                state.pop(key, None)
            else:
                state[key] = {**value, "metadata": {**value["metadata"], "resourceVersion": str(r)}}
        return {k: v for k, v in state.items() if k.startswith(prefix)}, rev

    async def stream(self, prefix: str, start_rev: int) -> AsyncIterator[WatchBatch]:
        await asyncio.Event().wait()  # no live changes in these tests
        yield WatchBatch([])

    async def current_revision(self) -> int:
        return self.revision


async def take(it: AsyncIterator[StoredEvent], n: int) -> list[tuple[str, str, int]]:
    out = []
    async for ev in it:
        out.append((ev.type, ev.object["metadata"]["name"], ev.resource_version))
        if len(out) == n:
            break
    return out


async def test_resume_older_than_the_buffer_is_served_from_history() -> None:
    h = History()
    h.put("/r/ns/keep", obj("keep", app="a"))
    h.put("/r/ns/change", obj("change", app="a"))
    gone = h.put("/r/ns/gone", obj("gone", app="a"))
    seen = h.revision
    changed = h.put("/r/ns/change", obj("change", app="a", v="2"))
    h.put("/r/ns/change", obj("change", app="a", v="3"))
    h.put("/r/ns/gone", None)
    reused = h.put("/r/ns/keep", obj("keep", "u2", app="a"))
    added = h.put("/r/ns/new", obj("new", app="b"))
    cache = WatchCache(h, "/r/")  # starts now: its buffer begins after all of that
    await cache.start()
    start = cache.oldest_revision
    assert start == added and changed < start and gone <= seen
    h.snapshots = 0
    events = await take(cache.watch("/r/ns/", from_rv=seen), 5)
    # Coalesced per key (change at its last revision), a reused name as DELETED + ADDED, the
    # deletion at the cache's start revision.
    assert events == [("MODIFIED", "change", changed + 1), ("DELETED", "keep", reused), ("ADDED", "keep", reused),
                      ("ADDED", "new", added), ("DELETED", "gone", start)]
    assert h.snapshots == 1  # the state at `seen`; the state at the start is the cache's own
    # With a selector: an object that stops or starts matching is DELETED / ADDED.
    only_b = await take(cache.watch("/r/", from_rv=seen, predicate=lambda o: o["metadata"]["labels"].get("app") == "b"), 1)
    assert only_b == [("ADDED", "new", added)]
    await cache.stop()


async def test_resume_from_a_compacted_revision_is_expired() -> None:
    h = History()
    first = h.put("/r/a", obj("a"))
    h.put("/r/b", obj("b"))
    cache = WatchCache(h, "/r/")
    await cache.start()
    h.compacted = h.revision
    with pytest.raises(errors.Expired, match="too old resource version"):
        await take(cache.watch(from_rv=first - 1), 1)
    await cache.stop()
