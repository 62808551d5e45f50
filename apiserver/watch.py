"""Watch over HTTP: newline-delimited JSON events in one chunked response.

Contract (`?watch=1` on a collection path):
- Each line is `{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}`.
- resourceVersion unset or "0": first an ADDED event per current (matching) object, read in one
  consistent list, then every change after that list's revision. `sendInitialEvents=true`
  additionally ends the initial events with a BOOKMARK annotated
  `k8s.io/initial-events-end: "true"` (kubectl's watch-list). resourceVersion=N: every change
  after N (no initial events unless sendInitialEvents=true).
- labelSelector / fieldSelector filter events (an object that stops matching arrives as
  DELETED, one that starts matching as ADDED); allowWatchBookmarks=true adds periodic BOOKMARKs.
- The stream ends after timeoutSeconds, or when the client leaves (`kubectl get -w` sends no
  timeoutSeconds and expects the stream to stay open until it quits).
- Accept `as=Table` (kubectl get -w): every object is sent as a meta.k8s.io/v1 Table of one
  row; only the first carries columnDefinitions, as in Kubernetes.
- Fan-out is cheap: the encoded line of an event is cached per (type, object identity,
  rendering), so 1,000 watchers of one resource serialize each change once.
- A resourceVersion older than the server keeps: an ERROR event carrying a 410 Expired Status,
  then the end of the stream; other failures after the response started are ERROR events too.
  Failures before it starts (bad parameters, etcd down for the initial list) are plain HTTP
  errors with a Status body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from apiserver import jsonfast, tables
from apiserver.handlers_common import (
    Ctx,
    Obj,
    ResourceClass,
    collection_key,
    flag,
    int_param,
    resource_version_param,
)
from apiserver.metrics import WATCHERS
from apiserver.selection import selection
from apiserver.storage.interface import StoredEvent
from machinery import errors

log = logging.getLogger(__name__)

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _line(event_type: str, obj: Any) -> bytes:
    return jsonfast.dumps({"type": event_type, "object": obj}) + b"\n"


class LineCache:
    """Encoded event lines keyed by (type, id(object), rendering). The watch cache hands the
    same (read-only) dict to every watcher; the entry keeps a reference to it so its id cannot
    be reused while cached. Bounded: the oldest entries go first."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._lines: OrderedDict[tuple[str, int, str], tuple[Any, bytes]] = OrderedDict()
        self.hits = 0

    def line(self, event_type: str, obj: Obj, rendering: str, render: Callable[[Obj], Any]) -> bytes:
        key = (event_type, id(obj), rendering)
        hit = self._lines.get(key)
        if hit is not None and hit[0] is obj:
            self.hits += 1
            return hit[1]
        data = _line(event_type, render(obj))
        self._lines[key] = (obj, data)
        if len(self._lines) > self.capacity:
            self._lines.popitem(last=False)
        return data


LINES = LineCache()


def _bookmark(cls: ResourceClass, rv: int | str, *, initial_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": cls.KIND, "apiVersion": cls.api_version(), "metadata": meta}


async def watch_response(ctx: Ctx, cls: ResourceClass, namespace: str | None, request: Request) -> StreamingResponse:  # noqa: C901 - one flat sequence of cases, read best in one place
    q = request.query_params
    label_selector, field_selector = q.get("labelSelector"), q.get("fieldSelector")
    selected = selection(cls, label_selector, field_selector)
    predicate = selected.predicate
    bookmarks = flag(request, "allowWatchBookmarks")
    send_initial = flag(request, "sendInitialEvents")
    timeout_s = int_param(request, "timeoutSeconds")
    as_table = tables.table_request(request)
    include = tables.include_object(request) if as_table else ""
    first = [True]

    def encode(event_type: str, obj: Obj) -> bytes:
        if not as_table or event_type in ("BOOKMARK", "ERROR"):
            return LINES.line(event_type, obj, "", lambda o: o)
        headers = first[0]
        first[0] = False
        return LINES.line(event_type, obj, f"table:{include}:{headers}",
                          lambda o: tables.to_table(cls, [o], {"resourceVersion": (o.get("metadata") or {}).get("resourceVersion", "")},
                                                    include=include, headers=headers))
    from_rv = resource_version_param(request) or 0
    prefix = collection_key(cls, namespace)
    index_value = None
    if cls.KIND == "Pod" and selected.fields is not None:
        index_value = selected.fields.single_value("spec.nodeName")

    initial: list[Obj] = []
    initial_rv = from_rv
    if from_rv == 0 or send_initial:
        # Consistent list now (errors here are plain HTTP errors), then watch from its revision.
        listed = await ctx.storage.list(prefix, predicate=predicate)
        initial, initial_rv = listed.items, listed.resource_version

    async def events() -> AsyncGenerator[StoredEvent, None]:
        kwargs: dict[str, Any] = {}
        if index_value is not None and hasattr(ctx.storage, "watch_cache"):
            kwargs["index_value"] = index_value
        it = ctx.storage.watch(prefix, from_rv=initial_rv, predicate=predicate, bookmarks=bookmarks, **kwargs)
        async for ev in it:
            yield ev

    async def body() -> AsyncIterator[bytes]:
        deadline = time.monotonic() + timeout_s if timeout_s and timeout_s > 0 else None
        watchers = WATCHERS.labels(cls.GROUP, cls.VERSION, cls.KIND)
        watchers.inc()
        try:
            async for chunk in _body(deadline):
                yield chunk
        finally:
            watchers.dec()

    async def _body(deadline: float | None) -> AsyncIterator[bytes]:
        for obj in initial:
            yield encode("ADDED", obj)
        if send_initial:
            yield _line("BOOKMARK", _bookmark(cls, initial_rv, initial_end=True))
        stream = events()
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every
                    # event of every watcher in a new Task, a large share of the fan-out.
                    async with asyncio.timeout(remaining):
                        ev = await stream.__anext__()
                except (TimeoutError, StopAsyncIteration):
                    return
                if ev.type == "BOOKMARK":
                    yield _line("BOOKMARK", _bookmark(cls, ev.resource_version))
                else:
                    yield encode(ev.type, ev.object)
        except errors.ApiError as e:
            yield _line("ERROR", e.to_status())
        except Exception as e:  # a broken stream must end with a Status, not a reset
            log.exception("watch on %s failed", prefix)
            yield _line("ERROR", errors.InternalError(f"watch failed: {type(e).__name__}: {e}").to_status())
        finally:
            await stream.aclose()

    return StreamingResponse(body(), media_type="application/json",
                             headers={"Cache-Control": "no-cache, private", "X-Content-Type-Options": "nosniff"})
