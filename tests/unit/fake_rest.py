"""The REST face of the fake clientset (tests/unit/fake_client.py): raw `request(method, path)`
calls mapped onto its object tracker, as the API server maps them onto storage.

Contract:
- `parse_path(path) -> Target | None`: `/api/v1/...` and `/apis/GROUP/VERSION/...` paths of a
  registered kind (collection, object, subresource); None for anything else.
- `FakeRest(tracker).call(method, target, body, params, content_type)` answers with wire dicts:
  POST on a collection creates, GET lists (labelSelector / fieldSelector params) or gets, PUT
  replaces (`/status` too), PATCH applies the patch of its media type (merge, JSON patch,
  strategic merge: apiserver/patch.py, the server's own), DELETE deletes (a `preconditions.uid`
  that does not match is 409); `pods/NAME/binding` binds; `/scale` reads and writes
  `spec.replicas` through a Scale (apiserver/handlers_sub.py `to_scale`; a PUT's stale
  resourceVersion is 409).
- `answer(method, subresource, fn)`: subresources the tracker does not model (a pod's `log`,
  `exec`, ...) are answered by `fn(obj, params, body)` for an object that exists (404 when it
  does not); `stream(subresource, fn)` likewise gives the lines of a streamed GET
  (`stream_lines`). Anything else on a subresource is 405.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from apiserver.handlers_sub import to_scale
from apiserver.patch import MERGE_PATCH, apply_patch
from machinery import errors, registry
from machinery.meta import Resource

Obj = dict[str, Any]
Answer = Callable[[Obj, dict[str, Any], Any], Any]
"""fn(stored object, query params, request body) -> the answer of a subresource call."""
Lines = Callable[[Obj, dict[str, Any]], Iterable[str]]
"""fn(stored object, query params) -> the lines of a streamed subresource."""


@dataclass(frozen=True)
class Target:
    cls: type[Resource]
    namespace: str | None
    name: str | None
    subresource: str | None


_PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
                   r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$")


def parse_path(path: str) -> Target | None:
    m = _PATH.match(path.split("?", 1)[0])
    if m is None:
        return None
    group, version = ("", "v1") if m["core"] else (m["group"], m["version"])
    try:
        cls = registry.by_resource(group, version, m["plural"])
    except KeyError:
        return None
    return Target(cls, m["ns"], m["name"], m["sub"])


class Tracker(Protocol):
    """What FakeRest uses of the fake clientset."""

    async def create(self, obj: Any, *, namespace: str | None = None, dry_run: bool = False) -> Any: ...
    async def get(self, cls: type[Any], name: str, *, namespace: str | None = None) -> Any: ...
    async def list(self, cls: type[Any], *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None,
                   continue_token: str | None = None) -> Any: ...
    async def replace(self, obj: Any, *, subresource: str | None = None) -> Any: ...
    async def delete(self, cls: type[Resource], name: str, *, namespace: str | None = None,
                     grace_period_s: float | None = None, propagation_policy: str | None = None,
                     preconditions: dict[str, str] | None = None) -> Obj: ...
    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None: ...
    def raw_patch(self, cls: type[Any], name: str, patch: Any, *, namespace: str | None,
                  subresource: str | None, content_type: str = MERGE_PATCH) -> Obj: ...
    def raw_object(self, cls: type[Resource], namespace: str | None, name: str) -> Obj | None: ...
    def raw_write(self, cls: type[Resource], obj: Obj, old: Obj) -> Obj: ...


class FakeRest:
    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.answers: dict[tuple[str, str], Answer] = {}
        self.streams: dict[str, Lines] = {}

    def answer(self, method: str, subresource: str, fn: Answer) -> None:
        self.answers[(method.upper(), subresource)] = fn

    def stream(self, subresource: str, fn: Lines) -> None:
        self.streams[subresource] = fn

    def _existing(self, t: Target) -> Obj:
        obj = self.tracker.raw_object(t.cls, t.namespace, t.name or "")
        if obj is None:
            raise errors.NotFound(f'{t.cls.PLURAL} "{t.name}" not found')
        return obj

    def lines(self, t: Target, params: dict[str, Any]) -> Iterable[str]:
        fn = self.streams.get(t.subresource or "")
        if fn is None or t.name is None:
            raise errors.MethodNotAllowed(f"streaming {t.subresource or t.cls.PLURAL}")
        return fn(self._existing(t), params)

    async def call(self, method: str, t: Target, body: Any, params: dict[str, Any],
                   content_type: str = MERGE_PATCH) -> Any:
        cls, ns, name, sub = t.cls, t.namespace, t.name, t.subresource
        tr = self.tracker
        if name is None:
            if method == "POST":
                return (await tr.create(cls.model_validate(body), namespace=ns)).to_dict()
            if method == "GET":
                items = await tr.list(cls, namespace=ns, label_selector=params.get("labelSelector"),
                                      field_selector=params.get("fieldSelector"))
                return {"kind": f"{cls.KIND}List", "metadata": {"resourceVersion": items.resource_version},
                        "items": [i.to_dict() for i in items.items]}
            raise errors.MethodNotAllowed(f"{method} on a collection")
        if (method, sub or "") in self.answers:
            return self.answers[(method, sub or "")](self._existing(t), params, body)
        if method == "POST" and sub == "binding":
            await tr.bind(ns or "", name, body["target"]["name"])
            return {"kind": "Status", "status": "Success"}
        if sub == "scale":
            return self._scale(method, t, body, content_type)
        if sub not in (None, "status"):
            raise errors.MethodNotAllowed(f"{method} on {cls.PLURAL}/{sub}")
        if method == "GET":
            return (await tr.get(cls, name, namespace=ns)).to_dict()
        if method == "PUT":
            return (await tr.replace(cls.model_validate(body), subresource=sub)).to_dict()
        if method == "PATCH":  # wire dicts all the way: raw callers keep fields the models drop
            return tr.raw_patch(cls, name, body, namespace=ns, subresource=sub, content_type=content_type)
        if method == "DELETE":
            uid = ((body or {}).get("preconditions") or {}).get("uid")
            current = tr.raw_object(cls, ns, name)
            if uid and current is not None and current["metadata"].get("uid") != uid:
                raise errors.Conflict(f"Precondition failed: UID in precondition: {uid}")
            return await tr.delete(cls, name, namespace=ns)
        raise errors.MethodNotAllowed(method)

    def _scale(self, method: str, t: Target, body: Any, content_type: str) -> Obj:
        current = self._existing(t)
        scale = to_scale(current)
        if method == "GET":
            return scale
        if method == "PUT":
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv and rv != scale["metadata"].get("resourceVersion"):
                raise errors.Conflict(f'Operation cannot be fulfilled on {t.cls.PLURAL} "{t.name}"')
            wanted = body
        elif method == "PATCH":
            wanted = apply_patch(content_type, scale, body)
        else:
            raise errors.MethodNotAllowed(f"{method} on {t.cls.PLURAL}/scale")
        new = {**current, "spec": {**(current.get("spec") or {}), "replicas": int((wanted.get("spec") or {}).get("replicas") or 0)}}
        return to_scale(self.tracker.raw_write(t.cls, new, current))
