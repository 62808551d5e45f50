"""Typer wiring of the troubleshooting verbs written for issue 21: events, cp, port-forward, attach,
explain, why.

Contract: `register(app)` adds them to the root app; each command only parses flags and calls
`cli.errors.run(<async implementation>)`, which owns exit codes and error text.
"""

from __future__ import annotations

from typing import Any

import typer

from cli import cp as cp_mod
from cli import events as events_mod
from cli import portforward as pf_mod
from cli.errors import run
from cli.session import Globals


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


def register(app: typer.Typer) -> None:
    @app.command("events")
    def events(
        ctx: typer.Context,
        for_object: str = typer.Option("", "--for", help="Only events about this object, KIND/NAME."),
        watch: bool = typer.Option(False, "--watch/--no-watch", "-w", help="After listing, watch for more events."),
        types: list[str] = typer.Option(None, "--types", help="Only events of these types: Normal,Warning."),
        all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="Events of every namespace."),
        output: str = typer.Option("", "--output", "-o", help="json|yaml|name|jsonpath=...|custom-columns=..."),
        no_headers: bool = typer.Option(False, "--no-headers", help="Print the table without its header."),
    ) -> None:
        """List events, oldest first (kubectl events)."""
        opts = events_mod.EventsOptions(for_object=for_object, watch=watch, types=list(types or []),
                                        all_namespaces=all_namespaces, output=output, no_headers=no_headers)
        run(events_mod.events(_g(ctx), opts))

    @app.command("cp")
    def cp(
        ctx: typer.Context,
        args: list[str] = typer.Argument(None, help="SRC DEST: [[namespace/]pod:]path or a local path"),
        container: str | None = typer.Option(None, "--container", "-c", help="The container (default: the first)."),
        no_preserve: bool = typer.Option(False, "--no-preserve", help="Do not keep owner and permissions in the pod."),
        retries: int = typer.Option(0, "--retries", help="Retries of a copy from a container whose connection "
                                                         "is lost (0: none, negative: forever)."),
    ) -> None:
        """Copy files and directories to and from containers (tar over exec)."""
        run(cp_mod.cp(_g(ctx), list(args or []), container=container, no_preserve=no_preserve, retries=retries))

    @app.command("port-forward")
    def port_forward(
        ctx: typer.Context,
        args: list[str] = typer.Argument(None, help="TYPE/NAME [LOCAL_PORT:]REMOTE_PORT..."),
        address: list[str] = typer.Option(None, "--address", help="Addresses to listen on (default: localhost)."),
    ) -> None:
        """Forward one or more local ports to a pod (pod/NAME, svc/NAME, deploy/NAME ...)."""
        run(pf_mod.port_forward(_g(ctx), list(args or []), addresses=list(address or [])))

    @app.command("attach")
    def attach(
        ctx: typer.Context,
        pod: str = typer.Argument(..., help="POD or pod/POD"),
        container: str | None = typer.Option(None, "--container", "-c"),
        stdin: bool = typer.Option(False, "--stdin", "-i", help="Pass stdin to the container."),
        tty: bool = typer.Option(False, "--tty", "-t", help="Stdin is a TTY (raw mode, resize)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print what the container prints."),
    ) -> None:
        """Attach to a running container's console (-it: with a terminal)."""
        from cli import exec_tty

        run(exec_tty.interactive(_g(ctx), pod, None, container=container, stdin=stdin, tty=tty, quiet=quiet))

    @app.command("explain")
    def explain(
        ctx: typer.Context,
        target: str = typer.Argument(..., help="RESOURCE[.field[.field...]], e.g. deploy.spec.strategy"),
        recursive: bool = typer.Option(False, "--recursive", help="Print every field below, as a tree."),
    ) -> None:
        """Get the documentation of a resource and its fields (from the server's OpenAPI)."""
        from cli import explain as explain_mod

        run(explain_mod.explain(_g(ctx), target, recursive=recursive))

    @app.command("why")
    def why(ctx: typer.Context, target: str = typer.Argument(..., help="POD, pod/NAME or deploy/NAME")) -> None:
        """Explain in plain words why a pod or deployment is not Running/Ready/Available."""
        from cli import why as why_mod

        run(why_mod.why(_g(ctx), target))
