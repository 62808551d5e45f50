"""The backup directory's bookkeeping (cli/backup.py) on plain files: durations, names,
checksums, retention and snapshot resolution. The etcd side is covered by
tests/integration/test_backup_restore.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cli import backup as store


def _fake_backup(directory: Path, name: str, created: str, payload: bytes = b"etcd") -> store.Backup:
    directory.mkdir(parents=True, exist_ok=True)
    b = store.Backup(name, directory)
    b.db.write_bytes(payload)
    b.sha_file.write_text(f"{hashlib.sha256(payload).hexdigest()}  {b.db.name}\n")
    b.meta_file.write_text(json.dumps({"name": name, "created": created, "etcdRevision": 7}))
    return b


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800.0), ("1h", 3600.0), ("90s", 90.0), ("1h30m", 5400.0)])
def test_parse_every(text: str, seconds: float) -> None:
    assert store.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "30", "m", "soon", "5d"])
def test_parse_every_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        store.parse_every(text)


def test_list_checks_checksums_and_orders_by_creation(tmp_path: Path) -> None:
    _fake_backup(tmp_path, "snapshot-b", "2026-01-02T00:00:00Z")
    bad = _fake_backup(tmp_path, "snapshot-a", "2026-01-03T00:00:00Z")
    bad.db.write_bytes(b"tampered")
    got = store.list_backups(tmp_path)
    assert [(b.name, b.checksum_ok, b.revision) for b in got] == [("snapshot-b", True, 7), ("snapshot-a", False, 7)]
    with pytest.raises(store.BackupError, match="checksum mismatch"):
        store.verify(bad)
    bad.sha_file.unlink()
    with pytest.raises(store.BackupError, match="no checksum file"):
        store.verify(bad)


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    for day in (1, 2, 3, 4):
        _fake_backup(tmp_path, f"snapshot-{day}", f"2026-01-0{day}T00:00:00Z")
    assert store.prune(tmp_path, 0) == []
    removed = store.prune(tmp_path, 2)
    assert sorted(b.name for b in removed) == ["snapshot-1", "snapshot-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"snapshot-{d}{ext}" for d in (3, 4) for ext in (".db", ".db.sha256", ".json"))


def test_resolve_by_name_or_path(tmp_path: Path) -> None:
    b = _fake_backup(tmp_path / "backups", "snapshot-x", "2026-01-01T00:00:00Z")
    assert store.resolve_snapshot("snapshot-x", tmp_path / "backups").db == b.db
    assert store.resolve_snapshot(str(b.db), tmp_path / "elsewhere").db == b.db
    with pytest.raises(store.BackupError, match='backup "snapshot-y" not found'):
        store.resolve_snapshot("snapshot-y", tmp_path / "backups")


def test_new_names_do_not_collide(tmp_path: Path) -> None:
    first = store._new_name(tmp_path)
    (tmp_path / f"{first}.db").write_bytes(b"")
    second = store._new_name(tmp_path)
    assert second != first  # `-1` within the same second, else the next second's name


def test_human_size() -> None:
    assert [store.human_size(n) for n in (10, 2048, 3 * 1024 * 1024)] == ["10B", "2.0KiB", "3.0MiB"]
