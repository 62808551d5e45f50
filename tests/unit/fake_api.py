"""A scriptable in-memory stand-in for `machinery.client.ApiClient.list()/watch()`.

It behaves like the API server's watch cache, so the informer can be tested hard:
- objects live in a store with an integer resourceVersion that grows with every write, and
  every write is kept in a history, so a watch from resourceVersion N replays what happened
  after N (like long-poll resumption) and then streams live writes;
- `compact()` forgets history: a watch from before it raises `errors.Expired`, as do
  continue tokens issued before it;
- lists are paged with `limit`/`continue_token` over a snapshot (turn paging off with
  `paging=False`); label/field selectors and namespaces filter lists and watches, and an
  object that stops matching is sent as DELETED (starts matching: ADDED), as Kubernetes does;
- `drop_watches(exc)` breaks every open stream with `exc`, `end_watches()` ends them
  normally, `bookmark()` sends a BOOKMARK, `inject(type, raw)` sends any raw event;
- `fail_list(*excs)` / `fail_watch(*excs)` make the next calls raise;
- `replay_boundary=True` makes a resumed watch also send the event *at* N (a duplicate the
  informer must swallow); every call is recorded in `list_calls` / `watch_calls`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from machinery import errors
from machinery.meta import Resource, object_key
from machinery.selectors import parse_field_selector, parse_label_selector


class Thing(Resource):
    """A minimal namespaced kind for informer tests (the real models are not needed)."""

    KIND: ClassVar[str] = "Thing"
    PLURAL: ClassVar[str] = "things"
    SINGULAR: ClassVar[str] = "thing"
    GROUP: ClassVar[str] = "test.kubelite.io"

    spec: dict[str, Any] | None = None


@dataclass
class FakeList:
    items: list[Any]
    resource_version: str
    continue_token: str | None = None


@dataclass
class FakeWatchEvent:
    type: str
    object: Any
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Change:
    rv: int
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


_END = object()


class FakeApi:
    def __init__(self, *, paging: bool = True, replay_boundary: bool = False, start_rv: int = 100) -> None:
        self.paging = paging
        self.replay_boundary = replay_boundary
        self.rv = start_rv
        self.objects: dict[str, dict[str, Any]] = {}
        self.history: list[_Change] = []
        self.compacted_rv = 0
        self.list_calls: list[dict[str, Any]] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.expire_continue_tokens = False
        self.watch_ends_immediately = False
        self._list_errors: list[BaseException] = []
        self._watch_errors: list[BaseException] = []
        self._watchers: list[asyncio.Queue[Any]] = []
        self._snapshots: dict[int, tuple[int, list[dict[str, Any]]]] = {}
        self._snap_ids = itertools.count(1)

    # ------------------------------------------------------------ writes

    def _write(self, etype: str, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        key = object_key(obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if etype == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        change = _Change(self.rv, etype, obj, old)
        self.history.append(change)
        for q in self._watchers:
            q.put_nowait(change)
        return obj

    def create(
        self, name: str, namespace: str | None = "default", *, labels: dict[str, str] | None = None,
        spec: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
        if namespace:
            meta["namespace"] = namespace
        if labels:
            meta["labels"] = labels
        obj = {"apiVersion": Thing.api_version(), "kind": "Thing", "metadata": meta, "spec": spec or {}}
        if object_key(namespace, name) in self.objects:
            raise errors.AlreadyExists(name)
        return self._write("ADDED", obj, None)

    def update(
        self, key: str, *, spec: dict[str, Any] | None = None, labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        old = self.objects[key]
        new = copy.deepcopy(old)
        if spec is not None:
            new["spec"] = spec
        if labels is not None:
            new["metadata"]["labels"] = labels
        return self._write("MODIFIED", new, old)

    def delete(self, key: str) -> dict[str, Any]:
        old = self.objects[key]
        return self._write("DELETED", old, old)

    def compact(self) -> None:
        """Forget all history up to now: older watches and continue tokens get 410."""
        self.compacted_rv = self.rv
        self.history.clear()

    # ------------------------------------------------------------ stream control

    def drop_watches(self, exc: BaseException | None = None) -> None:
        for q in self._watchers:
            q.put_nowait(exc or errors.ConnectionFailed("connection reset by fake"))

    def end_watches(self) -> None:
        for q in self._watchers:
            q.put_nowait(_END)

    def bookmark(self) -> None:
        self.inject("BOOKMARK", {"metadata": {"resourceVersion": str(self.rv)}})

    def inject(self, etype: str, raw_obj: dict[str, Any]) -> None:
        for q in self._watchers:
            q.put_nowait(FakeWatchEvent(etype, None, {"type": etype, "object": raw_obj}))

    def fail_list(self, *excs: BaseException) -> None:
        self._list_errors.extend(excs)

    def fail_watch(self, *excs: BaseException) -> None:
        self._watch_errors.extend(excs)

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    # ------------------------------------------------------------ the client API

    @staticmethod
    def _matcher(namespace: str | None, label_selector: str | None, field_selector: str | None) -> Any:
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

    async def list(
        self, cls: type[Resource], *, namespace: str | None = None, label_selector: str | None = None,
        field_selector: str | None = None, limit: int | None = None, continue_token: str | None = None,
    ) -> FakeList:
        self.list_calls.append(
            {"namespace": namespace, "label_selector": label_selector, "field_selector": field_selector,
             "limit": limit, "continue_token": continue_token}
        )
        await asyncio.sleep(0)
        if self._list_errors:
            raise self._list_errors.pop(0)
        match = self._matcher(namespace, label_selector, field_selector)
        if continue_token:
            snap_id, offset = (int(x) for x in continue_token.split(":"))
            snap_rv, items = self._snapshots[snap_id]
            if self.expire_continue_tokens or snap_rv < self.compacted_rv:
                raise errors.Expired("The provided continue parameter is too old")
        else:
            snap_rv = self.rv
            items = [copy.deepcopy(o) for _, o in sorted(self.objects.items()) if match(o)]
            snap_id, offset = next(self._snap_ids), 0
            self._snapshots[snap_id] = (snap_rv, items)
        if not self.paging or not limit:
            limit = len(items) - offset
        page = items[offset : offset + limit]
        nxt = offset + limit
        token = f"{snap_id}:{nxt}" if nxt < len(items) else None
        return FakeList([cls.model_validate(o) for o in page], str(snap_rv), token)

    def watch(
        self, cls: type[Resource], *, namespace: str | None = None, resource_version: str | None = None,
        label_selector: str | None = None, field_selector: str | None = None, timeout_s: float | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[FakeWatchEvent]:
        self.watch_calls.append(
            {"namespace": namespace, "resource_version": resource_version, "label_selector": label_selector,
             "field_selector": field_selector, "timeout_s": timeout_s, "allow_bookmarks": allow_bookmarks}
        )
        return self._stream(cls, namespace, resource_version, label_selector, field_selector, timeout_s, allow_bookmarks)

    async def _stream(
        self, cls: type[Resource], namespace: str | None, resource_version: str | None,
        label_selector: str | None, field_selector: str | None, timeout_s: float | None, allow_bookmarks: bool,
    ) -> AsyncIterator[FakeWatchEvent]:
        if self._watch_errors:
            raise self._watch_errors.pop(0)
        if self.watch_ends_immediately:
            return
        match = self._matcher(namespace, label_selector, field_selector)
        q: asyncio.Queue[Any] = asyncio.Queue()
        # Register before replaying so no write between replay and live streaming is lost.
        self._watchers.append(q)
        try:
            backlog: list[_Change] = []
            if resource_version:
                since = int(resource_version)
                if since < self.compacted_rv:
                    raise errors.Expired(f"too old resource version: {since} ({self.compacted_rv})")
                backlog = [c for c in self.history if c.rv > since or (self.replay_boundary and c.rv == since)]
            else:
                backlog = [_Change(self.rv, "ADDED", o, None) for o in self.objects.values()]
            for change in backlog:
                ev = self._translate(cls, change, match)
                if ev is not None:
                    yield ev
            loop = asyncio.get_running_loop()
            deadline = None if timeout_s is None else loop.time() + timeout_s
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    item = await asyncio.wait_for(q.get(), remaining)
                except TimeoutError:
                    return
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, FakeWatchEvent):
                    if item.type == "BOOKMARK" and not allow_bookmarks:
                        continue
                    raw_obj = item.raw["object"]
                    if item.type == "ERROR":
                        yield FakeWatchEvent("ERROR", None, item.raw)
                    else:
                        yield FakeWatchEvent(item.type, cls.model_validate(raw_obj), item.raw)
                    continue
                if item.rv <= backlog_max(backlog):
                    continue  # already replayed
                ev = self._translate(cls, item, match)
                if ev is not None:
                    yield ev
        finally:
            self._watchers.remove(q)

    @staticmethod
    def _translate(cls: type[Resource], c: _Change, match: Any) -> FakeWatchEvent | None:
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
        return FakeWatchEvent(etype, cls.model_validate(c.obj), {"type": etype, "object": copy.deepcopy(c.obj)})


def backlog_max(backlog: list[_Change]) -> int:
    return max((c.rv for c in backlog), default=-1)
