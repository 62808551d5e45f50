"""The versioned state store: etcd snapshots of a running cluster, checksummed, with retention.

Contract:
- A backup directory (default `$KUBELITE_HOME/backups`, or any `--dir`) holds, per backup
  NAME = `snapshot-YYYYMMDDTHHMMSSZ` (a `-N` suffix when two fall in one second):
  `NAME.db` (the etcd snapshot), `NAME.db.sha256` (`sha256sum` format: `<hex>  NAME.db`) and
  `NAME.json` (metadata: created, etcd revision/hash/keys, size, object counts per resource,
  kubelite version, cluster name). The `.db` appears only once complete (written as `.part`).
- `take_backup(home, directory, keep, echo)` snapshots the cluster's etcd through its API
  while the API server runs (consistent: one etcd read transaction), records the metadata,
  then keeps the newest `keep` backups (0 = keep all) and removes older ones' three files.
- `list_backups(directory)` -> [Backup] oldest first, each with `checksum_ok` recomputed.
- `resolve_snapshot(arg, directory)`: a path to a `.db`, or a NAME in `directory`.
- `verify(backup)`: raises BackupError unless the `.sha256` file exists and matches.
- `run_schedule(home, directory, keep, every_s, stop, first_now=False)`: a backup every
  `every_s` (the first at once with first_now) until `stop` is set; a failed backup is reported and retried at the next tick (the supervisor's
  `--backup-every` and `kubelite backup --schedule` both use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli import etcdops
from cli.clusterplan import VERSION, load_settings
from cli.probes import etcd_member_healthy

DEFAULT_KEEP = 10
PREFIX = "snapshot-"
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


class BackupError(Exception):
    """A backup or its verification failed; the message is for the user."""


@dataclass
class Backup:
    name: str
    directory: Path
    meta: dict[str, Any] = field(default_factory=dict)
    checksum_ok: bool | None = None  # None: not verified yet

    @property
    def db(self) -> Path:
        return self.directory / f"{self.name}.db"

    @property
    def sha_file(self) -> Path:
        return self.directory / f"{self.name}.db.sha256"

    @property
    def meta_file(self) -> Path:
        return self.directory / f"{self.name}.json"

    @property
    def revision(self) -> int:
        return int(self.meta.get("etcdRevision") or 0)

    @property
    def created(self) -> str:
        return str(self.meta.get("created") or "")


def parse_every(text: str) -> float:
    """`30m`, `1h`, `90s`, `1h30m` -> seconds; ValueError otherwise (or for zero)."""
    total, num = 0.0, ""
    for ch in text.strip():
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in _DURATION_UNITS and num:
            total += float(num) * _DURATION_UNITS[ch]
            num = ""
        else:
            raise ValueError(f'invalid duration "{text}": use e.g. 30m, 1h, 90s')
    if num or total <= 0:
        raise ValueError(f'invalid duration "{text}": use e.g. 30m, 1h, 90s')
    return total


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _new_name(directory: Path) -> str:
    base = PREFIX + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, n = base, 0
    while any((directory / f"{name}{ext}").exists() for ext in (".db", ".json", ".db.part")):
        n += 1
        name = f"{base}-{n}"
    return name


def take_backup(home: Path, directory: Path, keep: int = DEFAULT_KEEP,
                echo: Callable[[str], None] = print) -> Backup:
    s = load_settings(home)
    endpoint = next((u for u in s.etcd_urls if etcd_member_healthy(u)), s.etcd_url)  # --ha: a live member
    directory.mkdir(parents=True, exist_ok=True)
    b = Backup(_new_name(directory), directory)
    started = time.monotonic()
    echo(f"… snapshotting etcd at {endpoint} into {b.db}")
    try:
        etcdops.snapshot_save(endpoint, b.db)
        st = etcdops.snapshot_status(b.db)
        counts = asyncio.run(etcdops.object_counts(endpoint, st.revision))
    except etcdops.EtcdOpError as exc:
        b.db.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {exc} (is the cluster in {home} running?)") from None
    digest = sha256_of(b.db)
    b.sha_file.write_text(f"{digest}  {b.db.name}\n")
    b.meta = {"name": b.name, "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "etcdRevision": st.revision, "etcdHash": st.hash, "etcdKeys": st.total_keys,
              "sizeBytes": b.db.stat().st_size, "sha256": digest, "objectCounts": counts,
              "kubeliteVersion": VERSION, "clusterName": s.cluster_name, "etcdEndpoint": endpoint}
    tmp = b.meta_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(b.meta, indent=2) + "\n")
    tmp.replace(b.meta_file)
    b.checksum_ok = True
    objects = sum(counts.values())
    echo(f"✓ backup {b.name}: revision {st.revision}, {objects} objects, {human_size(b.meta['sizeBytes'])}, "
         f"sha256 {digest[:12]}… in {time.monotonic() - started:.1f}s")
    for old in prune(directory, keep):
        echo(f"  removed old backup {old.name} (keeping {keep})")
    return b


def _load(directory: Path, name: str) -> Backup:
    b = Backup(name, directory)
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(b.meta_file.read_text())
        if isinstance(data, dict):
            b.meta = data
    return b


def list_backups(directory: Path, *, check: bool = True) -> list[Backup]:
    if not directory.is_dir():
        return []
    names = {p.name[:-3] for p in directory.glob(f"{PREFIX}*.db")}
    names |= {p.name[:-5] for p in directory.glob(f"{PREFIX}*.json")}
    found = [_load(directory, n) for n in names]
    if check:
        for b in found:
            b.checksum_ok = checksum_matches(b)
    return sorted(found, key=lambda b: (b.created, b.name))


def checksum_matches(b: Backup) -> bool:
    try:
        expected = b.sha_file.read_text().split()[0]
    except (OSError, IndexError):
        return False
    return b.db.exists() and sha256_of(b.db) == expected


def verify(b: Backup) -> None:
    if not b.db.exists():
        raise BackupError(f"snapshot {b.db} does not exist")
    if not b.sha_file.exists():
        raise BackupError(f"no checksum file {b.sha_file}: refusing to restore an unverified snapshot")
    if not checksum_matches(b):
        raise BackupError(f"checksum mismatch for {b.db} (expected the sha256 in {b.sha_file}): "
                          "the snapshot is corrupt or was modified")


def prune(directory: Path, keep: int) -> list[Backup]:
    """Remove all but the newest `keep` backups (0: none removed); the removed ones."""
    if keep <= 0:
        return []
    backups = list_backups(directory, check=False)
    old = backups[:-keep] if len(backups) > keep else []
    for b in old:
        for p in (b.db, b.sha_file, b.meta_file):
            p.unlink(missing_ok=True)
    return old


def resolve_snapshot(arg: str, directory: Path) -> Backup:
    path = Path(arg).expanduser()
    if path.suffix == ".db" and (path.exists() or "/" in arg):
        path = path.resolve()
        return _load(path.parent, path.name[:-3])
    name = arg[:-3] if arg.endswith(".db") else arg
    b = _load(directory, name)
    if not b.db.exists():
        known = ", ".join(x.name for x in list_backups(directory, check=False)[-5:]) or "none"
        raise BackupError(f'backup "{arg}" not found in {directory} (latest: {known}; see `kubelite backup list`)')
    return b


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}GiB"


async def run_schedule(home: Path, directory: Path, keep: int, every_s: float, stop: asyncio.Event,
                       echo: Callable[[str], None] = print, *, first_now: bool = False) -> None:
    wait = not first_now
    while not stop.is_set():
        if wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
                return
        wait = True
        try:
            await asyncio.to_thread(take_backup, home, directory, keep, echo)
        except BackupError as exc:
            echo(f"! scheduled backup failed: {exc}; next try in {every_s:.0f}s")
