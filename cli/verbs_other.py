"""Typer wiring of discovery, config and completion: api-versions, api-resources, config ...,
completion.

Contract: `register(app)` adds them to the root app; each command only parses flags and calls
`cli.errors.run(...)`, which owns exit codes and error text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from cli import discovery_cmds as dc
from cli.errors import run
from cli.session import Globals


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


async def _now(fn: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """A synchronous implementation behind run()'s error handling."""
    return fn(*args, **kwargs)


config_app = typer.Typer(no_args_is_help=True, help="Modify kubeconfig files (view, contexts, namespace).")


@config_app.command("view")
def view(ctx: typer.Context, raw: bool = typer.Option(False, "--raw", help="Show certificates and tokens."),
         minify: bool = typer.Option(False, "--minify", help="Only what the current context uses.")) -> None:
    """Display merged kubeconfig settings or a specified kubeconfig file."""
    run(_now(dc.config_view, _g(ctx), raw=raw, minify=minify))


@config_app.command("get-contexts")
def get_contexts(ctx: typer.Context, names: list[str] = typer.Argument(None),
                 output: str = typer.Option("", "--output", "-o", help="name")) -> None:
    """Describe one or many contexts."""
    run(_now(dc.config_get_contexts, _g(ctx), list(names or []), output=output))


@config_app.command("current-context")
def current_context(ctx: typer.Context) -> None:
    """Display the current-context."""
    run(_now(dc.config_current_context, _g(ctx)))


@config_app.command("use-context")
def use_context(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Set the current-context in a kubeconfig file."""
    run(_now(dc.config_use_context, _g(ctx), name))


@config_app.command("set-context")
def set_context(ctx: typer.Context, name: str | None = typer.Argument(None),
                current: bool = typer.Option(False, "--current", help="Modify the current context."),
                cluster: str | None = typer.Option(None, "--cluster"), user: str | None = typer.Option(None, "--user"),
                ) -> None:
    """Set a context entry in kubeconfig (--namespace NS sets its default namespace)."""
    # -n/--namespace is hoisted to the root as a global flag: read it there, as kubectl's
    # `config set-context --current --namespace=X` means the context's namespace.
    run(_now(dc.config_set_context, _g(ctx), name, current=current, namespace=_g(ctx).namespace,
             cluster=cluster, user=user))


def register(app: typer.Typer) -> None:
    from typer._completion_classes import completion_init

    completion_init()  # the shells' completion classes, for `_KUBELITE_COMPLETE=complete_bash kubelite`
    @app.command("api-versions")
    def api_versions(ctx: typer.Context) -> None:
        """Print the supported API versions on the server, in the form of "group/version"."""
        run(dc.api_versions(_g(ctx)))

    @app.command("api-resources")
    def api_resources(ctx: typer.Context,
                      namespaced: str = typer.Option("", "--namespaced", help="true|false: only (non-)namespaced."),
                      output: str = typer.Option("", "--output", "-o", help="wide|name"),
                      api_group: str | None = typer.Option(None, "--api-group", help="Only this group ('' = core).")
                      ) -> None:
        """Print the supported API resources on the server."""
        flag = None if namespaced == "" else namespaced.lower() in ("true", "1", "yes")
        run(dc.api_resources(_g(ctx), namespaced=flag, output=output, api_group=api_group))

    @app.command("completion")
    def completion(shell: str = typer.Argument(..., help="bash|zsh|fish")) -> None:
        """Output shell completion code for the specified shell (bash, zsh or fish)."""
        run(_now(dc.completion, shell))

    app.add_typer(config_app, name="config")
