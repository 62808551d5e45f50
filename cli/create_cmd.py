"""`kubelite create`: from files (`create -f`) and kubectl's generators as sub-commands.

Contract: `create_app` is a typer group whose callback keeps `create -f FILE [-R] [--dry-run]`
working when no sub-command is named; each sub-command (`namespace`, `deployment`, `job`,
`cronjob`, `configmap`, `secret generic|docker-registry|tls`, `service clusterip|nodeport|loadbalancer|externalname`,
`quota`, `priorityclass`, `poddisruptionbudget`) builds its object with cli.generators and
hands it to cli.emit (so `--dry-run=client|server` and `-o yaml|json|name` behave the same
everywhere). Aliases as kubectl: deploy, cj, cm, ns, pc, pdb, svc. Other helpers add their
own sub-commands (role, token ...) with `@create_app.command(...)` in their modules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup

from cli import apply as apply_mod
from cli import create_job as create_job_mod
from cli import generators as gen
from cli.emit import emit
from cli.errors import CliError, run
from cli.session import Globals


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


_FILES = typer.Option(None, "--filename", "-f", help="File, directory or - (stdin).")
_RECURSIVE = typer.Option(False, "--recursive", "-R", help="Process directories recursively.")
_DRY = typer.Option("none", "--dry-run", help="none|client|server (server: validated by the API server, not stored)")
_OUT = typer.Option("", "--output", "-o", help="yaml|json|name")
_NAME = typer.Argument(..., help="NAME")
_LIT = typer.Option(None, "--from-literal", help="key=value (repeatable).")
_FROM_FILE = typer.Option(None, "--from-file", help="PATH, KEY=PATH or a directory (repeatable).")
_ENV_FILE = typer.Option(None, "--from-env-file", help="A file of KEY=VALUE lines (repeatable).")
_TCP = typer.Option(None, "--tcp", help="PORT[:TARGET] (repeatable).")

class CreateGroup(TyperGroup):
    """An unknown generator is kubectl's `error: Unexpected args: [widget x]`, exit 1."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and self.get_command(ctx, args[0]) is None and not args[0].startswith("-"):
            print(f"error: Unexpected args: [{' '.join(args)}]\nSee 'kubelite create -h' for help and examples",
                  file=sys.stderr)
            raise SystemExit(1)
        return super().resolve_command(ctx, args)


create_app = typer.Typer(cls=CreateGroup, invoke_without_command=True,
                         help="Create a resource from a file or from stdin, or with a generator sub-command.")
secret_app = typer.Typer(no_args_is_help=True, help="Create a secret: generic, docker-registry or tls.")
service_app = typer.Typer(no_args_is_help=True, help="Create a service: clusterip (headless with --clusterip=None), "
                                                     "nodeport, loadbalancer or externalname.")


@create_app.callback()
def create_files(ctx: typer.Context, filename: list[str] = _FILES, recursive: bool = _RECURSIVE,
                 dry_run: str = _DRY) -> None:
    """Create resources from files or stdin, or with one of the generators below."""
    if ctx.invoked_subcommand is not None:
        return
    run(apply_mod.create(_g(ctx), list(filename or []), recursive=recursive, dry_run=dry_run))


