"""The storage contract between the REST layer and etcd.

Objects are plain JSON dicts here (the REST layer validates and defaults them with the
models before they reach storage). Keys look like `/registry/<plural>/<namespace>/<name>`
(cluster-scoped: `/registry/<plural>/<name>`); non-core groups use the plural alone, as
Kubernetes does (`/registry/deployments/default/web`).

`resourceVersion` is etcd's `mod_revision` of the key. Storage writes
`metadata.resourceVersion` into every object it returns (it is never stored inside the value).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

Obj = dict[str, Any]


@dataclass(frozen=True)
class ListResult:
    items: list[Obj]
    resource_version: int
    """The etcd revision the list was read at (a watch from it misses nothing)."""
    continue_token: str | None = None
    remaining_item_count: int | None = None


@dataclass(frozen=True)
class StoredEvent:
    type: str
    """ADDED, MODIFIED, DELETED (or BOOKMARK, whose object carries only a resourceVersion)."""
    object: Obj
    """For DELETED: the last state, with resourceVersion = the deletion's revision."""
    resource_version: int


class Storage(Protocol):
    async def create(self, key: str, obj: Obj) -> Obj:
        """Write only if absent (txn on create_revision == 0). Raises errors.AlreadyExists.
        The object returned (and update's) has new top-level and metadata dicts but may share
        nested values with `obj`: the caller hands `obj` over (does not change it afterwards)."""

    async def get(self, key: str) -> Obj:
        """Raises errors.NotFound."""

    async def list(
        self,
        prefix: str,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: int | None = None,
        predicate: Callable[[Obj], bool] | None = None,
    ) -> ListResult:
        """Objects under `prefix` (ending in "/"), sorted by key. With `limit`, at most
        `limit` matching items and an opaque continue token; every page is read at the
        revision of the first page (410 errors.Expired once compacted). `predicate` filters
        (selectors) before the limit is applied, like Kubernetes."""

    async def update(self, key: str, obj: Obj, *, expected_rv: int) -> Obj:
        """Write if the key's mod_revision still equals expected_rv (etcd txn).
        Raises errors.Conflict on a stale rv, errors.NotFound if the key is gone."""

    async def guaranteed_update(
        self, key: str, fn: Callable[[Obj], Awaitable[Obj | None]], *, retries: int = 16
    ) -> Obj:
        """Read-modify-write: calls fn(current) (a copy) and writes its result with a compare on
        the revision read, re-reading and calling fn again on a conflict. fn returning None (or
        an equal object) writes nothing and returns the current object. Raises NotFound."""

    async def delete(self, key: str, *, expected_rv: int | None = None) -> Obj:
        """Delete the key (with a compare when expected_rv is given: errors.Conflict).
        Returns the last stored object. Raises errors.NotFound."""

    def watch(
        self,
        prefix: str,
        *,
        from_rv: int,
        predicate: Callable[[Obj], bool] | None = None,
        bookmarks: bool = False,
    ) -> AsyncIterator[StoredEvent]:
        """Events under `prefix` with revision > from_rv, in revision order, served by the
        in-memory watch cache of the resource (one etcd watch per resource, fanned out).
        from_rv == 0 means "from now". A from_rv older than the cache keeps raises
        errors.Expired (410). With a predicate, an object that stops matching is sent as
        DELETED and one that starts matching as ADDED (as Kubernetes does). With bookmarks,
        a BOOKMARK event carrying the current revision is sent periodically (~ every 5 s
        when idle)."""

    async def current_revision(self) -> int:
        """The etcd store's current revision."""

    async def healthy(self) -> bool:
        """True if etcd answers."""

    async def close(self) -> None: ...
