"""The `kubelite backup [list]` and `kubelite restore` commands (thin typer wrappers).

Contract:
- `backup [--home H] [--dir D] [--keep N] [--schedule 30m]`: one backup of the cluster in H
  into D (default H/backups), keeping the newest N (default 10, 0 = all); with --schedule,
  one every interval until Ctrl-C.
- `backup list [--home H] [--dir D]`: NAME, AGE, REVISION, SIZE, CHECKSUM OK (sha256
  recomputed), oldest first; exit 1 if any checksum fails.
- `restore SNAPSHOT [--home H] [--dir D] [--start/--no-start]`: see cli/restore.py.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer

from cli import backup as store
from cli.cluster import resolve_home
from cli.errors import CliError, ExitCode, run
from cli.printers import render_table
from machinery.tables import human_age

HOME_OPT = typer.Option(None, "--home", help="Cluster state directory (default $KUBELITE_HOME or ~/.kubelite).")
DIR_OPT = typer.Option(None, "--dir", help="Backup directory (default HOME/backups).")


def backup_dir(home: Path, directory: str | None) -> Path:
    return Path(directory).expanduser().resolve() if directory else home / "backups"


async def take(home: Path, directory: Path, keep: int, schedule: str | None) -> int:
    if keep < 0:
        raise CliError("--keep must be >= 0")
    if schedule is None:
        try:
            await asyncio.to_thread(store.take_backup, home, directory, keep)
        except store.BackupError as exc:
            raise CliError(str(exc)) from None
        return 0
    try:
        every_s = store.parse_every(schedule)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"backing up {home} every {schedule} into {directory} (keeping {keep or 'all'}); Ctrl-C to stop", flush=True)
    await store.run_schedule(home, directory, keep, every_s, stop, first_now=True)
    return 0


async def list_cmd(directory: Path) -> int:
    backups = await asyncio.to_thread(store.list_backups, directory)
    if not backups:
        print(f"No backups found in {directory}.")
        return 0
    rows = [[b.name, human_age(b.created) if b.created else "<unknown>", str(b.revision or "<unknown>"),
             store.human_size(b.db.stat().st_size) if b.db.exists() else "<missing>",
             "yes" if b.checksum_ok else "NO"] for b in backups]
    print(render_table(["NAME", "AGE", "REVISION", "SIZE", "CHECKSUM OK"], rows))
    if any(not b.checksum_ok for b in backups):
        raise ExitCode(1)
    return 0


async def restore_cmd(home: Path, snapshot: str, directory: Path, start: bool | None) -> int:
    from cli.restore import restore

    return await asyncio.to_thread(restore, home, snapshot, directory, start=start)


def register(app: typer.Typer) -> None:
    backup_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                             help="Back up the cluster's etcd into a versioned, checksummed history.")

    @backup_app.callback()
    def backup_main(ctx: typer.Context, home: str | None = HOME_OPT, directory: str | None = DIR_OPT,
                    keep: int = typer.Option(store.DEFAULT_KEEP, "--keep", help="Backups to keep (0: all)."),
                    schedule: str | None = typer.Option(None, "--schedule",
                                                        help="Back up every interval (30m, 1h) until Ctrl-C.")) -> None:
        """Take an etcd snapshot of the running cluster (`backup list` shows the history)."""
        if ctx.invoked_subcommand is not None:
            ctx.obj = (home, directory)
            return
        h = resolve_home(home)
        run(take(h, backup_dir(h, directory), keep, schedule))

    @backup_app.command("list")
    def backup_list(ctx: typer.Context, home: str | None = HOME_OPT, directory: str | None = DIR_OPT) -> None:
        """List the backups: NAME, AGE, REVISION, SIZE, CHECKSUM OK."""
        parent = ctx.obj if isinstance(ctx.obj, tuple) else (None, None)
        h = resolve_home(home or parent[0])
        run(list_cmd(backup_dir(h, directory or parent[1])))

    app.add_typer(backup_app, name="backup")

    @app.command("restore")
    def restore_main(snapshot: str = typer.Argument(..., help="A backup NAME (see `backup list`) or a .db path."),
                     home: str | None = HOME_OPT, directory: str | None = DIR_OPT,
                     start: bool | None = typer.Option(None, "--start/--no-start",
                                                       help="Start the cluster afterwards "
                                                            "(default: if it was running).")) -> None:
        """Restore the cluster's etcd from a backup (stops the control plane, restores, restarts)."""
        h = resolve_home(home)
        run(restore_cmd(h, snapshot, backup_dir(h, directory), start))
