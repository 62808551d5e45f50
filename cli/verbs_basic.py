"""Typer wiring of the imperative verbs: `create ...` (cli.create_cmd), `run`, `expose`.

Contract: `register(app)` adds them to the root app; each command only parses flags and calls
`cli.errors.run(<async implementation>)`.
"""

from __future__ import annotations

from typing import Any

import typer

from cli import create_cmd
from cli import run_expose as rx
from cli.errors import run
from cli.session import Globals


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


_DRY = typer.Option("none", "--dry-run", help="none|client|server")
_OUT = typer.Option("", "--output", "-o", help="yaml|json|name")


def register(app: typer.Typer) -> None:
    create_cmd.register(app)

    @app.command()
    def run_(ctx: typer.Context, args: list[str] = typer.Argument(..., help="NAME [-- ARGS...]"),
             image: str = typer.Option("", "--image", help="The container image."),
             env: list[str] = typer.Option(None, "--env", help="KEY=VALUE (repeatable)."),
             port: int = typer.Option(-1, "--port", help="The containerPort to expose."),
             labels: str = typer.Option("", "--labels", "-l", help="k=v,k2=v2 (default run=NAME)."),
             restart: str = typer.Option("", "--restart", help="Always (default), OnFailure or Never."),
             command: bool = typer.Option(False, "--command", help="The words after -- are the command, "
                                                                   "not its arguments."),
             image_pull_policy: str = typer.Option("", "--image-pull-policy"),
             dry_run: str = _DRY, output: str = _OUT) -> None:
        """Run a particular image on the cluster (creates one pod)."""
        opts = rx.RunOptions(image=image, env=list(env or []), port=port, labels=labels, restart=restart,
                             command=command, image_pull_policy=image_pull_policy, dry_run=dry_run, output=output)
        run(rx.run_pod(_g(ctx), args[0], args[1:], opts))

    app.registered_commands[-1].name = "run"

    @app.command()
    def expose(ctx: typer.Context, args: list[str] = typer.Argument(..., help="KIND NAME | KIND/NAME"),
               name: str = typer.Option("", "--name", help="The service's name (default: the object's)."),
               port: str = typer.Option("", "--port", help="The port the service serves on."),
               target_port: str = typer.Option("", "--target-port", help="The container port (number or name)."),
               protocol: str = typer.Option("", "--protocol", help="TCP (default) or UDP."),
               type_: str = typer.Option("", "--type", help="ClusterIP (default) or NodePort."),
               selector: str = typer.Option("", "--selector", help="k=v,...: instead of the object's selector."),
               labels: str = typer.Option("", "--labels", "-l", help="The service's labels."),
               cluster_ip: str = typer.Option("", "--cluster-ip", help="An IP, or None for a headless service."),
               dry_run: str = _DRY, output: str = _OUT) -> None:
        """Take a replication controller, service, deployment or pod and expose it as a new Service."""
        opts = rx.ExposeOptions(name=name, port=port, target_port=target_port, protocol=protocol, type=type_,
                                selector=selector, labels=labels, cluster_ip=cluster_ip, dry_run=dry_run,
                                output=output)
        run(rx.expose(_g(ctx), list(args), opts))
