"""Typer wiring of the editing verbs: label, annotate, patch, replace, diff, wait.

Contract: `register(app)` adds them to the root app; each command only parses flags and calls
`cli.errors.run(<async implementation>)`.
"""

from __future__ import annotations

from typing import Any

import typer

from cli import diff_wait as dw
from cli import label_annotate as la
from cli import patch_replace as pr
from cli.errors import run
from cli.session import Globals
from cli.workloads import parse_timeout


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


_DRY = typer.Option("none", "--dry-run", help="none|client|server")
_OUT = typer.Option("", "--output", "-o", help="yaml|json|name")
_ARGS = typer.Argument(None, help="KIND NAME... KEY=VAL... KEY-... | KIND/NAME... KEY=VAL...")
_FILES = typer.Option(None, "--filename", "-f", help="File, directory or - (stdin).")
_RECURSIVE = typer.Option(False, "--recursive", "-R", help="Process directories recursively.")


def _meta_command(app: typer.Typer, field: str, doc: str) -> None:
    def command(ctx: typer.Context, args: list[str] = _ARGS,
                overwrite: bool = typer.Option(False, "--overwrite", help="Replace values that are already set."),
                selector: str | None = typer.Option(None, "--selector", "-l", help="Label selector."),
                all_: bool = typer.Option(False, "--all", help="Every object of the kind in the namespace."),
                resource_version: str = typer.Option("", "--resource-version",
                                                     help="Only if the object still has this resourceVersion."),
                dry_run: str = _DRY, output: str = _OUT) -> None:
        opts = la.MetaOptions(field=field, overwrite=overwrite, selector=selector, all=all_,
                              resource_version=resource_version, dry_run=dry_run, output=output)
        run(la.change_metadata(_g(ctx), list(args or []), opts))

    command.__doc__ = doc
    app.command(field[:-1] if field == "labels" else "annotate")(command)


def register(app: typer.Typer) -> None:
    _meta_command(app, "labels", "Update the labels on a resource (k=v sets, k- removes).")
    _meta_command(app, "annotations", "Update the annotations on a resource (k=v sets, k- removes).")

    @app.command("patch")
    def patch(ctx: typer.Context, args: list[str] = typer.Argument(None, help="KIND NAME | KIND/NAME"),
              patch_text: str = typer.Option("", "--patch", "-p", help="The patch (JSON or YAML)."),
              patch_file: str = typer.Option("", "--patch-file", help="A file holding the patch."),
              type_: str = typer.Option("strategic", "--type", help="strategic|merge|json"),
              subresource: str = typer.Option("", "--subresource", help="status or scale"),
              dry_run: str = _DRY, output: str = _OUT) -> None:
        """Update fields of a resource using strategic merge patch, a JSON merge patch, or a JSON patch."""
        run(pr.patch(_g(ctx), list(args or []), patch_text=patch_text, patch_file=patch_file, patch_type=type_,
                     subresource=subresource, dry_run=dry_run, output=output))

    @app.command("replace")
    def replace(ctx: typer.Context, filename: list[str] = _FILES, recursive: bool = _RECURSIVE,
                force: bool = typer.Option(False, "--force", help="Delete and re-create the objects."),
                dry_run: str = _DRY, output: str = _OUT) -> None:
        """Replace a resource by file name or stdin."""
        run(pr.replace(_g(ctx), list(filename or []), recursive=recursive, force=force, dry_run=dry_run,
                       output=output))

    @app.command("diff")
    def diff(ctx: typer.Context, filename: list[str] = _FILES, recursive: bool = _RECURSIVE) -> None:
        """Diff the live version against what would be applied (exit 1 when they differ)."""
        run(dw.diff(_g(ctx), list(filename or []), recursive=recursive))

    @app.command("wait")
    def wait(ctx: typer.Context, args: list[str] = typer.Argument(None, help="KIND/NAME... | KIND NAME... | KIND -l"),
             for_: str = typer.Option("", "--for", help="condition=Ready[=true] | delete | jsonpath={.status.phase}=X"),
             timeout: str = typer.Option("30s", "--timeout", help="How long to wait (0: forever), e.g. 60s, 5m."),
             selector: str | None = typer.Option(None, "--selector", "-l", help="Label selector."),
             all_: bool = typer.Option(False, "--all", help="Every object of the kind in the namespace.")) -> None:
        """Experimental: wait for a specific condition on one or many resources."""
        run(dw.wait(_g(ctx), list(args or []), for_=for_, timeout_s=parse_timeout(timeout), selector=selector,
                    all_=all_))
