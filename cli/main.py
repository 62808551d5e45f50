"""The `kubelite` command: kubectl-like verbs plus `up`/`down`/`status` for a local cluster.

Contract: `main()` is the console script. Global flags (--kubeconfig, --context, -s/--server,
-n/--namespace) may appear anywhere before `--`, as with kubectl: `HoistingGroup` moves them in
front of the verb before click parses. Every verb is a thin typer wrapper that calls
`cli.errors.run(<async implementation>)`, which owns exit codes and error text.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from cli import apply as apply_mod
from cli import auth as auth_mod
from cli import autoscale as autoscale_mod
from cli import (
    backup_cmd,
    cluster,
    help_panels,
    logs_multi,
    verbs_basic,
    verbs_debug,
    verbs_edit,
    verbs_nodes,
    verbs_other,
    workloads,
)
from cli import create_token as _create_token  # noqa: F401 - registers `create token`
from cli import delete as delete_mod
from cli import describe as describe_mod
from cli import edit as edit_mod
from cli import get as get_mod
from cli import join as join_mod
from cli import lab as lab_mod
from cli import logs as logs_mod
from cli import logsearch as logsearch_mod
from cli import secrets as secrets_mod
from cli import top as top_mod
from cli.errors import CliError, run
from cli.session import Globals

BOOL_FLAGS = {"--wait": "--no-wait", "--watch": "--no-watch"}
GLOBAL_WITH_VALUE = {"--kubeconfig", "--context", "--server", "-s", "--namespace", "-n"}


def hoist_globals(args: list[str]) -> list[str]:
    """Move global options (and their values) in front of the sub-command, keeping order."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in BOOL_FLAGS and "=" in arg:  # kubectl spells booleans --wait=false
            rest.append(name if arg.split("=", 1)[1].lower() in ("true", "1", "yes") else BOOL_FLAGS[name])
            i += 1
            continue
        if name in GLOBAL_WITH_VALUE and arg.startswith("--") and "=" in arg:
            front.append(arg)
        elif arg in GLOBAL_WITH_VALUE:
            front.extend(args[i:i + 2])
            i += 1
        elif arg.startswith("-n") and len(arg) > 2 and not arg.startswith("--"):
            front.extend(["-n", arg[2:].lstrip("=")])  # kubectl accepts -nfoo
        else:
            rest.append(arg)
        i += 1
    return front + rest


class HoistingGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_globals(list(args)))

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(super().list_commands(ctx), key=help_panels.rank)  # kubectl's order in --help


app = typer.Typer(cls=HoistingGroup, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]},
                  help="kubelite: a small Kubernetes. kubectl-like verbs, and up/down/status for a local cluster.")


@app.callback()
def root(
    ctx: typer.Context,
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="Path to the kubeconfig file."),
    context: str | None = typer.Option(None, "--context", help="The kubeconfig context to use."),
    server: str | None = typer.Option(None, "--server", "-s", help="The API server address (overrides kubeconfig)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="The namespace scope for this request."),
) -> None:
    ctx.obj = Globals(kubeconfig=kubeconfig, context=context, server=server, namespace=namespace)


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.obj
    return obj if isinstance(obj, Globals) else Globals()


@app.command(context_settings={"ignore_unknown_options": False})
def get(
    ctx: typer.Context,
    args: list[str] = typer.Argument(None, help="KIND [NAME...] | KIND/NAME... | kind1,kind2 | all"),
    output: str = typer.Option("", "--output", "-o",
                               help="wide|name|json|yaml|jsonpath=TEMPLATE|custom-columns=SPEC"),
    selector: str | None = typer.Option(None, "--selector", "-l", help="Label selector."),
    field_selector: str | None = typer.Option(None, "--field-selector", help="Field selector."),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A"),
    show_labels: bool = typer.Option(False, "--show-labels"),
    watch: bool = typer.Option(False, "--watch/--no-watch", "-w"),
    watch_only: bool = typer.Option(False, "--watch-only"),
    label_columns: list[str] = typer.Option(None, "--label-columns", "-L", help="Label keys shown as columns."),
    sort_by: str = typer.Option("", "--sort-by", help="A JSONPath to sort by, e.g. .metadata.name"),
    no_headers: bool = typer.Option(False, "--no-headers", help="Print tables without their header."),
) -> None:
    """Display one or many resources."""
    opts = get_mod.GetOptions(output=output, selector=selector, field_selector=field_selector,
                              all_namespaces=all_namespaces, show_labels=show_labels, watch=watch,
                              watch_only=watch_only, label_columns=list(label_columns or []), sort_by=sort_by,
                              no_headers=no_headers)
    run(get_mod.get(_g(ctx), list(args or []), opts))


