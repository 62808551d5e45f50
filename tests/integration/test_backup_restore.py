"""Backup and restore of a local cluster (`kubelite up` on free ports in a temp home: real
etcd, real API server, the real CLI as a subprocess): the round trip brings back what existed
at the snapshot and drops what came after, resourceVersions never go backwards, a watch from
before the restore gets 410, and an informer that lived through it relists to the restored
state. Also: checksum refusal, retention, a user directory, scheduled backups.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from machinery import errors
from machinery.client import ApiClient
from machinery.informer import Informer
from machinery.models import ConfigMap, Namespace
from tests.support import free_port, free_port_range, wait_until, wait_until_sync

pytestmark = pytest.mark.integration
KUBELITE = str(Path(sys.executable).parent / "kubelite")


class Home:
    """A `kubelite up --components none` cluster in a temp home; `down --purge` at the end."""

    def __init__(self, path: Path, *extra: str) -> None:
        self.path = path
        self.env = {**os.environ, "KUBELITE_HOME": str(path), "KUBELITE_DEBUG": ""}
        if "--ha" in extra:
            self.api_port, self.etcd_port = free_port_range(3), free_port_range(6)
        else:
            self.api_port = free_port()
            self.etcd_port = free_port()
            while self.api_port in (self.etcd_port, self.etcd_port + 1):
                self.etcd_port = free_port()
        up = self.run("up", "--api-port", str(self.api_port), "--etcd-port", str(self.etcd_port),
                      "--components", "none", "--cluster-name", f"br{uuid.uuid4().hex[:6]}", *extra)
        assert up.returncode == 0, up.stdout + up.stderr

    @property
    def kubeconfig(self) -> str:
        return str(self.path / "kubeconfig")

    def run(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBELITE, *args], capture_output=True, text=True, timeout=timeout_s, env=self.env)

    async def arun(self, *args: str, timeout_s: float = 180.0) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(KUBELITE, *args, env=self.env, stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
        return int(proc.returncode or 0), out.decode()

    def cli(self, *args: str) -> Result:
        """In process (typer's runner): faster than a subprocess, same code path."""
        return CliRunner().invoke(app, [*args[:1], "--home", str(self.path), *args[1:]]
                                  if args[:2] != ("backup", "list") else [*args, "--home", str(self.path)])

    def down(self) -> None:
        self.run("down", "--purge")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    h = Home(tmp_path / "home")
    try:
        yield h
    finally:
        h.down()


def _cm(name: str, value: str) -> ConfigMap:
    return ConfigMap.model_validate({"metadata": {"name": name}, "data": {"v": value}})


def _backup_name(out: str) -> str:
    line = next(x for x in out.splitlines() if x.startswith("✓ backup "))
    return line.split()[2].rstrip(":")


async def test_round_trip_brings_back_the_snapshot_and_informers_relist(home: Home) -> None:
    ns = "br"
    async with ApiClient.from_kubeconfig(home.kubeconfig) as c:
        await c.create(Namespace.model_validate({"metadata": {"name": ns}}))
        for i in range(3):
            await c.create(_cm(f"before-{i}", "original"), namespace=ns)
        code, out = await home.arun("backup", "--keep", "2")
        assert code == 0, out
        name = _backup_name(out)
        meta = json.loads((home.path / "backups" / f"{name}.json").read_text())
        assert meta["objectCounts"]["configmaps"] == 3 and meta["etcdRevision"] > 0
        assert meta["kubeliteVersion"] and meta["sha256"] in (home.path / "backups" / f"{name}.db.sha256").read_text()

        # What happens after the snapshot: a create, a delete, an update.
        await c.create(_cm("after-0", "new"), namespace=ns)
        await c.delete(ConfigMap, "before-0", namespace=ns)
        b1 = await c.get(ConfigMap, "before-1", namespace=ns)
        b1.data = {"v": "changed"}
        await c.replace(b1)

        inf: Informer[ConfigMap] = Informer(c, ConfigMap, namespace=ns)
        seen: list[tuple[str, str]] = []
        inf.add_handlers(on_add=lambda o: seen.append(("add", o.name)),
                         on_update=lambda old, new: seen.append(("update", new.name)),
                         on_delete=lambda o: seen.append(("delete", o.name)))
        task = asyncio.create_task(inf.run())
        try:
            await inf.wait_synced(timeout_s=30)
            assert sorted(inf.keys()) == [f"{ns}/after-0", f"{ns}/before-1", f"{ns}/before-2"]
            old_rv = int((await c.list(ConfigMap, namespace=ns)).resource_version or 0)
            seen.clear()

            listing = home.run("backup", "list")
            assert listing.returncode == 0, listing.stderr
            row = next(x.split() for x in listing.stdout.splitlines() if x.startswith(name))
            assert row[2] == str(meta["etcdRevision"]) and row[-1] == "yes"

            code, out = await home.arun("restore", name)
            assert code == 0, out
            assert "verified" in out and "control plane stopped" in out and "running" in out

            # The state is the snapshot's.
            await wait_until(lambda: _names(c, ns), timeout_s=30)
            got = {cm.name: (cm.data or {}).get("v") for cm in (await c.list(ConfigMap, namespace=ns)).items}
            assert got == {"before-0": "original", "before-1": "original", "before-2": "original"}

            # The informer relisted through the restart: it ends at the restored state, having
            # been told about each difference once, not replayed or left stale.
            await wait_until(lambda: sorted(inf.keys()) == [f"{ns}/before-{i}" for i in range(3)], timeout_s=60)
            await wait_until(lambda: inf.get(f"{ns}/before-1") is not None
                             and (inf.get(f"{ns}/before-1").data or {}).get("v") == "original",  # type: ignore[union-attr]
                             timeout_s=30)
            assert sorted(seen) == [("add", "before-0"), ("delete", "after-0"), ("update", "before-1")]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        # A watch from before the restore is told its revision is gone (410), never served
        # from a revision that now means something else.
        with pytest.raises(errors.Expired):
            async for _ in c.watch(ConfigMap, namespace=ns, resource_version=str(old_rv), timeout_s=5):
                pass
        # resourceVersions keep growing: a new write is newer than anything seen before.
        fresh = await c.create(_cm("after-restore", "x"), namespace=ns)
        assert int(fresh.resource_version or 0) > old_rv


async def _names(c: ApiClient, ns: str) -> bool:
    try:
        items = (await c.list(ConfigMap, namespace=ns)).items
    except errors.ApiError:
        return False
    return sorted(cm.name for cm in items) == ["before-0", "before-1", "before-2"]


def test_checksum_retention_user_directory_and_schedule(tmp_path: Path) -> None:
    """One cluster started with `--backup-every 2s --backup-keep 2` (its scheduled backups go
    to HOME/backups) while manual ones go to a user directory."""
    h = Home(tmp_path / "home", "--backup-every", "2s", "--backup-keep", "2")
    try:
        _checksum_retention_and_user_directory(h, tmp_path / "mine")
        backups = h.path / "backups"
        log_path = h.path / "logs" / "supervisor.log"
        wait_until_sync(lambda: "removed old backup" in log_path.read_text(), timeout_s=60, interval_s=0.2)
        log = log_path.read_text()
        assert "backing up etcd every 2s" in log and "✓ backup snapshot-" in log
        assert 1 <= len(list(backups.glob("*.db"))) <= 2
        listing = h.cli("backup", "list")
        assert listing.exit_code == 0 and listing.stdout.count("snapshot-") in (1, 2), listing.stdout
    finally:
        h.down()


def _checksum_retention_and_user_directory(h: Home, user_dir: Path) -> None:
    names = []
    for _ in range(3):
        out = h.cli("backup", "--dir", str(user_dir), "--keep", "2")
        assert out.exit_code == 0, out.stdout + out.stderr
        names.append(_backup_name(out.stdout))
    assert len(set(names)) == 3
    kept = sorted(p.name for p in user_dir.glob("*.db"))
    assert kept == sorted(f"{n}.db" for n in names[1:])  # the oldest went
    assert not (user_dir / f"{names[0]}.json").exists() and not (user_dir / f"{names[0]}.db.sha256").exists()

    with open(user_dir / f"{names[2]}.db", "r+b") as f:  # flip one byte
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    listing = h.cli("backup", "list", "--dir", str(user_dir))
    assert listing.exit_code == 1
    rows = {x.split()[0]: x.split()[-1] for x in listing.stdout.splitlines()[1:]}
    assert rows == {names[1]: "yes", names[2]: "NO"}

    pids = {k: v["pid"] for k, v in json.loads((h.path / "run" / "state.json").read_text())["components"].items()}
    refused = h.cli("restore", names[2], "--dir", str(user_dir))
    assert refused.exit_code == 1 and "checksum mismatch" in refused.stderr
    after = {k: v["pid"] for k, v in json.loads((h.path / "run" / "state.json").read_text())["components"].items()}
    assert after == pids  # nothing was stopped
    missing = h.cli("restore", "snapshot-nope", "--dir", str(user_dir))
    assert missing.exit_code == 1 and "not found" in missing.stderr
    bad = h.cli("backup", "--schedule", "soon")
    assert bad.exit_code == 1 and "invalid duration" in bad.stderr


async def test_ha_cluster_round_trip(tmp_path: Path) -> None:
    """`up --ha`: the backup comes from a live member; the restore rebuilds all three members
    as one new cluster, and the API servers behind HAProxy serve the snapshot's state."""
    h = Home(tmp_path / "home", "--ha")
    try:
        async with ApiClient.from_kubeconfig(h.kubeconfig) as c:
            await c.create(_cm("before", "1"), namespace="default")
            code, out = await h.arun("backup")
            assert code == 0, out
            name = _backup_name(out)
            await c.create(_cm("after", "2"), namespace="default")
            old_rv = int((await c.list(ConfigMap, namespace="default")).resource_version or 0)
            code, out = await h.arun("restore", name)
            assert code == 0, out
            assert out.count("✓ etcd data restored into") == 3, out
            names = {cm.name for cm in (await c.list(ConfigMap, namespace="default")).items}
            assert "before" in names and "after" not in names
            fresh = await c.create(_cm("later", "3"), namespace="default")
            assert int(fresh.resource_version or 0) > old_rv
        status = h.run("status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("follower") == 2 and "leader;" in status.stdout, status.stdout
    finally:
        h.down()
