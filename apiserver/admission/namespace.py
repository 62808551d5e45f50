"""Namespace lifecycle admission.

Contract: `await check_namespace(storage, name)` before creating a namespaced object:
- the namespace does not exist -> 404 NotFound `namespaces "x" not found`;
- it is being deleted (deletionTimestamp set or status.phase Terminating) -> 403 Forbidden
  `unable to create new content in namespace x because it is being terminated`.
The namespaces watch cache answers the common case without an etcd read; a namespace the
cache does not know (yet) or sees as terminating is confirmed with a direct read, so a
namespace created a moment ago is never reported missing.

The cache may lag a deletion made a moment ago by this very server: `note_deleted(name)`
(called by the DELETE handler) makes the next checks of that name read etcd directly for
`LIVE_LOOKUP_S`, as Kubernetes' forceLiveLookup cache does.

`IMMORTAL_NAMESPACES` cannot be deleted (403), as in Kubernetes.
"""

from __future__ import annotations

import time
from typing import Any

from apiserver.storage import Storage, keys
from machinery import errors

IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_PREFIX = "/registry/namespaces/"
LIVE_LOOKUP_S = 30.0
_recently_deleted: dict[str, float] = {}


def note_deleted(name: str) -> None:
    now = time.monotonic()
    for old in [n for n, t in _recently_deleted.items() if now - t > LIVE_LOOKUP_S]:
        del _recently_deleted[old]
    _recently_deleted[name] = now


def _live_lookup(name: str) -> bool:
    t = _recently_deleted.get(name)
    return t is not None and time.monotonic() - t <= LIVE_LOOKUP_S


def _terminating(ns: dict[str, Any]) -> bool:
    meta = ns.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) or (ns.get("status") or {}).get("phase") == "Terminating"


def _cached(storage: Storage, key: str) -> dict[str, Any] | None:
    watch_cache = getattr(storage, "watch_cache", None)
    if watch_cache is None:
        return None
    cache = watch_cache(_PREFIX)
    if cache.revision <= 0:  # not started yet
        return None
    for obj in cache.objects(key):
        if (obj.get("metadata") or {}).get("name") == key.rsplit("/", 1)[-1]:
            found: dict[str, Any] = obj
            return found
    return None


async def check_namespace(storage: Storage, name: str) -> None:
    try:
        key = keys.object_key("namespaces", name)
    except ValueError:
        raise errors.NotFound(f'namespaces "{name}" not found', name=name, kind="namespaces") from None
    ns = None if _live_lookup(name) else _cached(storage, key)
    if ns is None or _terminating(ns):
        try:
            ns = await storage.get(key)
        except errors.NotFound:
            raise errors.NotFound(f'namespaces "{name}" not found', name=name, kind="namespaces") from None
    if _terminating(ns):
        message = f"unable to create new content in namespace {name} because it is being terminated"
        raise errors.Forbidden(message, name=name, kind="namespaces", causes=[
            {"reason": errors.NAMESPACE_TERMINATING_CAUSE, "message": message, "field": "metadata.namespace"}])
