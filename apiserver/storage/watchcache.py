"""The watch cache: one etcd watch per resource, fanned out in memory to any number of watchers.

Contract (one `WatchCache` per resource prefix such as `/registry/pods/`):
- `start()` lists the prefix consistently at revision R (a snapshot), then runs ONE etcd watch
  from R+1. It keeps the current objects and a ring buffer of the last `capacity` events, each
  with its revision and the previous object. Idempotent; started lazily by the first `watch()`.
  `cached(key)` is the current cached object (a hint for optimistic writes, never a read).
- `watch(prefix, from_rv=N)` yields every event under `prefix` with revision > N, in revision
  order, then live events. N == 0 means "from now". N older than the buffer (typically: a
  client resuming after an API server restart, whose cache starts at the restart's revision)
  is served from etcd's history while etcd still has revision N: the objects under `prefix`
  at N and at the buffer's start are read (two consistent Range reads) and their differences
  sent first, in revision order (ADDED / MODIFIED at the object's revision, DELETED at the
  buffer's start, DELETED + ADDED when a name was reused by a new uid), then the buffer and
  live events. Versions a key went through in between are coalesced into its last one (the
  client's cache ends level-correct, without a relist). N compacted in etcd -> errors.Expired
  (410), as Kubernetes. N newer than the cache -> the watcher skips events <= N (correct without waiting,
  because the cache receives every later event in order); N newer than etcd's revision ->
  errors.Timeout (504 "Too large resource version"). Errors surface on first iteration, and
  the watcher is registered then (so "from now" means from the first `__anext__`).
- Predicates see the previous and the new object: stops matching -> DELETED (with the new
  object), starts matching -> ADDED, as Kubernetes does.
- `index_value`: a pre-filter hint. A watcher registered with index_value=V only receives
  events whose old or new object has `index_fn(obj) == V`, so one pod event does not evaluate
  1,000 kubelets' predicates. The predicate stays authoritative: it must imply the index match.
- Fan-out never blocks: each watcher has a bounded buffer; a watcher that falls
  `queue_size` events behind is closed (its iterator ends after the events already queued,
  with no error, like Kubernetes' "forcing watcher close due to unresponsiveness"); the client
  resumes from the last resourceVersion it saw, which is still in the ring buffer.
- BOOKMARK events (for watchers that asked) every `bookmark_interval_s`, carrying the cache's
  revision when it is newer than what the watcher last got. Safe because the cache's revision
  only advances from events, or from etcd's periodic progress notifications, which etcd sends
  on the watch channel in order and only once every earlier event was sent; and because
  fan-out is synchronous, every event <= that revision is already queued before the bookmark.
- A dropped etcd watch resumes from the cache revision + 1 (no gap). If etcd compacted that
  revision, the cache relists and emits synthetic ADDED/MODIFIED/DELETED events for the
  differences, all at the relist revision, so watchers stay level-correct without a 410.
- Event objects are shared between watchers: treat them as read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from apiserver.storage.interface import Obj, StoredEvent
from machinery import errors
from machinery.backoff import Backoff

log = logging.getLogger(__name__)

Predicate = Callable[[Obj], bool]
IndexFn = Callable[[Obj], str | None]


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One etcd change: `value` is the decoded new object (resourceVersion set), None on delete."""

    key: str
    value: Obj | None
    revision: int


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """What an etcd watch stream yields: events, or (no events) a safe progress revision."""

    events: list[RawEvent]
    progress_rev: int | None = None


class WatchSource(Protocol):
    """What the cache needs from the store (EtcdStorage implements it)."""

    async def snapshot(self, prefix: str, revision: int | None) -> tuple[dict[str, Obj], int]:
        """All objects under prefix at `revision` (None: latest) and the revision read."""

    def stream(self, prefix: str, start_rev: int) -> AsyncIterator[WatchBatch]:
        """Changes from start_rev on; raises errors.Expired if compacted, ServiceUnavailable."""

    async def current_revision(self) -> int:
        """The store's current revision."""


@dataclass(frozen=True, slots=True)
class CachedEvent:
    type: str  # ADDED, MODIFIED, DELETED
    key: str
    obj: Obj  # DELETED: the last state with resourceVersion = the deletion's revision
    prev: Obj | None
    revision: int
    index_values: tuple[str, ...]


def _matches(predicate: Predicate | None, obj: Obj) -> bool:
    if predicate is None:
        return True
    try:
        return predicate(obj)
    except Exception:  # a broken selector must not kill the fan-out of everyone else
        log.exception("watch predicate failed; treating the object as not matching")
        return False


