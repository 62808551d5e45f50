"""The one fake clientset for unit tests: an object tracker that records every call.

It implements `machinery.client.KubeClient` (mypy checks it: `_CHECK` below), so code under
test gets the same surface as the real `ApiClient`.

Contract:
- Objects are wire dicts per (KIND, namespace or None, name). Every write (through the client
  or the sync setup methods) takes the next integer resourceVersion (`rv`, starting at
  `start_rv`) and is kept in a history, so a watch from resourceVersion N replays what
  happened to that kind after N, then streams live writes, like the API server's watch cache.
- The client surface: `create` fills uid, resourceVersion, creationTimestamp, generation and a
  name from generateName (AlreadyExists when taken); `get` (NotFound); `list` with namespace,
  label and field selectors and paging (`limit`/`continue_token` over a snapshot; `paging=False`
  ignores limits); `replace` checks resourceVersion (stale -> Conflict), `/status` replaces only
  the status; `patch` applies an RFC 7386 merge patch (a `metadata.resourceVersion` in it must
  match, as on the real server); `delete` removes (NotFound when absent); `watch` streams
  `WatchEvent`s (an object that stops matching a selector arrives as DELETED, one that starts
  matching as ADDED); `bind` sets spec.nodeName; `patch` applies its `patch_type` (merge, JSON
  patch, strategic merge: the API server's own apiserver/patch.py); `request` records raw calls
  (with their headers) and answers the REST paths of registered kinds as tests/unit/fake_rest.py
  says (`/status`, `/scale`, `binding`, the PATCH media type of the Content-Type header), else
  echoes its body; `stream_lines` gives the lines of a streamed subresource; `async with` works
  as on ApiClient.
- Subresources the tracker does not model: `answer(method, subresource, fn)` (a pod's log,
  exec...) and `stream(subresource, fn)` (a followed log); `script_watch(*items)` makes the next
  watch play scripted events, exceptions and writes (for code under test that runs to its end
  before the test can write, e.g. a CLI verb under CliRunner).
- Every call is recorded as `Call(verb, kind, namespace, name, body, params, at, failed,
  headers)` in `calls` (verbs: create, get, list, replace, replace/status, patch, patch/status,
  delete, bind, watch, request, stream; a request's `kind` is its method and `name` its path);
  `calls_of(verb, kind)` filters; `list_calls` / `watch_calls` give their parameters.
- Failures: `fail(verb, kind, exc, after=0, times=None)` makes that verb on that kind raise
  after `after` successful calls, `times` times (None: always); `fail_list(*excs)` /
  `fail_watch(*excs)` make the next lists / watches raise.
- Setup and stream control (sync): `add(*objs)` stores Resources; `store(obj)` / `remove(cls,
  namespace, name)` write dicts; `stored(cls, name, ns)` reads one back typed; `compact()`
  forgets history (older watches and continue tokens get 410 Expired, or always with
  `expire_continue_tokens`); `drop_watches(exc)`, `end_watches()`, `bookmark()`,
  `inject(type, raw)` act on open watches; `watch_ends_immediately`; `replay_boundary=True`
  also replays the event *at* N (a duplicate the informer must swallow); `open_watches`.
- The fake never invents state the test did not set up. Watch event translation (selectors,
  replays) is in tests/unit/fake_watch.py; `preload` and the object builders of controller
  tests are in tests/unit/builders.py.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json as jsonlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from apiserver.patch import MERGE_PATCH, apply_patch, merge_patch
from machinery import errors, registry
from machinery.client import PATCH_CONTENT_TYPES, KubeClient, ObjectList, WatchEvent
from machinery.clock import now_rfc3339
from machinery.meta import Resource
from tests.unit.fake_rest import Answer, FakeRest, Lines, parse_path
from tests.unit.fake_watch import END, Change, Key, Matcher, matcher, sort_key, translate

_uid_counter = itertools.count(1)


@dataclass
class Call:
    verb: str
    kind: str
    namespace: str | None
    name: str
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0
    """The event loop's time of the call (0 outside a loop): for tests of pacing."""
    failed: bool = False
    """The call raised an injected failure (`fail`)."""
    headers: dict[str, str] | None = None
    """The headers of a raw `request` (e.g. a PATCH's Content-Type)."""


def _loop_time() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return 0.0


@dataclass
class _Failure:
    verb: str
    kind: str
    exc: Exception
    after: int
    times: int | None
    seen: int = 0


