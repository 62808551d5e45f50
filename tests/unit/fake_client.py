"""A recording fake ApiClient for controller unit tests, and helpers to preload informers.

Contract:
- Every call is recorded as `Call(verb, kind, namespace, name, body)` in `client.calls`
  (verbs: create, get, list, replace, patch, delete, request). `client.calls_of(verb, kind)`
  filters them.
- Objects are kept as wire dicts per (KIND, namespace, name). `create` fills uid,
  resourceVersion, creationTimestamp and a name from generateName; `replace` checks the
  resourceVersion (stale -> Conflict); `patch` applies an RFC 7386 merge patch (a
  `metadata.resourceVersion` in the patch must match, as on the real server); `delete` removes
  the object (NotFound when absent). The fake never invents state the test did not set up.
- `fail(verb, kind, exc, after=0, times=None)`: that verb on that kind raises `exc` after
  `after` successful calls, `times` times (None: always) — for slow-start and retry tests.
- `preload(informer, *objs)` stores objects in an informer's cache and marks it synced,
  without handlers, so tests call `sync(key)` on exactly the state they built.
- Builders for controller tests: `make_context(client)` (a ControllerContext on the fake),
  `make_rs`, `make_pod`, `owner_ref`, namespace `NS`.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from controllers.base import ControllerContext
from machinery import errors
from machinery.client import ObjectList
from machinery.events import ClientSink, EventRecorder
from machinery.informer import Informer, InformerFactory
from machinery.meta import Resource, now_rfc3339
from machinery.models import Deployment, Pod, ReplicaSet

_uid_counter = itertools.count(1)


@dataclass
class Call:
    verb: str
    kind: str
    namespace: str | None
    name: str
    body: Any = None


@dataclass
class _Failure:
    verb: str
    kind: str
    exc: Exception
    after: int
    times: int | None
    seen: int = 0


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


@dataclass
class FakeClient:
    namespace: str = "default"
    calls: list[Call] = field(default_factory=list)
    objects: dict[tuple[str, str | None, str], dict[str, Any]] = field(default_factory=dict)
    failures: list[_Failure] = field(default_factory=list)
    _rv: itertools.count = field(default_factory=lambda: itertools.count(100))  # type: ignore[type-arg]

    # -- setup ------------------------------------------------------------------------------

    def add(self, *objs: Resource) -> None:
        for obj in objs:
            self.objects[(obj.KIND, obj.namespace if obj.NAMESPACED else None, obj.name)] = obj.to_dict()

    def fail(self, verb: str, kind: str, exc: Exception, *, after: int = 0, times: int | None = None) -> None:
        self.failures.append(_Failure(verb, kind, exc, after, times))

    def calls_of(self, verb: str, kind: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.verb == verb and (kind is None or c.kind == kind)]

    def stored(self, cls: type[Resource], name: str, namespace: str | None = None) -> Any:
        data = self.objects.get((cls.KIND, namespace if cls.NAMESPACED else None, name))
        return None if data is None else cls.model_validate(data)

    # -- plumbing ---------------------------------------------------------------------------

    def _record(self, verb: str, kind: str, namespace: str | None, name: str, body: Any = None) -> None:
        self.calls.append(Call(verb, kind, namespace, name, copy.deepcopy(body)))
        for f in self.failures:
            if f.verb == verb and f.kind == kind:
                f.seen += 1
                if f.seen > f.after and (f.times is None or f.seen - f.after <= f.times):
                    raise f.exc

    def _ns(self, cls: type[Resource], namespace: str | None) -> str | None:
        return (namespace or self.namespace) if cls.NAMESPACED else None

    def _bump(self, data: dict[str, Any]) -> None:
        data.setdefault("metadata", {})["resourceVersion"] = str(next(self._rv))

    # -- the ApiClient surface used by controllers ------------------------------------------

    async def create(self, obj: Resource, *, namespace: str | None = None, dry_run: bool = False) -> Any:
        cls = type(obj)
        ns = self._ns(cls, namespace or obj.namespace)
        data = obj.to_dict()
        meta = data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        self._record("create", cls.KIND, ns, meta.get("name", ""), data)
        key = (cls.KIND, ns, meta["name"])
        if key in self.objects:
            raise errors.AlreadyExists(f'{cls.PLURAL} "{meta["name"]}" already exists')
        if ns:
            meta["namespace"] = ns
        meta["uid"] = f"uid-{next(_uid_counter)}"
        meta.setdefault("creationTimestamp", now_rfc3339())
        meta.setdefault("generation", 1)
        self._bump(data)
        self.objects[key] = data
        return cls.model_validate(copy.deepcopy(data))

    async def get(self, cls: type[Resource], name: str, *, namespace: str | None = None) -> Any:
        ns = self._ns(cls, namespace)
        self._record("get", cls.KIND, ns, name)
        data = self.objects.get((cls.KIND, ns, name))
        if data is None:
            raise errors.NotFound(f'{cls.PLURAL} "{name}" not found')
        return cls.model_validate(copy.deepcopy(data))

    async def list(self, cls: type[Resource], *, namespace: str | None = None, **_: Any) -> Any:
        self._record("list", cls.KIND, namespace, "")
        items = [cls.model_validate(copy.deepcopy(d)) for (kind, ns, _n), d in self.objects.items()
                 if kind == cls.KIND and (namespace is None or ns == namespace)]
        return ObjectList(items=items, resource_version=str(next(self._rv)))

    async def replace(self, obj: Resource, *, subresource: str | None = None) -> Any:
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
        self._bump(data)
        self.objects[(cls.KIND, ns, obj.name)] = data
        return cls.model_validate(copy.deepcopy(data))

    async def replace_status(self, obj: Resource) -> Any:
        return await self.replace(obj, subresource="status")

    async def patch(self, cls: type[Resource], name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: str = "merge", subresource: str | None = None, **_: Any) -> Any:
        ns = self._ns(cls, namespace)
        verb = f"patch/{subresource}" if subresource else "patch"
        self._record(verb, cls.KIND, ns, name, patch)
        current = self.objects.get((cls.KIND, ns, name))
        if current is None:
            raise errors.NotFound(f'{cls.PLURAL} "{name}" not found')
        want_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
        if want_rv and want_rv != current["metadata"].get("resourceVersion"):
            raise errors.Conflict(f'Operation cannot be fulfilled on {cls.PLURAL} "{name}"')
        data = merge_patch(current, patch)
        self._bump(data)
        self.objects[(cls.KIND, ns, name)] = data
        return cls.model_validate(copy.deepcopy(data))

    async def delete(self, cls: type[Resource], name: str, *, namespace: str | None = None,
                     propagation_policy: str | None = None, **_: Any) -> dict[str, Any]:
        ns = self._ns(cls, namespace)
        self._record("delete", cls.KIND, ns, name, {"propagationPolicy": propagation_policy})
        data = self.objects.pop((cls.KIND, ns, name), None)
        if data is None:
            raise errors.NotFound(f'{cls.PLURAL} "{name}" not found')
        return data

    async def request(self, method: str, path: str, *, json: Any = None, **_: Any) -> Any:
        self._record("request", method.upper(), None, path, json)
        return json


def preload(informer: Informer[Any], *objs: Resource) -> None:
    """Put objects in an informer's cache (indexes included) without calling handlers."""
    for obj in objs:
        informer._store(obj.key, obj)  # test-only shortcut past list+watch
    informer._synced.set()