def transition(ev: CachedEvent, predicate: Predicate | None) -> StoredEvent | None:
    """The event a watcher with `predicate` sees, or None (Kubernetes' filter semantics)."""
    old = ev.prev is not None and _matches(predicate, ev.prev)
    new = ev.type != "DELETED" and _matches(predicate, ev.obj)
    if new:
        return StoredEvent("MODIFIED" if old else "ADDED", ev.obj, ev.revision)
    if old:
        return StoredEvent("DELETED", ev.obj, ev.revision)
    return None


class _Watcher:
    def __init__(
        self, prefix: str, predicate: Predicate | None, index_value: str | None,
        bookmarks: bool, min_rv: int, queue_size: int,
    ) -> None:
        self.prefix = prefix
        self.predicate = predicate
        self.index_value = index_value
        self.bookmarks = bookmarks
        self.min_rv = min_rv  # events at or below this revision were seen by the client
        self.last_rv = min_rv
        self.queue_size = queue_size
        self.items: deque[StoredEvent] = deque()
        self.wakeup = asyncio.Event()
        self.closed = False

    def offer(self, ev: CachedEvent, *, bounded: bool = True) -> bool:
        """Queue the watcher's view of `ev`; False if the watcher is too far behind."""
        if ev.revision <= self.min_rv or not ev.key.startswith(self.prefix):
            return True
        out = transition(ev, self.predicate)
        return True if out is None else self.put(out, bounded=bounded)

    def put(self, item: StoredEvent, *, bounded: bool = True) -> bool:
        if bounded and len(self.items) >= self.queue_size:
            return False
        self.items.append(item)
        self.last_rv = item.resource_version
        self.wakeup.set()
        return True

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


