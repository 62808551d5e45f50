"""`kubelite restore SNAPSHOT`: bring a local cluster's state back to a backup.

Contract (Kubernetes' "restoring an etcd cluster" procedure, for the cluster in HOME):
1. The snapshot (a backup NAME or a `.db` path) must match its `.sha256`; etcd checks its own
   integrity hash when restoring. Nothing is stopped before both checks pass.
2. The highest revision the old etcd reached is read (live, then from the stopped data dir).
3. The supervisor and every component it runs are stopped (no API server may serve during
   a restore); containers are NOT removed: the kubelet re-adopts or removes them afterwards,
   level-triggered, from the restored state.
4. `etcdctl snapshot restore` into a fresh data dir per member (HOME/etcd, or with --ha
   HOME/etcd-0..2 as one new cluster of the same members), each replacing the member's dir;
   the old ones are kept as `<dir>.before-restore` (replacing older such copies). Nothing else in HOME
   (kubeconfig, PKI, logs, backups) is touched.
5. etcd (every member) is started alone and its revision is bumped past the old one (+ BUMP_MARGIN) and
   compacted there (etcd 3.4 has no `--bump-revision --mark-compacted`; etcdops does the
   same with writes): resourceVersions never go backwards, and every watch or list from
   before the restore gets 410 Expired, so informers relist instead of missing or replaying.
6. If the cluster was running it is started again (same settings) and waited for.
Progress is printed per step. Any failure before step 4 leaves the old data dir in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cli import etcdops, ha
from cli.backup import Backup, BackupError, resolve_snapshot, verify
from cli.cluster import spawn_supervisor, supervisor_pid, wait_exit, wait_progress
from cli.clusterplan import ETCD_BIN, Layout, Settings, commands, load_settings, read_json
from cli.errors import CliError
from cli.probes import etcd_member_healthy, pid_alive
from cli.supervisor import GRACE_S, stop_process_group

# Writes that could have been acknowledged after the old revision was read (a killed etcd's
# WAL tail): the bump goes this far past it.
BUMP_MARGIN = 1000
ETCD_START_TIMEOUT_S = 60.0


def _stop_cluster(home: Path, echo: Callable[[str], None]) -> bool:
    """Stop the supervisor and its components; True if it was running."""
    lay = Layout(home)
    pid = supervisor_pid(lay)
    if pid is not None:
        echo(f"… stopping the control plane (supervisor pid {pid})")
        os.kill(pid, signal.SIGTERM)
        if not wait_exit(pid, GRACE_S * 2 + 5):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for name, comp in (read_json(lay.state_file).get("components") or {}).items():
        if pid_alive(comp.get("pid")):
            echo(f"  stopping leftover {name} (pid {comp['pid']})")
            asyncio.run(stop_process_group(int(comp["pid"]), GRACE_S))
    return pid is not None


@dataclass(frozen=True)
class Member:
    """One etcd member of the cluster in HOME: its name, data dir, peer URL and command."""

    name: str
    data: Path
    peer_url: str
    argv: list[str]


def members(s: Settings) -> list[Member]:
    if s.ha:
        return [Member(f"etcd-{i}", s.home / f"etcd-{i}", ha.peer_url(s, i), ha.etcd_command(s, i, ETCD_BIN))
                for i in range(ha.ETCD_MEMBERS)]
    return [Member(s.cluster_name, s.home / "etcd", f"http://127.0.0.1:{s.etcd_port + 1}", commands(s, [])["etcd"])]


def _old_revision(ms: list[Member]) -> int:
    """The highest revision the stopped members reached, from their backend databases."""
    best = 0
    for m in ms:
        db = m.data / "member" / "snap" / "db"
        if db.exists():
            with contextlib.suppress(etcdops.EtcdOpError):
                best = max(best, etcdops.snapshot_status(db).revision)
    return best


def _restore_members(s: Settings, ms: list[Member], db: Path, echo: Callable[[str], None]) -> None:
    """Every member's fresh data dir from the snapshot, then swapped in (old ones kept)."""
    cluster = ",".join(f"{m.name}={m.peer_url}" for m in ms)
    staged = []
    try:
        for m in ms:
            staging = m.data.with_name(m.data.name + ".restoring")
            shutil.rmtree(staging, ignore_errors=True)
            staged.append(staging)
            etcdops.snapshot_restore(db, staging, name=m.name, peer_url=m.peer_url, initial_cluster=cluster,
                                     token=s.cluster_name if s.ha else "")
    except etcdops.EtcdOpError as exc:
        for staging in staged:
            shutil.rmtree(staging, ignore_errors=True)
        raise CliError(f"{exc}; the old etcd data is untouched") from None
    for m, staging in zip(ms, staged, strict=True):
        previous = m.data.with_name(m.data.name + ".before-restore")
        shutil.rmtree(previous, ignore_errors=True)
        if m.data.exists():
            m.data.rename(previous)
        staging.rename(m.data)
        echo(f"✓ etcd data restored into {m.data} (the previous data is in {previous})")