@app.command()
def describe(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="The kind (pods, deploy, no, ...), or KIND/NAME."),
    name: str | None = typer.Argument(None, help="A name, or a prefix of names."),
) -> None:
    """Show details of a resource or group of resources."""
    if name is None and "/" in kind:
        kind, name = kind.split("/", 1)
    run(describe_mod.describe(_g(ctx), kind, name))


_FILES = typer.Option(None, "--filename", "-f", help="File, directory or - (stdin).")
_RECURSIVE = typer.Option(False, "--recursive", "-R", help="Process directories recursively.")
_DRY_RUN = typer.Option("none", "--dry-run", help="none|client|server")


@app.command()
def apply(ctx: typer.Context, filename: list[str] = _FILES, recursive: bool = _RECURSIVE,
          dry_run: str = _DRY_RUN) -> None:
    """Apply a configuration to resources from files or stdin (three-way merge)."""
    run(apply_mod.apply(_g(ctx), list(filename or []), recursive=recursive, dry_run=dry_run))


@app.command()
def delete(
    ctx: typer.Context,
    args: list[str] = typer.Argument(None, help="KIND NAME... | KIND/NAME..."),
    filename: list[str] = _FILES,
    recursive: bool = _RECURSIVE,
    selector: str | None = typer.Option(None, "--selector", "-l"),
    all_: bool = typer.Option(False, "--all", help="Delete all resources of the kind in the namespace."),
    grace_period: int = typer.Option(-1, "--grace-period", help="Seconds to give the resource to terminate."),
    now: bool = typer.Option(False, "--now", help="Signal for immediate shutdown (grace period 1)."),
    force: bool = typer.Option(False, "--force", help="Immediate deletion (grace period 0)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the resources are gone."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait with --wait."),
    cascade: str = typer.Option("background", "--cascade", help="background|foreground|orphan"),
    ignore_not_found: bool = typer.Option(False, "--ignore-not-found"),
) -> None:
    """Delete resources by name, file, label selector or --all."""
    opts = delete_mod.DeleteOptions(files=list(filename or []) or None, recursive=recursive, selector=selector,
                                    all=all_, grace_period=grace_period, now=now, force=force, wait=wait,
                                    timeout_s=timeout, cascade=cascade, ignore_not_found=ignore_not_found)
    run(delete_mod.delete(_g(ctx), list(args or []), opts))


@app.command()
def edit(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="KIND or KIND/NAME"),
    name: str | None = typer.Argument(None, help="NAME"),
) -> None:
    """Edit a resource in $KUBE_EDITOR or $EDITOR and send the change."""
    run(edit_mod.edit(_g(ctx), kind, name))