class FakeClient:
    """See module docstring."""

    def __init__(self, namespace: str = "default", *, paging: bool = True, replay_boundary: bool = False,
                 start_rv: int = 100) -> None:
        self.namespace = namespace
        self.paging = paging
        self.replay_boundary = replay_boundary
        self.rv = start_rv
        self.calls: list[Call] = []
        self.objects: dict[Key, dict[str, Any]] = {}
        self.failures: list[_Failure] = []
        self.history: list[Change] = []
        self.compacted_rv = 0
        self.expire_continue_tokens = False
        self.watch_ends_immediately = False
        self._list_errors: list[BaseException] = []
        self._watch_errors: list[BaseException] = []
        self._watchers: list[tuple[str, asyncio.Queue[Any]]] = []
        self._snapshots: dict[int, tuple[int, list[dict[str, Any]]]] = {}
        self._snap_ids = itertools.count(1)
        self._scripts: list[list[Any]] = []
        self.rest = FakeRest(self)

    # -- setup and inspection (sync) ---------------------------------------------------------

    def add(self, *objs: Resource) -> None:
        """The state a test starts from: objects keep the resourceVersion they were built with."""
        for obj in objs:
            self.store(obj, keep_rv=True)

    def store(self, obj: Resource | dict[str, Any], *, kind: str | None = None,
              keep_rv: bool = False) -> dict[str, Any]:
        """Write an object as another client would (ADDED or MODIFIED, a new resourceVersion
        unless `keep_rv`); returns the stored dict."""
        data = obj.to_dict() if isinstance(obj, Resource) else copy.deepcopy(obj)
        kind = kind or (obj.KIND if isinstance(obj, Resource) else str(data.get("kind")))
        key = self._key_of(kind, data)
        old = self.objects.get(key)
        return self._write(kind, "MODIFIED" if old is not None else "ADDED", data, old, keep_rv=keep_rv)

    def remove(self, cls: type[Resource], namespace: str | None, name: str) -> dict[str, Any]:
        key = (cls.KIND, namespace if cls.NAMESPACED else None, name)
        old = self.objects[key]
        return self._write(cls.KIND, "DELETED", old, old)

    def stored(self, cls: type[Resource], name: str, namespace: str | None = None) -> Any:
        data = self.objects.get((cls.KIND, namespace if cls.NAMESPACED else None, name))
        return None if data is None else cls.model_validate(data)

    def fail(self, verb: str, kind: str, exc: Exception, *, after: int = 0, times: int | None = None) -> None:
        self.failures.append(_Failure(verb, kind, exc, after, times))

    def fail_list(self, *excs: BaseException) -> None:
        self._list_errors.extend(excs)

    def fail_watch(self, *excs: BaseException) -> None:
        self._watch_errors.extend(excs)

    def answer(self, method: str, subresource: str, fn: Answer) -> None:
        """Answer `method` on a subresource the tracker does not model (log, exec, ...)."""
        self.rest.answer(method, subresource, fn)

    def stream(self, subresource: str, fn: Lines) -> None:
        """The lines `stream_lines` gives for a subresource (a followed log)."""
        self.rest.stream(subresource, fn)

    def script_watch(self, *items: Any) -> None:
        """The next `watch` call plays these instead of following the tracker: (type, raw object)
        pairs become WatchEvents, an exception is raised, a callable is called (a write between
        two events); the stream then ends, as when the server closes a watch."""
        self._scripts.append(list(items))

    def calls_of(self, verb: str, kind: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.verb == verb and (kind is None or c.kind == kind)]

    @property
    def list_calls(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.verb == "list"]

    @property
    def watch_calls(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.verb == "watch"]

    # -- history and watches -------------------------------------------------------------------

    def compact(self) -> None:
        """Forget all history up to now: older watches and continue tokens get 410."""
        self.compacted_rv = self.rv
        self.history.clear()

    def drop_watches(self, exc: BaseException | None = None) -> None:
        for _, q in self._watchers:
            q.put_nowait(exc or errors.ConnectionFailed("connection reset by fake"))

    def end_watches(self) -> None:
        for _, q in self._watchers:
            q.put_nowait(END)

    def bookmark(self) -> None:
        self.inject("BOOKMARK", {"metadata": {"resourceVersion": str(self.rv)}})

    def inject(self, etype: str, raw_obj: dict[str, Any]) -> None:
        for _, q in self._watchers:
            q.put_nowait(WatchEvent(etype, None, {"type": etype, "object": raw_obj}))

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    # -- plumbing ------------------------------------------------------------------------------

    def _key_of(self, kind: str, data: dict[str, Any]) -> Key:
        meta = data.get("metadata") or {}
        try:
            namespaced = registry.by_kind(kind).NAMESPACED
        except KeyError:
            namespaced = True
        return (kind, (meta.get("namespace") or self.namespace) if namespaced else None, meta["name"])

    def _write(self, kind: str, etype: str, data: dict[str, Any], old: dict[str, Any] | None, *,
               keep_rv: bool = False) -> dict[str, Any]:
        self.rv += 1
        data = copy.deepcopy(data)
        meta = data.setdefault("metadata", {})
        if not (keep_rv and meta.get("resourceVersion")):
            meta["resourceVersion"] = str(self.rv)
        key = self._key_of(kind, data)
        if etype == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = data
        change = Change(self.rv, kind, etype, data, old)
        self.history.append(change)
        for watched, q in self._watchers:
            if watched == kind:
                q.put_nowait(change)
        return copy.deepcopy(data)

    def _record(self, verb: str, kind: str, namespace: str | None, name: str, body: Any = None,
                params: dict[str, Any] | None = None) -> None:
        self.calls.append(Call(verb, kind, namespace, name, copy.deepcopy(body), dict(params or {}), _loop_time()))
        for f in self.failures:
            if f.verb == verb and f.kind == kind:
                f.seen += 1
                if f.seen > f.after and (f.times is None or f.seen - f.after <= f.times):
                    self.calls[-1].failed = True
                    raise f.exc

    def _ns(self, cls: type[Resource], namespace: str | None) -> str | None:
        return (namespace or self.namespace) if cls.NAMESPACED else None

    # -- the KubeClient surface ------------------------------------------------------------------

    async def create(self, obj: Any, *, namespace: str | None = None, dry_run: bool = False) -> Any:
        cls = type(obj)
        ns = self._ns(cls, namespace or obj.namespace)
        data = obj.to_dict()
        meta = data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        self._record("create", cls.KIND, ns, meta.get("name", ""), data)
        if (cls.KIND, ns, meta["name"]) in self.objects:
            raise errors.AlreadyExists(f'{cls.PLURAL} "{meta["name"]}" already exists')
        if ns:
            meta["namespace"] = ns
        meta["uid"] = f"uid-{next(_uid_counter)}"
        meta.setdefault("creationTimestamp", now_rfc3339())
        meta.setdefault("generation", 1)
        return cls.model_validate(self._write(cls.KIND, "ADDED", data, None))

    async def get(self, cls: type[Any], name: str, *, namespace: str | None = None) -> Any:
        ns = self._ns(cls, namespace)
        self._record("get", cls.KIND, ns, name)
        data = self.objects.get((cls.KIND, ns, name))
        if data is None:
            raise errors.NotFound(f'{cls.PLURAL} "{name}" not found')
        return cls.model_validate(copy.deepcopy(data))

    async def list(self, cls: type[Any], *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None,
                   continue_token: str | None = None) -> ObjectList[Any]:
        params = {"namespace": namespace, "label_selector": label_selector, "field_selector": field_selector,
                  "limit": limit, "continue_token": continue_token}
        self._record("list", cls.KIND, namespace, "", params=params)
        await asyncio.sleep(0)
        if self._list_errors:
            raise self._list_errors.pop(0)
        match = matcher(namespace if cls.NAMESPACED else None, label_selector, field_selector)
        if continue_token:
            snap_id, offset = (int(x) for x in continue_token.split(":"))
            snap_rv, items = self._snapshots[snap_id]
            if self.expire_continue_tokens or snap_rv < self.compacted_rv:
                raise errors.Expired("The provided continue parameter is too old")
        else:
            snap_rv = self.rv
            items = [copy.deepcopy(o) for (kind, ns, name), o in sorted(self.objects.items(), key=sort_key)
                     if kind == cls.KIND and match(o)]
            snap_id, offset = next(self._snap_ids), 0
            self._snapshots[snap_id] = (snap_rv, items)
        if not self.paging or not limit:
            limit = len(items) - offset
        page = items[offset:offset + limit]
        nxt = offset + limit
        token = f"{snap_id}:{nxt}" if nxt < len(items) else None
        return ObjectList(items=[cls.model_validate(o) for o in page], resource_version=str(snap_rv),
                          continue_token=token)

    async def replace(self, obj: Any, *, subresource: str | None = None) -> Any:
        cls = type(obj)
        ns = self._ns(cls, obj.namespace)
        verb = f"replace/{subresource}" if subresource else "replace"
        self._record(verb, cls.KIND, ns, obj.name, obj.to_dict())
        current = self.objects.get((cls.KIND, ns, obj.name))
        if current is None:
            raise errors.NotFound(f'{cls.PLURAL} "{obj.name}" not found')
        if obj.resource_version and obj.resource_version != current["metadata"].get("resourceVersion"):
            raise errors.Conflict(f'Operation cannot be fulfilled on {cls.PLURAL} "{obj.name}"')
        data = obj.to_dict()
        if subresource == "status":
            data = {**current, "status": data.get("status")}
        return cls.model_validate(self._write(cls.KIND, "MODIFIED", data, current))

    async def replace_status(self, obj: Any) -> Any:
        return await self.replace(obj, subresource="status")

    async def patch(self, cls: type[Any], name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: str = "merge", subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None) -> Any:
        return cls.model_validate(self.raw_patch(cls, name, patch, namespace=namespace, subresource=subresource,
                                                 content_type=PATCH_CONTENT_TYPES[patch_type]))

    def raw_patch(self, cls: type[Any], name: str, patch: Any, *, namespace: str | None,
                  subresource: str | None, content_type: str = MERGE_PATCH) -> dict[str, Any]:
        ns = self._ns(cls, namespace)
        verb = f"patch/{subresource}" if subresource else "patch"
        self._record(verb, cls.KIND, ns, name, patch)
        current = self.objects.get((cls.KIND, ns, name))
        if current is None:
            raise errors.NotFound(f'{cls.PLURAL} "{name}" not found')
        want_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
        if want_rv and want_rv != current["metadata"].get("resourceVersion"):
            raise errors.Conflict(f'Operation cannot be fulfilled on {cls.PLURAL} "{name}"')
        return self._write(cls.KIND, "MODIFIED", apply_patch(content_type, current, patch), current)

    def raw_object(self, cls: type[Resource], namespace: str | None, name: str) -> dict[str, Any] | None:
        data = self.objects.get((cls.KIND, self._ns(cls, namespace), name))
        return None if data is None else copy.deepcopy(data)

    def raw_write(self, cls: type[Resource], obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        return self._write(cls.KIND, "MODIFIED", obj, old)

    async def delete(self, cls: type[Resource], name: str, *, namespace: str | None = None,
                     grace_period_s: float | None = None, propagation_policy: str | None = None,
                     preconditions: dict[str, str] | None = None) -> dict[str, Any]:
        ns = self._ns(cls, namespace)
        self._record("delete", cls.KIND, ns, name, {"propagationPolicy": propagation_policy},
                     params={"grace_period_s": grace_period_s, "preconditions": preconditions})
        current = self.objects.get((cls.KIND, ns, name))
        if current is None:
            raise errors.NotFound(f'{cls.PLURAL} "{name}" not found')
        return self._write(cls.KIND, "DELETED", current, current)

    async def delete_collection(self, cls: type[Resource], *, namespace: str | None = None,
                                label_selector: str | None = None,
                                field_selector: str | None = None) -> dict[str, Any]:
        ns = self._ns(cls, namespace)
        self._record("delete_collection", cls.KIND, ns, "", params={"label_selector": label_selector,
                                                                    "field_selector": field_selector})
        match = matcher(ns, label_selector, field_selector)
        for key, obj in [(k, o) for k, o in self.objects.items() if k[0] == cls.KIND and match(o)]:
            self._write(cls.KIND, "DELETED", obj, obj)
            del key
        return {"kind": "Status", "status": "Success"}

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None:
        self._record("bind", "Pod", namespace, pod_name, {"target": node_name})
        current = self.objects.get(("Pod", namespace, pod_name))
        if current is None:
            raise errors.NotFound(f'pods "{pod_name}" not found')
        if (current.get("spec") or {}).get("nodeName"):
            raise errors.Conflict(f'pod {pod_name} is already assigned to node "{current["spec"]["nodeName"]}"')
        self._write("Pod", "MODIFIED", merge_patch(current, {"spec": {"nodeName": node_name}}), current)

    def watch(self, cls: type[Any], *, namespace: str | None = None, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None, timeout_s: float | None = None,
              allow_bookmarks: bool = True) -> AsyncIterator[WatchEvent[Any]]:
        params = {"namespace": namespace, "resource_version": resource_version, "label_selector": label_selector,
                  "field_selector": field_selector, "timeout_s": timeout_s, "allow_bookmarks": allow_bookmarks}
        self._record("watch", cls.KIND, namespace, "", params=params)
        if self._scripts:
            return self._scripted(cls, self._scripts.pop(0))
        match = matcher(namespace if cls.NAMESPACED else None, label_selector, field_selector)
        return self._stream(cls, match, resource_version, timeout_s, allow_bookmarks)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                      content: bytes | str | None = None, headers: dict[str, str] | None = None,
                      retry: bool = True) -> Any:
        body = jsonlib.loads(content) if content else json
        self._record("request", method.upper(), None, path, body, params=params)
        self.calls[-1].headers = dict(headers) if headers is not None else None
        target = parse_path(path)
        if target is None:
            return body  # not a resource path of a known kind: echo (fire-and-forget callers)
        content_type = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), MERGE_PATCH)
        return await self.rest.call(method.upper(), target, body, params or {}, content_type)

    async def stream_lines(self, path: str, *, params: dict[str, Any] | None = None,
                           timeout_s: float | None = None) -> AsyncIterator[str]:
        """The lines `stream(subresource, fn)` gives for the object of `path` (recorded as
        verb "stream")."""
        self._record("stream", "GET", None, path, params=params)
        target = parse_path(path)
        if target is None:
            raise errors.NotFound(f"no resource at {path}")
        for line in self.rest.lines(target, params or {}):
            yield line
            await asyncio.sleep(0)

    async def __aenter__(self) -> FakeClient:  # CLI verbs use the client as `async with`
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # -- watch streams ----------------------------------------------------------------------------

    async def _scripted(self, cls: type[Any], items: Iterable[Any]) -> AsyncIterator[WatchEvent[Any]]:
        for item in items:
            await asyncio.sleep(0)
            if isinstance(item, BaseException):
                raise item
            if callable(item):
                item()
                continue
            etype, raw_obj = item
            obj = None if etype in ("BOOKMARK", "ERROR") else cls.model_validate(raw_obj)
            yield WatchEvent(etype, obj, {"type": etype, "object": copy.deepcopy(raw_obj)})

    async def _stream(self, cls: type[Any], match: Matcher, resource_version: str | None, timeout_s: float | None,  # noqa: C901 - one flat sequence of cases, read best in one place
                      allow_bookmarks: bool) -> AsyncIterator[WatchEvent[Any]]:
        if self._watch_errors:
            raise self._watch_errors.pop(0)
        if self.watch_ends_immediately:
            return
        q: asyncio.Queue[Any] = asyncio.Queue()
        entry = (cls.KIND, q)
        self._watchers.append(entry)  # before the replay: no write in between is lost
        try:
            if resource_version:
                since = int(resource_version)
                if since < self.compacted_rv:
                    raise errors.Expired(f"too old resource version: {since} ({self.compacted_rv})")
                backlog = [c for c in self.history if c.kind == cls.KIND
                           and (c.rv > since or (self.replay_boundary and c.rv == since))]
            else:
                backlog = [Change(self.rv, cls.KIND, "ADDED", o, None)
                           for k, o in self.objects.items() if k[0] == cls.KIND]
            replayed = max((c.rv for c in backlog), default=-1)
            for change in backlog:
                if (ev := translate(cls, change, match)) is not None:
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
                if item is END:
                    return
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, WatchEvent):
                    if item.type == "BOOKMARK" and not allow_bookmarks:
                        continue
                    raw_obj = item.raw["object"]
                    obj = None if item.type == "ERROR" else cls.model_validate(raw_obj)
                    yield WatchEvent(item.type, obj, item.raw)
                    continue
                if item.rv <= replayed:
                    continue  # already replayed
                if (ev := translate(cls, item, match)) is not None:
                    yield ev
        finally:
            self._watchers.remove(entry)


_CHECK: KubeClient = FakeClient()  # mypy: the fake has the real client's surface
