"""etcd maintenance for backup and restore: snapshots, their status, key counts, revision bumps.

Contract:
- `snapshot_save(endpoint, path)`: a consistent snapshot of a RUNNING etcd through its
  maintenance API (`etcdctl snapshot save`, Debian's etcd-client), written to `path.part`
  then renamed, so a crash never leaves a half file under the final name. Raises EtcdOpError.
- `snapshot_status(path) -> SnapshotStatus`: revision, hash, key count and size as etcd reads
  them from a snapshot file (or the `member/snap/db` of a STOPPED data dir). EtcdOpError when
  the file is not an etcd database.
- `snapshot_restore(snapshot, data_dir, name, peer_url, initial_cluster="", token="")`:
  `etcdctl snapshot restore` into a NEW data dir (it must not exist) for member `name` of
  `initial_cluster` (default: the one-member cluster `name=peer_url`); the snapshot's
  integrity hash is checked by etcd.
- `await object_counts(endpoint, revision)`: {plural: keys} under /registry/ at `revision`
  (keys only; the latest revision if `revision` was compacted meanwhile).
- `await current_revision(endpoint)`: etcd's header revision.
- `await bump_revision(endpoint, target, progress)`: writes one private key (outside
  /registry/, so no API server ever sees it) until etcd's revision is >= target, then deletes
  it and compacts at the final revision. This is etcd 3.5's `etcdutl snapshot restore
  --bump-revision --mark-compacted` for etcd 3.4, which lacks those flags: clients never see a
  resourceVersion go backwards, and any watch from before the restore gets "compacted" (410).
  Returns the revision compacted at.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    import aetcd


ETCDCTL = os.environ.get("KUBELITE_ETCDCTL_BIN", "/usr/bin/etcdctl")
REGISTRY = b"/registry/"
BUMP_KEY = b"/kubelite.io/restore-revision-bump"
BUMP_WORKERS = 64
TIMEOUT_S = 30.0


class EtcdOpError(Exception):
    """An etcd maintenance step failed; the message says which and why."""


@dataclass(frozen=True)
class SnapshotStatus:
    revision: int
    hash: int
    total_keys: int
    size_bytes: int


def _etcdctl(args: list[str], *, endpoint: str | None = None, timeout_s: float = 120.0) -> str:
    argv = [ETCDCTL, *args] + ([f"--endpoints={endpoint}"] if endpoint else [])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "ETCDCTL_API": "3"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EtcdOpError(f"etcdctl {args[0]} {args[1]} failed: {exc}") from None
    if done.returncode != 0:
        raise EtcdOpError(f"etcdctl {' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def snapshot_save(endpoint: str, path: Path) -> None:
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    try:
        _etcdctl(["snapshot", "save", str(part), "--command-timeout=120s"], endpoint=endpoint)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def snapshot_status(path: Path) -> SnapshotStatus:
    out = _etcdctl(["snapshot", "status", str(path), "--write-out=json"])
    try:
        data = json.loads(out)
        return SnapshotStatus(int(data["revision"]), int(data["hash"]), int(data["totalKey"]),
                              int(data["totalSize"]))
    except (ValueError, KeyError, TypeError):
        raise EtcdOpError(f"etcdctl snapshot status: unexpected output {out[:200]!r}") from None


def snapshot_restore(snapshot: Path, data_dir: Path, *, name: str, peer_url: str, initial_cluster: str = "",
                     token: str = "") -> None:
    if data_dir.exists():
        raise EtcdOpError(f"{data_dir} exists: a restore needs a fresh data dir")
    _etcdctl(["snapshot", "restore", str(snapshot), f"--data-dir={data_dir}", f"--name={name}",
              f"--initial-cluster={initial_cluster or f'{name}={peer_url}'}", f"--initial-advertise-peer-urls={peer_url}",
              *([f"--initial-cluster-token={token}"] if token else [])])


def _client(endpoint: str) -> aetcd.Client:
    import aetcd  # grpc and protobuf cost ~0.2 s of every CLI start; only these verbs need them

    url = urlparse(endpoint if "//" in endpoint else f"http://{endpoint}")
    return aetcd.Client(host=url.hostname or "127.0.0.1", port=url.port or 2379, timeout=TIMEOUT_S)


async def current_revision(endpoint: str) -> int:
    from aetcd import rpc

    async with _client(endpoint) as client:
        resp = await client.kvstub.Range(rpc.RangeRequest(key=REGISTRY, count_only=True), timeout=TIMEOUT_S)
        return int(resp.header.revision)


def _compacted(exc: BaseException) -> bool:
    """etcd's ErrCompacted: a Range at a revision older than the compaction is OUT_OF_RANGE (the
    revision comes from the server itself, so it is never a future one, the other OUT_OF_RANGE)."""
    import grpc  # lazy with aetcd (see _client)

    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.OUT_OF_RANGE


async def object_counts(endpoint: str, revision: int) -> dict[str, int]:
    from aetcd import rpc

    end = REGISTRY[:-1] + b"0"  # the byte after "/"
    async with _client(endpoint) as client:
        counts: Counter[str] = Counter()
        start = REGISTRY
        rev = revision
        while True:
            req = rpc.RangeRequest(key=start, range_end=end, keys_only=True, limit=5000, revision=rev)
            try:
                resp = await client.kvstub.Range(req, timeout=TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - grpc's error types; compacted -> latest
                if rev and _compacted(exc):
                    rev, start, counts = 0, REGISTRY, Counter()
                    continue
                raise EtcdOpError(f"counting objects: {exc}") from None
            for kv in resp.kvs:
                counts[kv.key[len(REGISTRY):].decode(errors="replace").split("/", 1)[0]] += 1
            if not resp.more or not resp.kvs:
                return dict(sorted(counts.items()))
            start = resp.kvs[-1].key + b"\x00"
            rev = rev or int(resp.header.revision)


async def bump_revision(endpoint: str, target: int, progress: Callable[[int, int], None] | None = None) -> int:
    from aetcd import rpc

    async with _client(endpoint) as client:
        start = int((await client.kvstub.Range(rpc.RangeRequest(key=BUMP_KEY), timeout=TIMEOUT_S)).header.revision)
        needed = max(target - start, 0)
        done = 0
        lock = asyncio.Lock()

        async def worker() -> None:
            nonlocal done
            while True:
                async with lock:
                    if done >= needed:
                        return
                    done += 1
                    mine = done
                await client.kvstub.Put(rpc.PutRequest(key=BUMP_KEY, value=b"x"), timeout=TIMEOUT_S)
                if progress is not None and mine % 5000 == 0:
                    progress(mine, needed)

        await asyncio.gather(*(worker() for _ in range(BUMP_WORKERS)))
        resp = await client.kvstub.DeleteRange(rpc.DeleteRangeRequest(key=BUMP_KEY), timeout=TIMEOUT_S)
        final = int(resp.header.revision)
        await client.compact(final, physical=True)
        return final