class WatchCache:
    def __init__(
        self, source: WatchSource, prefix: str, *, capacity: int = 10_000,
        bookmark_interval_s: float = 5.0, queue_size: int = 1_000, index_fn: IndexFn | None = None,
    ) -> None:
        self.source = source
        self.prefix = prefix
        self.capacity = capacity
        self.bookmark_interval_s = bookmark_interval_s
        self.queue_size = queue_size
        self.index_fn = index_fn
        self._objects: dict[str, Obj] = {}
        self._buffer: deque[CachedEvent] = deque()
        self._rev = 0
        self._oldest = 0  # every event with revision > _oldest is in _buffer
        self._unindexed: set[_Watcher] = set()
        self._indexed: dict[str, set[_Watcher]] = {}
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._initial: dict[str, Obj] | None = None
        self._advanced = asyncio.Event()  # set (and replaced) whenever the revision moves

    @property
    def revision(self) -> int:
        """Every event under the prefix up to this revision has been applied and fanned out."""
        return self._rev

    @property
    def oldest_revision(self) -> int:
        """A watch from any revision >= this one can be served from the buffer."""
        return self._oldest

    @property
    def watcher_count(self) -> int:
        return len(self._all_watchers())

    async def wait_for_revision(self, revision: int, *, timeout_s: float) -> bool:
        """Wait until every event up to `revision` is applied (`self.revision >= revision`);
        False if that takes longer than `timeout_s` (the watch is down or lagging)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._rev < revision:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), remaining)
        return True

    def _notify_advanced(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    def objects(self, prefix: str | None = None) -> list[Obj]:
        """Current objects under prefix (default: all), sorted by key; read-only."""
        p = prefix or self.prefix
        return [self._objects[k] for k in sorted(k for k in self._objects if k.startswith(p))]

    def cached(self, key: str) -> Obj | None:
        """The cached object at `key` (read-only; possibly stale), None when absent or when the
        cache is not running. A hint for optimistic writes, never an answer to a read."""
        return self._objects.get(key) if self._started else None

    async def start(self, *, at_revision: int | None = None) -> None:
        """Snapshot then watch. `at_revision` lets a first watcher from an older revision be
        served: the snapshot is read there and the buffer fills from it (falls back to the
        latest revision when etcd compacted it). Raises ServiceUnavailable if etcd is down."""
        if self._started:  # the common case (every fresh read calls this): no lock round
            return
        async with self._start_lock:
            if self._started:
                return
            try:
                objects, rev = await self.source.snapshot(self.prefix, at_revision)
            except errors.Expired:
                objects, rev = await self.source.snapshot(self.prefix, None)
            self._objects, self._rev, self._oldest = objects, rev, rev
            # The objects at the buffer's start, for resumes from older revisions (see
            # _history): shared references, kept until the buffer starts later.
            self._initial = dict(objects)
            self._tasks = [
                asyncio.create_task(self._run(), name=f"watchcache {self.prefix}"),
                asyncio.create_task(self._bookmark_loop(), name=f"bookmarks {self.prefix}"),
            ]
            self._started = True

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks, self._started = [], False
        for w in list(self._all_watchers()):
            self._unregister(w)
            w.close()

    # --- the etcd side ---------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                async for batch in self.source.stream(self.prefix, self._rev + 1):
                    backoff.reset()
                    for raw in batch.events:
                        self._apply(raw)
                    if not batch.events and batch.progress_rev and batch.progress_rev > self._rev:
                        self._rev = batch.progress_rev
                    self._notify_advanced()
                log.info("etcd watch on %s ended; resuming from %d", self.prefix, self._rev + 1)
            except errors.Expired:
                log.warning("watch cache %s: revision %d compacted; relisting", self.prefix, self._rev)
                with contextlib.suppress(errors.ApiError):
                    await self._relist()
                    self._notify_advanced()
                    continue
            except errors.ApiError as e:
                log.warning("watch cache %s: etcd watch failed (%s); retrying", self.prefix, e)
            except Exception:
                log.exception("watch cache %s: unexpected watch failure", self.prefix)
            await asyncio.sleep(backoff.next())

    def _index_values(self, *objs: Obj | None) -> tuple[str, ...]:
        if self.index_fn is None:
            return ()
        vals: list[str] = []
        for o in objs:
            if o is not None:
                v = self.index_fn(o) or ""
                if v not in vals:
                    vals.append(v)
        return tuple(vals)

    def _apply(self, raw: RawEvent) -> None:
        if raw.revision < self._rev:
            return  # older than what we hold (cannot happen when resuming from _rev + 1)
        prev = self._objects.get(raw.key)
        if raw.value is None:
            if prev is None:
                self._rev = raw.revision
                return
            del self._objects[raw.key]
            meta = {**prev.get("metadata", {}), "resourceVersion": str(raw.revision)}
            ev = CachedEvent("DELETED", raw.key, {**prev, "metadata": meta}, prev, raw.revision,
                             self._index_values(prev))
        else:
            self._objects[raw.key] = raw.value
            ev = CachedEvent("ADDED" if prev is None else "MODIFIED", raw.key, raw.value, prev,
                             raw.revision, self._index_values(prev, raw.value))
        self._emit(ev)

    async def _relist(self) -> None:
        objects, rev = await self.source.snapshot(self.prefix, None)
        old = self._objects
        events: list[RawEvent] = []
        for key in sorted(set(old) | set(objects)):
            new = objects.get(key)
            if new is None:
                events.append(RawEvent(key, None, rev))
            elif key not in old or old[key].get("metadata", {}).get("resourceVersion") != \
                    new.get("metadata", {}).get("resourceVersion"):
                events.append(RawEvent(key, new, rev))
        # Synthetic events all carry the relist revision: later than anything delivered
        # before, so watchers still see revisions in order.
        for raw in events:
            self._apply(raw)
        self._rev = max(self._rev, rev)

    def _emit(self, ev: CachedEvent) -> None:
        if len(self._buffer) >= self.capacity:
            self._oldest = self._buffer.popleft().revision
            self._initial = None
        self._buffer.append(ev)
        self._rev = ev.revision
        for w in self._targets(ev):
            if not w.offer(ev):
                log.warning("watch cache %s: closing a watcher %d events behind",
                            self.prefix, w.queue_size)
                self._unregister(w)
                w.close()

    def _targets(self, ev: CachedEvent) -> list[_Watcher]:
        out = list(self._unindexed)
        for v in ev.index_values:
            out.extend(self._indexed.get(v, ()))
        return out

    async def _bookmark_loop(self) -> None:
        while True:
            await asyncio.sleep(self.bookmark_interval_s)
            rev = self._rev
            bookmark = StoredEvent("BOOKMARK", {"metadata": {"resourceVersion": str(rev)}}, rev)
            for w in list(self._all_watchers()):
                if w.bookmarks and rev > w.last_rv and not w.put(bookmark):
                    self._unregister(w)
                    w.close()

    # --- the watcher side ------------------------------------------------------------------

    def _all_watchers(self) -> list[_Watcher]:
        out = list(self._unindexed)
        for s in self._indexed.values():
            out.extend(s)
        return out

    def _register(
        self, prefix: str, from_rv: int, predicate: Predicate | None, bookmarks: bool,
        index_value: str | None, initial_events: bool,
    ) -> _Watcher:
        # No await in here: registration and replay are atomic with respect to fan-out, so
        # the watcher gets every event exactly once.
        if from_rv and from_rv < self._oldest:
            raise errors.Expired(f"too old resource version: {from_rv} ({self._oldest})")
        start = from_rv if from_rv else self._rev
        w = _Watcher(prefix, predicate, index_value, bookmarks, max(start, 0), self.queue_size)
        if initial_events and not from_rv:
            for obj in self.objects(prefix):
                if _matches(predicate, obj):
                    w.put(StoredEvent("ADDED", obj, int(obj["metadata"]["resourceVersion"])),
                          bounded=False)
            w.last_rv = start
        if start < self._rev:
            replay: list[CachedEvent] = []
            for ev in reversed(self._buffer):
                if ev.revision <= start:
                    break
                replay.append(ev)
            for ev in reversed(replay):
                w.offer(ev, bounded=False)
        if index_value is None or self.index_fn is None:
            self._unindexed.add(w)
        else:
            self._indexed.setdefault(index_value, set()).add(w)
        return w

    async def _history(self, prefix: str, from_rv: int, to_rv: int,
                       predicate: Predicate | None) -> list[StoredEvent]:
        """What changed under `prefix` in (from_rv, to_rv], from etcd (see module doc)."""
        initial = self._initial if to_rv == self._oldest else None
        try:
            before, _ = await self.source.snapshot(prefix, from_rv)
            if initial is not None:  # the cache's own start: no second read per resuming client
                after = {k: v for k, v in initial.items() if k.startswith(prefix)}
            else:
                after, _ = await self.source.snapshot(prefix, to_rv)
        except errors.Expired:
            raise errors.Expired(f"too old resource version: {from_rv} ({self._oldest})") from None
        changes: list[CachedEvent] = []
        for key, obj in after.items():
            rev = int(obj["metadata"]["resourceVersion"])
            if rev <= from_rv:
                continue
            prev = before.get(key)
            if prev is not None and (prev.get("metadata") or {}).get("uid") != (obj.get("metadata") or {}).get("uid"):
                gone = {**prev, "metadata": {**prev["metadata"], "resourceVersion": str(rev)}}
                changes.append(CachedEvent("DELETED", key, gone, prev, rev, ()))
                prev = None
            changes.append(CachedEvent("ADDED" if prev is None else "MODIFIED", key, obj, prev, rev, ()))
        for key, prev in before.items():
            if key not in after:
                gone = {**prev, "metadata": {**prev["metadata"], "resourceVersion": str(to_rv)}}
                changes.append(CachedEvent("DELETED", key, gone, prev, to_rv, ()))
        changes.sort(key=lambda ev: ev.revision)  # stable: a DELETED stays before its ADDED
        out = [transition(ev, predicate) for ev in changes]
        return [ev for ev in out if ev is not None]

    def _unregister(self, w: _Watcher) -> None:
        self._unindexed.discard(w)
        bucket = self._indexed.get(w.index_value or "")
        if bucket is not None and w in bucket:
            bucket.discard(w)
            if not bucket:
                del self._indexed[w.index_value or ""]

    async def watch(
        self,
        prefix: str | None = None,
        *,
        from_rv: int = 0,
        predicate: Predicate | None = None,
        bookmarks: bool = False,
        index_value: str | None = None,
        initial_events: bool = False,
    ) -> AsyncIterator[StoredEvent]:
        """Events under `prefix` (default: the whole resource) after `from_rv`; see module doc.
        `initial_events` (only with from_rv == 0): first an ADDED per current matching object."""
        p = prefix or self.prefix
        if not p.startswith(self.prefix):
            raise ValueError(f"{p!r} is not under {self.prefix!r}")
        if from_rv and (not self._started or from_rv > self._rev):
            current = await self.source.current_revision()
            if from_rv > current:  # Kubernetes' answer: 504, retry in a second
                raise errors.Timeout(
                    f"Too large resource version: {from_rv}, current: {current}", retry_after_s=1,
                    causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version",
                             "field": ""}])
        await self.start(at_revision=from_rv or None)
        history: list[StoredEvent] = []
        start_rv = from_rv
        if from_rv and from_rv < self._oldest:
            start_rv = self._oldest
            history = await self._history(p, from_rv, start_rv, predicate)
        w = self._register(p, start_rv, predicate, bookmarks, index_value, initial_events)
        w.items.extendleft(reversed(history))
        try:
            while True:
                while w.items:
                    yield w.items.popleft()
                if w.closed:
                    return
                w.wakeup.clear()
                await w.wakeup.wait()
        finally:
            self._unregister(w)