def unpreload(informer: Informer[Any], *keys: str) -> None:
    for key in keys:
        informer._store(key, None)


# -- object builders for controller tests ------------------------------------------------------

NS = "ns1"
TEMPLATE_SPEC: dict[str, Any] = {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}


def make_context(client: FakeClient | None = None) -> ControllerContext:
    client = client or FakeClient(namespace=NS)
    return ControllerContext(client=client, factory=InformerFactory(client),
                             recorder=EventRecorder(ClientSink(client), component="controller-manager",
                                                      background=False), workers=1)


def make_rs(name: str = "web", *, replicas: int = 3, labels: dict[str, str] | None = None, uid: str = "rs-uid",
            min_ready: int = 0, generation: int = 1, owner: Any = None,
            annotations: dict[str, str] | None = None) -> ReplicaSet:
    labels = labels or {"app": "web"}
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "10",
                            "generation": generation, "creationTimestamp": "2026-01-01T00:00:00Z"}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    if annotations:
        meta["annotations"] = annotations
    return ReplicaSet.from_dict({
        "metadata": meta,
        "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": TEMPLATE_SPEC}},
    })


def make_pod(name: str, *, labels: dict[str, str] | None = None, owner: Any = None, ready: bool = False,
             phase: str = "Running", node: str | None = "n1", created: str = "2026-01-01T00:00:00Z",
             ready_since: str = "2026-01-01T00:00:00Z", rv: str = "5", deleting: bool = False) -> Pod:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": rv,
                            "labels": labels if labels is not None else {"app": "web"},
                            "creationTimestamp": created}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec = dict(TEMPLATE_SPEC)
    if node:
        spec["nodeName"] = node
    status: dict[str, Any] = {"phase": phase}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": ready_since}]
    return Pod.from_dict({"metadata": meta, "spec": spec, "status": status})


def owner_ref(obj: ReplicaSet | Deployment) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": obj.KIND, "name": obj.name, "uid": obj.uid,
            "controller": True, "blockOwnerDeletion": True}
