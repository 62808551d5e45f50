"""Informers: a list+watch cache of one kind with event handlers and indexes (client-go's
reflector + shared index informer, in one asyncio task).

Contract:
- `run()` lists (paged with `limit=500` and `continue`), delivers the list to the handlers,
  marks the informer synced, then watches from the list's resourceVersion. It runs until
  cancelled and never dies from an API error:
  * a watch that ends normally is resumed from the last resourceVersion seen (events or
    BOOKMARKs), without a relist and without repeating handler calls;
  * a dropped connection, 5xx, 429 or any other error is retried after a jittered backoff
    (0.8 s doubling to 30 s, reset after a healthy minute), resuming from the last
    resourceVersion when a list already succeeded;
  * `errors.Expired`/`errors.Gone` (410: the resourceVersion was compacted) relists and
    diffs against the cache: `on_add` for new keys, `on_update` for changed objects,
    `on_delete` (with the last known object) for keys that vanished.
- Event dedup: an event whose object equals the cached one (same resourceVersion and same
  content), or whose integer resourceVersion is older than the cached one, is not delivered:
  a resumed watch may replay the boundary event. ADDED for a cached key is an update,
  MODIFIED for an unknown key an add, DELETED for an unknown key is ignored.
- `resync_s > 0`: every `resync_s`, `on_update(obj, obj)` for every cached object (handlers
  decide what a same-object update means, as in client-go).
- Handlers are synchronous callbacks that only route keys to queues. An exception in a
  handler is logged with its traceback and never stops the informer or other handlers.
  Handlers added after objects are cached receive `on_add` for each of them first.
- Indexes (`add_index(name, fn)`, `by_index(name, value)`) are updated before handlers run,
  so a handler sees the new state. `namespace_index` is registered as "namespace".
- `wait_synced(timeout_s)` returns once the first complete list reached the handlers and
  raises `TimeoutError` when `timeout_s` passes first.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from machinery import errors
from machinery.backoff import Backoff
from machinery.meta import Resource

if TYPE_CHECKING:
    from machinery.client import KubeClient

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Resource)
IndexFn = Callable[[Any], list[str]]
AddFn = Callable[[Any], None]
UpdateFn = Callable[[Any, Any], None]
DeleteFn = Callable[[Any], None]

NAMESPACE_INDEX = "namespace"
LIST_PAGE_SIZE = 500


def namespace_index(obj: Any) -> list[str]:
    """Index by namespace (cluster-scoped objects are not indexed)."""
    ns = obj.metadata.namespace
    return [ns] if ns else []


def path_index(path: str) -> IndexFn:
    """An index on a dotted attribute path, e.g. `path_index("spec.nodeName")` for pods by node.

    Missing or empty values are not indexed.
    """
    parts = path.split(".")

    def index(obj: Any) -> list[str]:
        cur: Any = obj
        for p in parts:
            cur = cur.get(p) if isinstance(cur, dict) else getattr(cur, p, None)
            if cur is None:
                return []
        return [str(cur)] if cur != "" else []

    return index


def _rv_int(rv: str | None) -> int | None:
    try:
        return int(rv) if rv else None
    except ValueError:
        return None  # resourceVersions are opaque: only compare them when they are integers


@dataclass(frozen=True)
class _Handlers:
    on_add: AddFn | None
    on_update: UpdateFn | None
    on_delete: DeleteFn | None


class Informer(Generic[T]):
    """A cache of the objects of one kind matching (namespace, selectors). See module doc."""

    def __init__(
        self,
        client: KubeClient,
        cls: type[T],
        *,
        namespace: str | None = None,
        label_selector: Any = None,
        field_selector: Any = None,
        resync_s: float = 0.0,
        backoff: Backoff | None = None,
        watch_timeout_s: float | None = None,
    ) -> None:
        self.client = client
        self.cls = cls
        self.namespace = namespace
        if getattr(label_selector, "is_nothing", False):
            # str(nothing) is "" which the server reads as "everything": refuse loudly.
            raise ValueError("an informer cannot watch a selector that matches nothing")
        # Selector objects stringify to their wire form; keep None/"" as "no selector".
        self.label_selector = str(label_selector) if label_selector else None
        self.field_selector = str(field_selector) if field_selector else None
        self.resync_s = resync_s
        self.backoff = backoff or Backoff(0.8, 30.0, reset_after_s=60.0)
        self.watch_timeout_s = watch_timeout_s
        self._items: dict[str, T] = {}
        self._handlers: builtins.list[_Handlers] = []
        self._indexers: dict[str, IndexFn] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._last_rv: str | None = None
        self._synced = asyncio.Event()
        self.add_index(NAMESPACE_INDEX, namespace_index)

    # ------------------------------------------------------------ cache access

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    @property
    def last_resource_version(self) -> str | None:
        return self._last_rv

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def list(self) -> builtins.list[T]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    async def wait_synced(self, timeout_s: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout_s)

    # ------------------------------------------------------------ handlers and indexes

    def add_handlers(
        self,
        on_add: AddFn | None = None,
        on_update: UpdateFn | None = None,
        on_delete: DeleteFn | None = None,
    ) -> None:
        h = _Handlers(on_add, on_update, on_delete)
        self._handlers.append(h)
        for obj in list(self._items.values()):  # a late handler first learns what exists
            self._call(h.on_add, obj)

    def add_index(self, name: str, fn: IndexFn) -> None:
        self._indexers[name] = fn
        self._indices[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, key, obj, add=True)

    def by_index(self, name: str, value: str) -> builtins.list[T]:
        """Objects whose index `name` yields `value` (KeyError for an unknown index)."""
        return [self._items[k] for k in self.index_keys(name, value)]

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        return sorted(self._indices[name].get(value, ()))

    def _index_one(self, name: str, key: str, obj: T, *, add: bool) -> None:
        try:
            values = self._indexers[name](obj)
        except Exception:
            log.exception("informer %s: index %s failed on %s", self.cls.KIND, name, key)
            return
        idx = self._indices[name]
        for v in values:
            if add:
                idx.setdefault(v, set()).add(key)
            else:
                keys = idx.get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del idx[v]

    def _store(self, key: str, obj: T | None) -> None:
        """Put (or, with None, remove) an object and keep every index in step."""
        old = self._items.get(key)
        for name in self._indexers:
            if old is not None:
                self._index_one(name, key, old, add=False)
            if obj is not None:
                self._index_one(name, key, obj, add=True)
        if obj is None:
            self._items.pop(key, None)
        else:
            self._items[key] = obj

    def _call(self, fn: Callable[..., None] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("informer %s: event handler %r failed", self.cls.KIND, fn)

    def _notify_add(self, obj: T) -> None:
        for h in tuple(self._handlers):
            self._call(h.on_add, obj)

    def _notify_update(self, old: T, new: T) -> None:
        for h in tuple(self._handlers):
            self._call(h.on_update, old, new)

    def _notify_delete(self, obj: T) -> None:
        for h in tuple(self._handlers):
            self._call(h.on_delete, obj)

    # ------------------------------------------------------------ reflector

    async def run(self) -> None:
        """List and watch until cancelled (see the module docstring for the error policy)."""
        resync = asyncio.create_task(self._resync_loop()) if self.resync_s > 0 else None
        need_list = True
        try:
            while True:
                try:
                    if need_list:
                        await self._list_and_replace()
                        need_list = False
                    if await self._watch_once():
                        continue  # a normal end with progress: resume at once
                    await asyncio.sleep(self.backoff.next())  # a watch that ends at once
                except asyncio.CancelledError:
                    raise
                except (errors.Expired, errors.Gone) as exc:
                    log.info("informer %s: resourceVersion %s too old (%s): relisting", self.cls.KIND, self._last_rv, exc)
                    need_list = True
                    await asyncio.sleep(self.backoff.next() / 8)  # quick, but no tight loop
                except Exception as exc:  # noqa: BLE001 - reported, never raised past this point
                    delay = self.backoff.next()
                    log.warning(
                        "informer %s: %s failed: %s: %s; retrying in %.2fs",
                        self.cls.KIND, "list" if need_list else "watch", type(exc).__name__, exc, delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            if resync is not None:
                resync.cancel()
                with suppress(asyncio.CancelledError):
                    await resync

    def _list_kwargs(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "label_selector": self.label_selector,
            "field_selector": self.field_selector,
        }

    async def _list_all(self) -> tuple[builtins.list[T], str | None]:
        items: builtins.list[T] = []
        token: str | None = None
        rv: str | None = None
        paged = True
        while True:
            try:
                if paged:
                    page = await self.client.list(
                        self.cls, limit=LIST_PAGE_SIZE, continue_token=token, **self._list_kwargs()
                    )
                else:
                    page = await self.client.list(self.cls, **self._list_kwargs())
            except (errors.Expired, errors.Gone):
                if token is None:
                    raise
                # The continue token outlived compaction: read everything in one go.
                log.info("informer %s: continue token expired, listing without paging", self.cls.KIND)
                items, token, rv, paged = [], None, None, False
                continue
            items.extend(page.items)
            rv = page.resource_version or rv
            token = page.continue_token if paged else None
            if not token:
                return items, rv

    async def _list_and_replace(self) -> None:
        items, rv = await self._list_all()
        fresh: dict[str, T] = {obj.key: obj for obj in items}
        vanished = [k for k in self._items if k not in fresh]
        for key, obj in fresh.items():
            old = self._items.get(key)
            self._store(key, obj)
            if old is None:
                self._notify_add(obj)
            elif old != obj:
                self._notify_update(old, obj)
        for key in vanished:
            old_obj = self._items[key]
            self._store(key, None)
            self._notify_delete(old_obj)
        self._last_rv = rv
        if not self._synced.is_set():
            log.info("informer %s: synced %d objects at resourceVersion %s", self.cls.KIND, len(fresh), rv)
        self._synced.set()

    async def _watch_once(self) -> bool:
        """One watch request; True when it made progress (events) or lasted a while."""
        timeout = self.watch_timeout_s
        if timeout is None:
            timeout = 300.0 * (1.0 + random.random())  # spread reconnects like client-go
        loop = asyncio.get_running_loop()
        started = loop.time()
        events = 0
        stream = self.client.watch(
            self.cls, resource_version=self._last_rv, timeout_s=timeout, allow_bookmarks=True, **self._list_kwargs()
        )
        try:
            async for ev in stream:
                events += 1
                self._handle_event(ev)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with suppress(Exception):
                    await aclose()
        return events > 0 or loop.time() - started >= 1.0

    def _handle_event(self, ev: Any) -> None:
        etype = ev.type
        if etype == "ERROR":
            raw_obj = (ev.raw or {}).get("object") or {}
            raise errors.error_from_status(raw_obj)
        if etype == "BOOKMARK":
            rv = _event_rv(ev)
            if rv:
                self._last_rv = rv
            return
        obj: T = ev.object
        if not isinstance(obj, self.cls):
            obj = self.cls.model_validate(obj.to_dict() if hasattr(obj, "to_dict") else obj)
        key = obj.key
        rv = obj.resource_version
        old = self._items.get(key)
        if rv:
            self._last_rv = rv
        if etype in ("ADDED", "MODIFIED"):
            if old is None:
                self._store(key, obj)
                self._notify_add(obj)
                return
            if self._is_stale(old, obj):
                return
            self._store(key, obj)
            self._notify_update(old, obj)
        elif etype == "DELETED":
            if old is None:
                return  # already gone (a replayed event, or never matched our selectors)
            old_rv, new_rv = _rv_int(old.resource_version), _rv_int(rv)
            if old_rv is not None and new_rv is not None and new_rv < old_rv:
                return
            self._store(key, None)
            self._notify_delete(obj)
        else:
            log.warning("informer %s: ignoring watch event of unknown type %r", self.cls.KIND, etype)

    @staticmethod
    def _is_stale(old: T, new: T) -> bool:
        old_rv, new_rv = _rv_int(old.resource_version), _rv_int(new.resource_version)
        if old_rv is not None and new_rv is not None and new_rv < old_rv:
            return True
        return old.resource_version == new.resource_version and old == new

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            if not self.has_synced:
                continue
            for obj in list(self._items.values()):
                self._notify_update(obj, obj)


def _event_rv(ev: Any) -> str | None:
    meta = getattr(getattr(ev, "object", None), "metadata", None)
    rv = getattr(meta, "resourceVersion", None)
    if rv:
        return str(rv)
    raw_obj = (getattr(ev, "raw", None) or {}).get("object") or {}
    rv = (raw_obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv else None


class InformerFactory:
    """Shares one informer per (kind, namespace, selectors) among all controllers."""

    def __init__(self, client: KubeClient, *, resync_s: float = 0.0) -> None:
        self.client = client
        self.resync_s = resync_s
        self._informers: dict[tuple[Any, ...], Informer[Any]] = {}
        self._tasks: dict[tuple[Any, ...], asyncio.Task[None]] = {}
        self._started = False

    def informer(
        self,
        cls: type[T],
        namespace: str | None = None,
        label_selector: Any = None,
        field_selector: Any = None,
    ) -> Informer[T]:
        key = (cls, namespace, str(label_selector or ""), str(field_selector or ""))
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(
                self.client, cls, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, resync_s=self.resync_s,
            )
            self._informers[key] = inf
            if self._started:  # created after start(): start it right away
                self._start_one(key, inf)
        return inf

    def informers(self) -> Iterable[Informer[Any]]:
        return list(self._informers.values())

    def _start_one(self, key: tuple[Any, ...], inf: Informer[Any]) -> None:
        self._tasks[key] = asyncio.create_task(inf.run(), name=f"informer-{inf.cls.KIND}")

    async def start(self) -> None:
        self._started = True
        for key, inf in self._informers.items():
            if key not in self._tasks:
                self._start_one(key, inf)

    async def wait_synced(self, timeout_s: float | None = None) -> None:
        await asyncio.wait_for(
            asyncio.gather(*(inf.wait_synced() for inf in self._informers.values())), timeout_s
        )

    async def stop(self) -> None:
        self._started = False
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
