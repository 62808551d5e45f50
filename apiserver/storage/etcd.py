"""`Storage` on etcd v3 (one grpc.aio channel over the endpoints, aetcd's generated KV/Watch stubs).

Contract (see interface.py for the protocol):
- Values are compact JSON without `metadata.resourceVersion`; every object returned carries
  `metadata.resourceVersion = str(mod_revision)` (a deleted object: the delete's revision).
- create: txn `create_revision == 0` -> else errors.AlreadyExists. update/delete with an
  expected rv: txn `mod_revision == rv` -> else errors.NotFound (key gone) or errors.Conflict.
  Messages follow Kubernetes, with the key's plural and name (`Operation cannot be fulfilled
  on pods "x": the object has been modified; ...`, details.kind = the plural); the REST layer
  may re-raise with a group-qualified resource ("deployments.apps") if it wants.
- guaranteed_update starts from the watch cache's copy of the key when the cache runs (one
  etcd read less per write, as Kubernetes' cachedExistingObject); a failed compare returns
  the current value in the same txn, and an error or no-op fn decided on the cached copy is
  re-checked on a fresh read, so a stale cache costs a round trip, never a wrong answer.
- list: paginated Range reads; every page is read at the first page's revision (encoded in
  the continue token); a compacted revision -> errors.Expired (410).
- etcd unreachable (gRPC UNAVAILABLE, deadline exceeded, connection errors) ->
  errors.ServiceUnavailable (503). Nothing to reconnect by hand: the gRPC channel reconnects
  by itself (short reconnect backoff, etcdchannel.py), so calls succeed again once etcd is back.
- watch: served by one `WatchCache` per resource prefix (`/registry/<plural>/`), created
  lazily; `start_watch_caches()` starts them eagerly. Pods get an index on spec.nodeName.
- list_fresh / get_fresh: reads served by the watch cache behind a consistent-read fence: every
  write this storage made is noted in a `WriteFence`, and a fresh read waits until the cache has
  applied the latest one under its collection, reading etcd when the cache stays behind
  (`fresh_wait_s`). So an object written through this API server just before is always seen
  (apiserver/storage/fresh.py).
- Several endpoints (the members of one etcd cluster, `--etcd-servers a,b,c`): one gRPC channel
  over all of them with round-robin balancing (apiserver/storage/etcdchannel.py). A member that
  dies is skipped once its connection fails (requests in flight on it answer 503, which
  clients retry); the watch caches' streams resume on a live member from their revision + 1.
  Reads are linearizable (etcd's default), so any member answers with the cluster's state.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from aetcd import rpc

from apiserver.metrics import etcd_observe
from apiserver.storage import fresh, keys
from apiserver.storage.encryption import EncryptionConfig
from apiserver.storage.etcdchannel import open_channel
from apiserver.storage.etcdcodec import _decode, _encode, _without_rv, etcd_errors
from apiserver.storage.interface import ListResult, Obj, StoredEvent
from apiserver.storage.watchcache import IndexFn, RawEvent, WatchBatch, WatchCache
from machinery import errors

log = logging.getLogger(__name__)

_PAGE = 500  # keys per Range call when filtering or snapshotting


def pod_node_name(obj: Obj) -> str:
    """Watch-cache index of pods: spec.nodeName ("" when unscheduled)."""
    return str((obj.get("spec") or {}).get("nodeName") or "")


_Pairs = list[tuple[str, Obj]]  # (key, object); an alias because EtcdStorage.list shadows list

DEFAULT_INDEXES: dict[str, IndexFn] = {"/registry/pods/": pod_node_name}


def _stamped(obj: Obj, revision: int) -> Obj:
    """What a write returns: `obj` with metadata.resourceVersion, as new top-level and metadata
    dicts (the caller's `obj` is left as it was); nested values (spec, status) are shared with
    `obj`, which the caller handed over (a deep copy here was 4% of the server's CPU per create)."""
    meta = obj.get("metadata")
    return {**obj, "metadata": {**(meta if isinstance(meta, dict) else {}), "resourceVersion": str(revision)}}


class EtcdStorage:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout_s: float = 5.0,
        watch_cache_capacity: int = 10_000,
        bookmark_interval_s: float = 5.0,
        watch_queue_size: int = 1_000,
        watch_indexes: dict[str, IndexFn] | None = None,
        encryption: EncryptionConfig | None = None,
    ) -> None:
        self._channel = channel
        self.encryption = encryption
        self._stale: set[str] = set()  # keys read with a non-primary provider: a rewrite re-encrypts
        self.timeout_s = timeout_s
        self.watch_cache_capacity = watch_cache_capacity
        self.bookmark_interval_s = bookmark_interval_s
        self.watch_queue_size = watch_queue_size
        self.watch_indexes = DEFAULT_INDEXES if watch_indexes is None else watch_indexes
        self._caches: dict[str, WatchCache] = {}
        self._fence = fresh.WriteFence()  # the latest revision written under each prefix (fresh reads)
        self.fresh_wait_s = 2.0
        self._kv = rpc.KVStub(channel)
        self._watch = rpc.WatchStub(channel)

    @classmethod
    async def connect(
        cls, endpoints: list[str], *, timeout_s: float = 5.0, **options: Any
    ) -> EtcdStorage:
        """Open a channel to the endpoints (`http://host:port` or `host:port`). Does not need
        etcd to be up yet: calls raise ServiceUnavailable until it is."""
        return cls(open_channel(endpoints), timeout_s=timeout_s, **options)

    async def close(self) -> None:
        for cache in list(self._caches.values()):
            await cache.stop()
        self._caches.clear()
        await self._channel.close()

    # --- raw calls -----------------------------------------------------------------------

    async def _range(self, req: Any, what: str) -> Any:
        start = time.perf_counter()
        try:
            with etcd_errors(what):
                return await self._kv.Range(req, timeout=self.timeout_s)
        finally:
            etcd_observe(what, time.perf_counter() - start)

    async def _txn(self, req: Any, what: str) -> Any:
        start = time.perf_counter()
        try:
            with etcd_errors(what):
                return await self._kv.Txn(req, timeout=self.timeout_s)
        finally:
            etcd_observe(what, time.perf_counter() - start)

    @staticmethod
    def _cmp(key: bytes, target: str, value: int) -> Any:
        c = rpc.Compare(key=key, result=rpc.Compare.EQUAL,
                        target=getattr(rpc.Compare, target.upper()))
        setattr(c, f"{target}_revision", value)
        return c

    # --- Storage ---------------------------------------------------------------------------

    async def current_revision(self) -> int:
        resp = await self._range(rpc.RangeRequest(key=b"/registry/", count_only=True), "revision")
        return int(resp.header.revision)

    async def healthy(self) -> bool:
        try:
            await self.current_revision()
            return True
        except errors.ApiError:
            return False

    # --- stored values (encryption at rest, apiserver/storage/encryption.py) -----------------

    def _encode_at(self, key: str, obj: Obj) -> bytes:
        data = _encode(obj)
        t = self.encryption.transformer_for(key) if self.encryption is not None else None
        if t is None:
            return data
        self._stale.discard(key)
        return t.write(key, data)

    def _decode_at(self, key: str, value: bytes, revision: int) -> Obj:
        t = self.encryption.transformer_for(key) if self.encryption is not None else None
        if t is not None:
            value, stale = t.read(key, value)
            if stale:
                self._stale.add(key)
        return _decode(value, revision)

    async def get(self, key: str) -> Obj:
        resp = await self._range(rpc.RangeRequest(key=key.encode()), f"get {key}")
        if not resp.kvs:
            raise keys.not_found(key)
        kv = resp.kvs[0]
        return self._decode_at(key, kv.value, kv.mod_revision)

    async def create(self, key: str, obj: Obj) -> Obj:
        k = key.encode()
        req = rpc.TxnRequest(
            compare=[self._cmp(k, "create", 0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=self._encode_at(key, obj)))],
        )
        resp = await self._txn(req, f"create {key}")
        if not resp.succeeded:
            raise keys.already_exists(key)
        self._fence.note(key, int(resp.header.revision))
        return _stamped(obj, int(resp.header.revision))

    async def update(self, key: str, obj: Obj, *, expected_rv: int) -> Obj:
        written, _ = await self._write_if(key, obj, expected_rv)
        if written is None:
            raise keys.conflict(key)
        return written

    async def _write_if(self, key: str, obj: Obj, expected_rv: int) -> tuple[Obj | None, Obj | None]:
        """(written object, None), or (None, the current object) when the key's mod_revision
        is not `expected_rv`. The failure branch reads the current value in the same txn (as
        Kubernetes does), so a retry needs no extra read. Raises NotFound if the key is gone."""
        k = key.encode()
        req = rpc.TxnRequest(
            compare=[self._cmp(k, "mod", expected_rv)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=self._encode_at(key, obj)))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._txn(req, f"update {key}")
        if not resp.succeeded:
            kvs = resp.responses[0].response_range.kvs
            if not kvs:
                raise keys.not_found(key)
            return None, self._decode_at(key, kvs[0].value, kvs[0].mod_revision)
        self._fence.note(key, int(resp.header.revision))
        return _stamped(obj, int(resp.header.revision)), None

    def _cached(self, key: str) -> Obj | None:
        try:
            cache = self._caches.get(keys.resource_prefix(key))
        except ValueError:  # not a registry key: no cache can hold it
            return None
        return None if cache is None else cache.cached(key)

    async def guaranteed_update(
        self, key: str, fn: Callable[[Obj], Awaitable[Obj | None]], *, retries: int = 16
    ) -> Obj:
        # As Kubernetes' GuaranteedUpdate with a cached existing object: start from the watch
        # cache's copy, which saves one etcd read per write (bindings, status writes). A stale
        # start is harmless: the txn compares mod_revision, and its failure branch returns the
        # current object. Whatever fn decides from possibly stale data (an error, a no-op) is
        # re-checked against a fresh read before it is answered.
        current = self._cached(key)
        fresh = current is None
        if current is None:
            current = await self.get(key)
        for _ in range(max(retries, 1)):
            rv = int(current["metadata"]["resourceVersion"])
            try:
                new = await fn(copy.deepcopy(current))
            except errors.ApiError:
                if fresh:
                    raise
                current, fresh = await self.get(key), True
                continue
            if (new is None or _without_rv(new) == _without_rv(current)) and key not in self._stale:
                if fresh:
                    return current
                current, fresh = await self.get(key), True
                continue
            written, latest = await self._write_if(key, copy.deepcopy(current) if new is None else new, rv)
            if written is not None:
                return written
            assert latest is not None
            current, fresh = latest, True  # someone wrote in between: call fn again on theirs
        raise keys.conflict(key)

    async def delete(self, key: str, *, expected_rv: int | None = None) -> Obj:
        k = key.encode()
        delete_op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True))
        if expected_rv is None:
            req = rpc.TxnRequest(success=[delete_op])
        else:
            req = rpc.TxnRequest(
                compare=[self._cmp(k, "mod", expected_rv)],
                success=[delete_op],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k, keys_only=True))],
            )
        resp = await self._txn(req, f"delete {key}")
        if not resp.succeeded:
            if not resp.responses[0].response_range.kvs:
                raise keys.not_found(key)
            raise keys.conflict(key)
        prev = resp.responses[0].response_delete_range.prev_kvs
        if not prev:
            raise keys.not_found(key)
        self._fence.note(key, int(resp.header.revision))
        return self._decode_at(key, prev[0].value, resp.header.revision)

    async def list(
        self,
        prefix: str,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: int | None = None,
        predicate: Callable[[Obj], bool] | None = None,
    ) -> ListResult:
        pairs, rev, token, remaining = await self._scan(
            prefix, limit=limit, continue_token=continue_token,
            resource_version=resource_version, predicate=predicate)
        return ListResult([obj for _, obj in pairs], rev, token, remaining)

    async def _scan(
        self,
        prefix: str,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: int | None = None,
        predicate: Callable[[Obj], bool] | None = None,
    ) -> tuple[_Pairs, int, str | None, int | None]:
        """(key, object) pairs, revision, continue token, remaining count (see list)."""
        if not prefix.endswith("/"):
            raise ValueError(f"a list prefix must end in '/': {prefix!r}")
        end = keys.range_end(prefix.encode())
        start = prefix.encode()
        rev = resource_version or 0
        if continue_token:
            rev, start_key = keys.decode_continue(continue_token, prefix)
            start = start_key.encode()
        limit = limit if limit and limit > 0 else None  # Kubernetes: limit=0 means no limit
        items: _Pairs = []
        page = _PAGE if (limit is None or predicate is not None) else limit
        while True:
            req = rpc.RangeRequest(key=start, range_end=end, limit=page, revision=rev)
            try:
                resp = await self._range(req, f"list {prefix}")
            except errors.Expired:
                if continue_token:
                    raise errors.Expired(
                        "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter."
                    ) from None
                raise
            rev = rev or int(resp.header.revision)  # later pages read at the first page's rev
            for i, kv in enumerate(resp.kvs):
                key = kv.key.decode()
                obj = self._decode_at(key, kv.value, kv.mod_revision)
                if predicate is not None and not predicate(obj):
                    continue
                items.append((key, obj))
                if limit is not None and len(items) >= limit:
                    if not (resp.more or i + 1 < len(resp.kvs)):
                        return items, rev, None, None
                    token = keys.encode_continue(revision=rev, next_key=key + "\x00", prefix=prefix)
                    remaining = None if predicate else int(resp.count) - (i + 1)
                    return items, rev, token, remaining
            if not resp.more or not resp.kvs:
                return items, rev, None, None
            start = resp.kvs[-1].key + b"\x00"

    async def list_cached(
        self, prefix: str, *, predicate: Callable[[Obj], bool] | None = None
    ) -> ListResult:
        """Kubernetes' resourceVersion="0" list: served from the resource's watch cache
        (started if needed), possibly slightly stale, never paginated. Read-only objects."""
        cache = self.watch_cache(keys.resource_prefix(prefix))
        await cache.start()
        items = [o for o in cache.objects(prefix) if predicate is None or predicate(o)]
        return ListResult(items, cache.revision)

    async def list_fresh(self, prefix: str) -> ListResult:
        """The objects under `prefix` (a collection: `/registry/<plural>/[<ns>/]`) from the
        watch cache, including every write this storage made before the call; a live etcd list
        when the cache does not catch up in fresh_wait_s (apiserver/storage/fresh.py). Read-only objects."""
        return await fresh.list_fresh(self.watch_cache(keys.resource_prefix(prefix)), prefix, fence=self._fence,
                                      wait_s=self.fresh_wait_s, read_etcd=lambda: self.list(prefix))

    async def get_fresh(self, key: str) -> Obj | None:
        """The object at `key` behind the same fence as list_fresh, None when absent; a miss is
        confirmed by an etcd read (apiserver/storage/fresh.py). Read-only."""
        return await fresh.get_fresh(self.watch_cache(keys.resource_prefix(key)), key, fence=self._fence,
                                     wait_s=self.fresh_wait_s, read_etcd=lambda: self.get(key))

    # --- watch ---------------------------------------------------------------------------

    def watch_cache(self, resource_prefix: str) -> WatchCache:
        """The (not necessarily started) watch cache of one resource prefix."""
        cache = self._caches.get(resource_prefix)
        if cache is None:
            cache = self._caches[resource_prefix] = WatchCache(
                self, resource_prefix, capacity=self.watch_cache_capacity,
                bookmark_interval_s=self.bookmark_interval_s, queue_size=self.watch_queue_size,
                index_fn=self.watch_indexes.get(resource_prefix),
            )
        return cache

    async def start_watch_caches(self, resource_prefixes: Iterable[str]) -> None:
        """Start caches eagerly (the server's startup), so lists made later can watch from
        their revision without a 410."""
        await asyncio.gather(*(self.watch_cache(p).start() for p in resource_prefixes))

    def watch(
        self, prefix: str, *, from_rv: int, predicate: Callable[[Obj], bool] | None = None,
        bookmarks: bool = False, index_value: str | None = None, initial_events: bool = False,
    ) -> AsyncIterator[StoredEvent]:
        """See Storage.watch. Extensions (see WatchCache.watch): `index_value` for the
        resource's index (pods: spec.nodeName), a pre-filter the predicate must imply;
        `initial_events` (from_rv == 0): an ADDED per current object first, as Kubernetes
        does for a watch without resourceVersion."""
        cache = self.watch_cache(keys.resource_prefix(prefix))
        return cache.watch(prefix, from_rv=from_rv, predicate=predicate, bookmarks=bookmarks,
                           index_value=index_value, initial_events=initial_events)

    # --- WatchSource (used by the watch caches) ----------------------------------------------

    async def snapshot(self, prefix: str, revision: int | None) -> tuple[dict[str, Obj], int]:
        pairs, rev, _, _ = await self._scan(prefix, resource_version=revision)
        return dict(pairs), rev

    async def stream(self, prefix: str, start_rev: int) -> AsyncIterator[WatchBatch]:
        """One etcd watch from start_rev; ends with an exception (never silently)."""
        create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=prefix.encode(), range_end=keys.range_end(prefix.encode()),
            start_revision=start_rev, progress_notify=True))

        async def requests() -> AsyncIterator[Any]:
            yield create
            # Keep the send side open: etcd ends the watch stream when the client half-closes.
            await asyncio.Event().wait()

        call = self._watch.Watch(requests())
        try:
            with etcd_errors(f"watch {prefix}"):
                async for resp in call:
                    if resp.compact_revision:
                        raise errors.Expired(f"etcd compacted revision {start_rev} "
                                             f"(compact revision {resp.compact_revision})")
                    if resp.canceled:
                        raise errors.ServiceUnavailable(
                            f"etcd cancelled the watch on {prefix}: {resp.cancel_reason}")
                    if resp.events:
                        yield WatchBatch([
                            RawEvent(ev.kv.key.decode(),
                                     None if ev.type == rpc.Event.DELETE
                                     else self._decode_at(ev.kv.key.decode(), ev.kv.value, ev.kv.mod_revision),
                                     int(ev.kv.mod_revision))
                            for ev in resp.events])
                    elif not resp.created:
                        # A periodic progress notification: etcd sends it on the watcher's own
                        # channel only when the watcher is synced, so every event up to this
                        # revision was sent before it.
                        yield WatchBatch([], int(resp.header.revision))
            raise errors.ServiceUnavailable(f"etcd closed the watch on {prefix}")
        finally:
            call.cancel()