@create_app.command("namespace")
def namespace(ctx: typer.Context, name: str = _NAME, dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a namespace with the specified name (alias: ns)."""
    run(emit(_g(ctx), lambda: gen.namespace(name), dry_run=dry_run, output=output))


@create_app.command("deployment")
def deployment(ctx: typer.Context, args: list[str] = typer.Argument(..., help="NAME [-- COMMAND [ARGS...]]"),
               image: list[str] = typer.Option(None, "--image", help="Image (repeat for several containers)."),
               replicas: int = typer.Option(1, "--replicas", "-r"),
               port: int = typer.Option(-1, "--port", help="The containerPort to expose."),
               dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a deployment with the specified name (alias: deploy)."""
    run(emit(_g(ctx), lambda: gen.deployment(args[0], list(image or []), replicas=replicas, port=port,
                                     command=args[1:]), dry_run=dry_run, output=output))


@create_app.command("job")
def job(ctx: typer.Context, args: list[str] = typer.Argument(..., help="NAME [-- COMMAND [ARGS...]]"),
        image: str = typer.Option("", "--image"),
        from_: str = typer.Option("", "--from", help="cronjob/NAME: run a CronJob's job template now."),
        dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a job with the specified name (from an image, or --from=cronjob/NAME)."""
    if from_:
        if image or len(args) > 1:
            run(_fail("--from cannot be combined with --image or a command"))
        run(create_job_mod.create_job(_g(ctx), args[0], from_, dry_run=dry_run))
        return
    run(emit(_g(ctx), lambda: gen.job(args[0], image, args[1:]), dry_run=dry_run, output=output))


@create_app.command("cronjob")
def cronjob(ctx: typer.Context, args: list[str] = typer.Argument(..., help="NAME [-- COMMAND [ARGS...]]"),
            image: str = typer.Option("", "--image"), schedule: str = typer.Option("", "--schedule"),
            restart: str = typer.Option("", "--restart", help="OnFailure (default) or Never."),
            dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a cronjob with the specified name (alias: cj)."""
    run(emit(_g(ctx), lambda: gen.cronjob(args[0], image, schedule, args[1:], restart), dry_run=dry_run, output=output))


@create_app.command("configmap")
def configmap(ctx: typer.Context, name: str = _NAME, from_literal: list[str] = _LIT,
              from_file: list[str] = _FROM_FILE, from_env_file: list[str] = _ENV_FILE,
              dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a config map from files, directories or literal values (alias: cm)."""
    run(emit(_g(ctx), lambda: gen.configmap(name, list(from_literal or []), list(from_file or []), list(from_env_file or [])), dry_run=dry_run, output=output))


@secret_app.command("generic")
def secret_generic(ctx: typer.Context, name: str = _NAME, from_literal: list[str] = _LIT,
                   from_file: list[str] = _FROM_FILE, from_env_file: list[str] = _ENV_FILE,
                   type_: str = typer.Option("", "--type"), dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a secret from files, directories or literal values."""
    run(emit(_g(ctx), lambda: gen.secret_generic(name, list(from_literal or []), list(from_file or []), list(from_env_file or []),
                                 type_), dry_run=dry_run, output=output))


@secret_app.command("docker-registry")
def secret_docker(ctx: typer.Context, name: str = _NAME,
                  docker_server: str = typer.Option("https://index.docker.io/v1/", "--docker-server"),
                  docker_username: str = typer.Option("", "--docker-username"),
                  docker_password: str = typer.Option("", "--docker-password"),
                  docker_email: str = typer.Option("", "--docker-email"),
                  dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a secret for use with a Docker registry."""
    run(emit(_g(ctx), lambda: gen.secret_docker_registry(name, docker_server, docker_username, docker_password, docker_email), dry_run=dry_run, output=output))


@secret_app.command("tls")
def secret_tls(ctx: typer.Context, name: str = _NAME, cert: str = typer.Option("", "--cert"),
               key: str = typer.Option("", "--key"), dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a TLS secret from a PEM certificate and key."""
    run(emit(_g(ctx), lambda: gen.secret_tls(name, cert, key), dry_run=dry_run, output=output))


@service_app.command("clusterip")
def service_clusterip(ctx: typer.Context, name: str = _NAME, tcp: list[str] = _TCP,
                      clusterip: str = typer.Option("", "--clusterip", help="An IP, or None for a headless service."),
                      dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a ClusterIP service (headless with --clusterip=None)."""
    run(emit(_g(ctx), lambda: gen.service(name, "ClusterIP", list(tcp or []), cluster_ip=clusterip),
             dry_run=dry_run, output=output))


@service_app.command("nodeport")
def service_nodeport(ctx: typer.Context, name: str = _NAME, tcp: list[str] = _TCP,
                     node_port: int = typer.Option(0, "--node-port"), dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a NodePort service."""
    run(emit(_g(ctx), lambda: gen.service(name, "NodePort", list(tcp or []), node_port=node_port),
             dry_run=dry_run, output=output))


@service_app.command("loadbalancer")
def service_loadbalancer(ctx: typer.Context, name: str = _NAME, tcp: list[str] = _TCP,
                         dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a LoadBalancer service."""
    run(emit(_g(ctx), lambda: gen.service(name, "LoadBalancer", list(tcp or [])), dry_run=dry_run, output=output))


@service_app.command("externalname")
def service_externalname(ctx: typer.Context, name: str = _NAME, tcp: list[str] = _TCP,
                         external_name: str = typer.Option("", "--external-name",
                                                           help="The external DNS name the service points to."),
                         dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create an ExternalName service."""
    run(emit(_g(ctx), lambda: gen.service(name, "ExternalName", list(tcp or []), external_name=external_name),
             dry_run=dry_run, output=output))


@create_app.command("quota")
def quota(ctx: typer.Context, name: str = _NAME, hard: str = typer.Option("", "--hard", help="cpu=1,pods=3"),
          scopes: str = typer.Option("", "--scopes", help="BestEffort,NotTerminating..."),
          dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a resource quota (alias: resourcequota)."""
    run(emit(_g(ctx), lambda: gen.quota(name, hard, scopes), dry_run=dry_run, output=output))


@create_app.command("priorityclass")
def priorityclass(ctx: typer.Context, name: str = _NAME, value: int = typer.Option(0, "--value"),
                  global_default: bool = typer.Option(False, "--global-default"),
                  description: str = typer.Option("", "--description"),
                  preemption_policy: str = typer.Option("", "--preemption-policy"),
                  dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a priority class (alias: pc)."""
    run(emit(_g(ctx), lambda: gen.priorityclass(name, value, global_default=global_default, description=description,
                                preemption_policy=preemption_policy), dry_run=dry_run, output=output))


@create_app.command("poddisruptionbudget")
def poddisruptionbudget(ctx: typer.Context, name: str = _NAME, selector: str = typer.Option("", "--selector"),
                        min_available: str = typer.Option("", "--min-available"),
                        max_unavailable: str = typer.Option("", "--max-unavailable"),
                        dry_run: str = _DRY, output: str = _OUT) -> None:
    """Create a pod disruption budget (alias: pdb)."""
    run(emit(_g(ctx), lambda: gen.poddisruptionbudget(name, selector, min_available, max_unavailable), dry_run=dry_run, output=output))


async def _fail_async(message: str) -> int:
    raise CliError(message)


def _fail(message: str) -> Any:
    return _fail_async(message)


ALIASES: dict[str, Callable[..., None]] = {"deploy": deployment, "cj": cronjob, "cm": configmap, "ns": namespace, "pc": priorityclass,
           "pdb": poddisruptionbudget, "resourcequota": quota}


def register(app: typer.Typer) -> None:
    for alias, func in ALIASES.items():
        create_app.command(alias, hidden=True, help=func.__doc__)(func)
    create_app.add_typer(secret_app, name="secret")
    create_app.add_typer(service_app, name="service")
    create_app.add_typer(service_app, name="svc", hidden=True)
    app.add_typer(create_app, name="create")
