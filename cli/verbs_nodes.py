"""Typer wiring of the node verbs: cordon, uncordon, drain, taint.

Contract: `register(app)` adds them to the root app; each command only parses flags and calls
`cli.errors.run(<async implementation>)`.
"""

from __future__ import annotations

from typing import Any

import typer

from cli import drain as drain_mod
from cli import nodes
from cli.errors import run
from cli.session import Globals
from cli.workloads import parse_timeout


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


_NODES = typer.Argument(None, help="NODE... (or node/NODE)")
_SELECTOR = typer.Option(None, "--selector", "-l", help="Label selector of the nodes.")
_DRY = typer.Option("none", "--dry-run", help="none|client|server")


def register(app: typer.Typer) -> None:
    @app.command("cordon")
    def cordon(ctx: typer.Context, names: list[str] = _NODES, selector: str | None = _SELECTOR,
               dry_run: str = _DRY) -> None:
        """Mark node as unschedulable."""
        run(nodes.set_schedulable(_g(ctx), list(names or []), cordon=True, selector=selector, dry_run=dry_run))

    @app.command("uncordon")
    def uncordon(ctx: typer.Context, names: list[str] = _NODES, selector: str | None = _SELECTOR,
                 dry_run: str = _DRY) -> None:
        """Mark node as schedulable."""
        run(nodes.set_schedulable(_g(ctx), list(names or []), cordon=False, selector=selector, dry_run=dry_run))

    @app.command("drain")
    def drain(ctx: typer.Context, names: list[str] = _NODES,
              ignore_daemonsets: bool = typer.Option(False, "--ignore-daemonsets",
                                                     help="Leave DaemonSet-managed pods in place."),
              delete_emptydir_data: bool = typer.Option(False, "--delete-emptydir-data",
                                                        help="Evict pods with emptyDir volumes (their data is lost)."),
              force: bool = typer.Option(False, "--force", help="Evict pods that no controller manages."),
              grace_period: int = typer.Option(-1, "--grace-period", help="Seconds each pod gets (-1: its own)."),
              timeout: str = typer.Option("0s", "--timeout", help="Give up after this long (0: never)."),
              pod_selector: str | None = typer.Option(None, "--pod-selector", help="Only pods with these labels."),
              disable_eviction: bool = typer.Option(False, "--disable-eviction",
                                                    help="Delete instead of evict (ignores PodDisruptionBudgets)."),
              ) -> None:
        """Drain node in preparation for maintenance (cordon, then evict its pods)."""
        opts = drain_mod.DrainOptions(ignore_daemonsets=ignore_daemonsets, delete_emptydir_data=delete_emptydir_data,
                                      force=force, grace_period=grace_period, timeout_s=parse_timeout(timeout),
                                      pod_selector=pod_selector, disable_eviction=disable_eviction)
        run(drain_mod.drain(_g(ctx), list(names or []), opts))

    @app.command("taint")
    def taint(ctx: typer.Context,
              args: list[str] = typer.Argument(None, help="nodes NODE KEY=VAL:EFFECT | KEY:EFFECT- | KEY-"),
              overwrite: bool = typer.Option(False, "--overwrite", help="Replace a taint of the same key and effect."),
              selector: str | None = _SELECTOR,
              all_: bool = typer.Option(False, "--all", help="Every node."), dry_run: str = _DRY) -> None:
        """Update the taints on one or more nodes."""
        run(nodes.taint(_g(ctx), list(args or []), overwrite=overwrite, selector=selector, all_=all_,
                        dry_run=dry_run))
