"""Fresh reads of EtcdStorage: the watch cache behind a consistent-read fence.

Contract:
- `WriteFence.note(key, revision)`: EtcdStorage notes every write it made (create, update,
  delete) with the write's revision, under the key's collection (`/registry/<plural>/[<ns>/]`)
  and its resource prefix (`/registry/<plural>/`); `revision(prefix)` is the latest such
  revision (0 when none), the fence a fresh read of that prefix waits for.
- `list_fresh(cache, prefix, fence=, wait_s=, read_etcd=)`: the objects under `prefix` (a
  collection) from the resource's watch cache (started if needed) once the cache has applied
  the fence's revision of `prefix` (the watch delivers it within milliseconds); `read_etcd()`
  (a live list) when the cache stays behind for `wait_s`. So an object written through this
  API server just before is always seen, at no etcd read (what admission needs on every pod
  create).
- `get_fresh(cache, key, ...)`: one key behind the same fence (its collection's); None when
  absent. A miss, or a cache that stays behind, is confirmed by `read_etcd()` (a live get whose
  NotFound means None): the object may come from another API server whose write the watch has
  not delivered yet, as Kubernetes' admission plugins do a live lookup when their informer misses.
Writes made through ANOTHER API server of the same etcd are seen once its watch delivers them
(as Kubernetes' informer-based admission). Objects served from the cache are read-only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from apiserver.storage import keys
from apiserver.storage.interface import ListResult, Obj
from apiserver.storage.watchcache import WatchCache
from machinery import errors

log = logging.getLogger(__name__)


def collection_of(key: str) -> str:
    """The collection prefix a key stands in (`/registry/pods/ns/x` -> `/registry/pods/ns/`)."""
    return key.rsplit("/", 1)[0] + "/"


class WriteFence:
    """The latest revision this storage wrote under each collection and resource prefix."""

    def __init__(self) -> None:
        self._written: dict[str, int] = {}

    def note(self, key: str, revision: int) -> None:
        prefixes = [collection_of(key)]
        with contextlib.suppress(ValueError):  # not a registry key: no cache serves it
            prefixes.append(keys.resource_prefix(key))
        for prefix in prefixes:
            if self._written.get(prefix, 0) < revision:
                self._written[prefix] = revision

    def revision(self, prefix: str) -> int:
        return self._written.get(prefix, 0)


async def list_fresh(cache: WatchCache, prefix: str, *, fence: WriteFence, wait_s: float,
                     read_etcd: Callable[[], Awaitable[ListResult]]) -> ListResult:
    """See the module doc."""
    await cache.start()
    target = fence.revision(prefix)
    if cache.revision < target and not await cache.wait_for_revision(target, timeout_s=wait_s):
        log.warning("watch cache %s is behind revision %d; reading etcd", prefix, target)
        return await read_etcd()
    return ListResult(cache.objects(prefix), cache.revision)


async def get_fresh(cache: WatchCache, key: str, *, fence: WriteFence, wait_s: float,
                    read_etcd: Callable[[], Awaitable[Obj]]) -> Obj | None:
    """See the module doc."""
    await cache.start()
    target = fence.revision(collection_of(key))
    if cache.revision >= target or await cache.wait_for_revision(target, timeout_s=wait_s):
        found = cache.cached(key)
        if found is not None:
            return found
    try:
        return await read_etcd()
    except errors.NotFound:
        return None


__all__ = ["WriteFence", "collection_of", "get_fresh", "list_fresh"]
