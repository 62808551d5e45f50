"""Typer wiring of the workload verbs: scale, rollout *, set image|resources, image load.

Contract: `register(app)` adds `scale`, the `rollout` group (status, history, undo, pause,
resume, restart), the `set` group (image, resources) and the `image` group (load) to the
root app. Each command only parses flags and calls `cli.errors.run(<async implementation>)`.
Durations (`--timeout 5m`, `90s`, `0` = forever) are parsed here.
"""

from __future__ import annotations

from typing import Any

import typer

from cli import image as image_mod
from cli import rollout as rollout_mod
from cli import rollout_status, set_cmd
from cli import scale as scale_mod
from cli.errors import CliError, run
from cli.logs import parse_since
from cli.session import Globals


def _g(ctx: typer.Context) -> Globals:
    # Sub-groups get their own context; the globals live on the root one.
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


def parse_timeout(text: str) -> float:
    """kubectl's --timeout: `0` or `0s` waits forever; `5m`, `1h30m`, `90s`, `90`."""
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        return float(parse_since(text) or 0)
    except CliError:
        raise CliError(f'invalid argument "{text}" for "--timeout" flag: time: invalid duration "{text}"') from None


_ARGS = typer.Argument(None, help="KIND/NAME... or KIND NAME...")

rollout_app = typer.Typer(no_args_is_help=True, help="Manage the rollout of deployments, daemonsets, statefulsets.")
set_app = typer.Typer(no_args_is_help=True, help="Set specific features on objects (image, resources).")
image_app = typer.Typer(no_args_is_help=True, help="Make local images available to the cluster's nodes.")


@rollout_app.command("status")
def status(ctx: typer.Context, args: list[str] = _ARGS,
           watch: bool = typer.Option(True, "--watch/--no-watch", "-w", help="Watch until the rollout is done."),
           timeout: str = typer.Option("0s", "--timeout", help="How long to wait (0 = forever), e.g. 5m."),
           revision: int = typer.Option(0, "--revision", help="Pin to a revision (deployments).")) -> None:
    """Show the status of the rollout, watching until it is done."""
    run(rollout_status.rollout_status(_g(ctx), list(args or []), watch=watch, timeout_s=parse_timeout(timeout),
                                      revision=revision))


@rollout_app.command("history")
def history(ctx: typer.Context, args: list[str] = _ARGS,
            revision: int = typer.Option(0, "--revision", help="Show the pod template of this revision.")) -> None:
    """View the rollout history of a deployment, daemonset or statefulset."""
    run(rollout_mod.history(_g(ctx), list(args or []), revision=revision))


@rollout_app.command("undo")
def undo(ctx: typer.Context, args: list[str] = _ARGS,
         to_revision: int = typer.Option(0, "--to-revision", help="The revision to go back to (0: previous).")) -> None:
    """Roll back to a previous revision."""
    run(rollout_mod.undo(_g(ctx), list(args or []), to_revision=to_revision))


@rollout_app.command("pause")
def pause(ctx: typer.Context, args: list[str] = _ARGS) -> None:
    """Mark a deployment as paused: template changes do not start a rollout."""
    run(rollout_mod.set_paused(_g(ctx), list(args or []), paused=True))


@rollout_app.command("resume")
def resume(ctx: typer.Context, args: list[str] = _ARGS) -> None:
    """Resume a paused deployment."""
    run(rollout_mod.set_paused(_g(ctx), list(args or []), paused=False))


@rollout_app.command("restart")
def restart(ctx: typer.Context, args: list[str] = _ARGS) -> None:
    """Restart a deployment, daemonset or statefulset (a new rollout of the same template)."""
    run(rollout_mod.restart(_g(ctx), list(args or [])))


@set_app.command("image")
def set_image(ctx: typer.Context,
              args: list[str] = typer.Argument(None, help="KIND/NAME... CONTAINER=IMAGE... (*=IMAGE: all)")) -> None:
    """Update the image of containers in a pod template or pod."""
    run(set_cmd.set_image(_g(ctx), list(args or [])))


@set_app.command("resources")
def set_resources(ctx: typer.Context, args: list[str] = _ARGS,
                  container: str = typer.Option("*", "--containers", "-c", help="Container name (* = all)."),
                  limits: str = typer.Option("", "--limits", help="e.g. cpu=200m,memory=512Mi"),
                  requests: str = typer.Option("", "--requests", help="e.g. cpu=100m,memory=256Mi")) -> None:
    """Update resource requests/limits of containers in a pod template or pod."""
    run(set_cmd.set_resources(_g(ctx), list(args or []), container=container, limits=limits, requests=requests))


@image_app.command("load")
def image_load(ctx: typer.Context, images: list[str] = typer.Argument(None, help="IMAGE...")) -> None:
    """Make images of this host's Docker engine available on the cluster's nodes."""
    run(image_mod.load(_g(ctx), list(images or [])))


def register(app: typer.Typer) -> None:
    @app.command()
    def scale(ctx: typer.Context, args: list[str] = _ARGS,
              replicas: int = typer.Option(-1, "--replicas", help="The new number of replicas."),
              current_replicas: int = typer.Option(-1, "--current-replicas",
                                                   help="Precondition: only scale if it has this many now.")) -> None:
        """Set a new size for a deployment, replica set or stateful set."""
        run(scale_mod.scale(_g(ctx), list(args or []), replicas=replicas, current_replicas=current_replicas))

    app.add_typer(rollout_app, name="rollout")
    app.add_typer(set_app, name="set")
    app.add_typer(image_app, name="image")
