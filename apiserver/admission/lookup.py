"""How admission reads the objects it applies (LimitRanges, ResourceQuotas, PriorityClasses,
the pod's ServiceAccount).

Contract: `await fresh_list(storage, plural, namespace=None)` returns the objects of a
collection from the API server's watch cache behind a consistent-read fence
(`EtcdStorage.list_fresh`): everything written through this API server before the call is in
it (a quota or LimitRange created just before a pod applies to that pod), and no etcd read is
made in the common case. A storage without `list_fresh` (a wrapper, a fake) is read live. The
objects are shared with the cache: read-only (copy before changing).

Kubernetes' admission plugins read these objects from informers (eventually consistent, with a
live lookup when none is found); the fence makes kubelite's stronger for writes made through
the same API server, and equal for writes through another.
"""

from __future__ import annotations

from typing import Any

from apiserver.storage import Storage, keys
from machinery import errors

Obj = dict[str, Any]


async def fresh_list(storage: Storage, plural: str, namespace: str | None = None) -> list[Obj]:
    prefix = keys.collection_prefix(plural, namespace)
    list_fresh = getattr(storage, "list_fresh", None)
    if list_fresh is None:
        return (await storage.list(prefix)).items
    items: list[Obj] = (await list_fresh(prefix)).items
    return items


async def fresh_get(storage: Storage, plural: str, name: str, namespace: str | None = None) -> Obj | None:
    """The named object of the collection (see fresh_list), None when absent."""
    return next((o for o in await fresh_list(storage, plural, namespace)
                 if (o.get("metadata") or {}).get("name") == name), None)


async def fresh_object(storage: Storage, plural: str, name: str, namespace: str | None = None) -> Obj | None:
    """The object `name` of the collection from the watch cache behind the fence
    (`EtcdStorage.get_fresh`: a miss is confirmed by an etcd read), None when absent; a
    storage without `get_fresh` is read live. Read-only (shared with the cache)."""
    key = keys.object_key(plural, name, namespace)
    get_fresh = getattr(storage, "get_fresh", None)
    if get_fresh is not None:
        found: Obj | None = await get_fresh(key)
        return found
    try:
        return await storage.get(key)
    except errors.NotFound:
        return None


__all__ = ["fresh_get", "fresh_list", "fresh_object"]