@app.command()
def logs(
    ctx: typer.Context,
    pod: str | None = typer.Argument(None, help="POD, pod/POD or KIND/NAME (deploy/web: its first pod)"),
    container_arg: str | None = typer.Argument(None, metavar="[CONTAINER]", help="The container (same as -c)."),
    container: str | None = typer.Option(None, "--container", "-c"),
    follow: bool = typer.Option(False, "--follow", "-f"),
    tail: int | None = typer.Option(None, "--tail", help="Lines of recent log to show (-1: all; 10 with -l)."),
    since: str | None = typer.Option(None, "--since", help="Only newer logs, e.g. 5s, 2m, 1h."),
    since_time: str | None = typer.Option(None, "--since-time", help="Only logs after this RFC3339 time."),
    timestamps: bool = typer.Option(False, "--timestamps"),
    previous: bool = typer.Option(False, "--previous", "-p"),
    grep: str | None = typer.Option(None, "--grep", help="Search the cluster log store for TEXT (deleted pods too)."),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="With --grep: every namespace."),
    selector: str | None = typer.Option(None, "--selector", "-l", help="Pods by label, e.g. app=web."),
    all_containers: bool = typer.Option(False, "--all-containers", help="Every container of the pod(s)."),
    prefix: bool = typer.Option(False, "--prefix", help="Prefix each line with [pod/NAME/CONTAINER]."),
    max_log_requests: int = typer.Option(5, "--max-log-requests", help="Most streams followed at once with -f."),
    ignore_errors: bool = typer.Option(False, "--ignore-errors", help="Print a failing stream's error, go on."),
    limit_bytes: int = typer.Option(0, "--limit-bytes", help="Most bytes of log to return per stream."),
    pod_running_timeout: str = typer.Option("20s", "--pod-running-timeout", help="How long -f retries a stream."),
) -> None:
    """Print the logs of containers in pods, or search the cluster's log store with --grep."""
    if grep is not None:
        run(logsearch_mod.search(_g(ctx), pod, grep=grep, all_namespaces=all_namespaces, selector=selector,
                                 container=container, since=since, tail=-1 if tail is None else tail,
                                 timestamps=timestamps))
        return
    if container_arg and container:
        run(_fail(CliError("only one of -c or an inline [CONTAINER] arg is allowed")))
    timeout_s = logs_mod.parse_since(pod_running_timeout) if pod_running_timeout else 20
    opts = logs_multi.LogsOptions(
        container=container or container_arg, follow=follow, tail=tail, since=since, since_time=since_time,
        timestamps=timestamps, previous=previous, selector=selector, all_containers=all_containers, prefix=prefix,
        max_log_requests=max_log_requests, ignore_errors=ignore_errors, limit_bytes=limit_bytes,
        pod_running_timeout_s=float(timeout_s or 20))
    run(logs_multi.logs(_g(ctx), pod, opts))


async def _fail(exc: Exception) -> int:
    raise exc


@app.command("exec")
def exec_cmd(
    ctx: typer.Context,
    pod: str = typer.Argument(..., help="POD or pod/POD"),
    command: list[str] = typer.Argument(None, help="-- COMMAND [ARGS...]"),
    container: str | None = typer.Option(None, "--container", "-c"),
    stdin: bool = typer.Option(False, "--stdin", "-i", help="Pass stdin to the container."),
    tty: bool = typer.Option(False, "--tty", "-t", help="Stdin is a TTY (raw mode, resize)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print what the remote command prints."),
) -> None:
    """Execute a command in a container (-it: interactive, with a terminal)."""
    if stdin or tty:
        from cli import exec_tty

        run(exec_tty.interactive(_g(ctx), pod, list(command or []), container=container, stdin=stdin, tty=tty,
                                 quiet=quiet))
        return
    run(logs_mod.exec_(_g(ctx), pod, list(command or []), container=container))


@app.command()
def version(ctx: typer.Context, client_only: bool = typer.Option(False, "--client"),
            output: str = typer.Option("", "--output", "-o", help="json|yaml")) -> None:
    """Print the client (and server) version."""
    from cli import discovery_cmds

    if output:
        run(discovery_cmds.version(_g(ctx), client_only=client_only, output=output))
        return
    run(cluster.version(_g(ctx), client_only=client_only))


cluster.register(app)
workloads.register(app)
lab_mod.register(app)
join_mod.register(app)
backup_cmd.register(app)
verbs_basic.register(app)
top_mod.register(app)
autoscale_mod.register(app)
auth_mod.register(app)
verbs_edit.register(app)
secrets_mod.register(app)
verbs_nodes.register(app)
verbs_other.register(app)
verbs_debug.register(app)
help_panels.apply_panels(app)  # last: after every register()


def main() -> None:
    app(prog_name="kubelite")


if __name__ == "__main__":
    main()
