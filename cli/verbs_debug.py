"""Typer wiring of the troubleshooting verbs written for issue 21: events (more join later).

Contract: `register(app)` adds them to the root app; each command only parses flags and calls
`cli.errors.run(<async implementation>)`, which owns exit codes and error text.
"""

from __future__ import annotations

from typing import Any

import typer

from cli import events as events_mod
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