def _bump(s: Settings, ms: list[Member], target: int, echo: Callable[[str], None]) -> int:
    lay = Layout(s.home)
    lay.logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for m in ms:  # together: each member waits for a quorum
        with open(lay.log("etcd" if not s.ha else m.name), "ab") as log:
            procs.append(subprocess.Popen(m.argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                          start_new_session=True, cwd=str(s.home)))
    try:
        deadline = time.monotonic() + ETCD_START_TIMEOUT_S
        while not all(etcd_member_healthy(u) for u in s.etcd_urls):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise CliError(f"the restored etcd did not start; see {lay.logs}")
            time.sleep(0.1)

        def progress(done: int, total: int) -> None:
            echo(f"  {done}/{total} revisions")

        return asyncio.run(etcdops.bump_revision(s.etcd_urls[0], target, progress))
    finally:
        for p in procs:
            asyncio.run(stop_process_group(p.pid, GRACE_S))
            p.wait()


def restore(home: Path, snapshot: str, directory: Path, *, start: bool | None = None,
            echo: Callable[[str], None] = print) -> int:
    """Restore `snapshot` into the cluster in `home` (see the module docstring); exit code."""
    s = load_settings(home)
    if not Layout(home).config_file.exists():
        raise CliError(f"no kubelite cluster in {home} (run `kubelite up` first, then restore)")
    try:
        b: Backup = resolve_snapshot(snapshot, directory)
        verify(b)
        snap = etcdops.snapshot_status(b.db)
    except (BackupError, etcdops.EtcdOpError) as exc:
        raise CliError(str(exc)) from None
    echo(f"✓ snapshot {b.db} verified (sha256 ok, etcd revision {snap.revision}, {snap.total_keys} keys)")
    live = 0
    for url in s.etcd_urls:
        if etcd_member_healthy(url):
            with contextlib.suppress(Exception):
                live = max(live, asyncio.run(etcdops.current_revision(url)))
    was_running = _stop_cluster(home, echo)
    echo("✓ control plane stopped")
    ms = members(s)
    old_rev = max(live, _old_revision(ms))
    _restore_members(s, ms, b.db, echo)
    target = max(old_rev, snap.revision) + BUMP_MARGIN
    echo(f"… bumping etcd's revision from {snap.revision} past {old_rev} (the highest the old etcd reached) "
         "and compacting, so watches from before the restore get 410 and relist")
    started = time.monotonic()
    final = _bump(s, ms, target, echo)
    echo(f"✓ revision {final}, compacted ({time.monotonic() - started:.1f}s)")
    if start if start is not None else was_running:
        echo("… starting the cluster again")
        Layout(home).state_file.unlink(missing_ok=True)
        asyncio.run(wait_progress(s, spawn_supervisor(s), 60.0))
        echo(f"✓ cluster restored to {b.name} and running")
    else:
        echo(f"✓ cluster restored to {b.name}; start it with `kubelite up --home {home}`")
    return 0
