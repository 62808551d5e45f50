"""`kubelite auth can-i` and `kubelite auth whoami`, as kubectl's.

Contract:
- `auth can-i VERB RESOURCE[/SUBRESOURCE] [NAME]` or `auth can-i VERB /PATH` asks the server
  with a SelfSubjectAccessReview (`-n NS`, `-A` all namespaces, `--subresource`), prints `yes`
  (exit 0) or `no[ - REASON]` (exit 1); `-q/--quiet` prints nothing. RESOURCE is resolved as
  kubectl resolves it (plural, singular, short name, `deployments.apps`); an unknown one gets
  kubectl's warning `Warning: the server doesn't have a resource type 'X'` and is asked as
  given. `*` means every resource.
- `auth whoami` prints the SelfSubjectReview's user (ATTRIBUTE/VALUE table: Username, UID,
  Groups, Extra: ...); `-o json|yaml` prints the review. A server without the API: `error:
  the selfsubjectreviews API is not enabled in the cluster`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
import yaml

from cli.errors import CliError, ExitCode, run
from cli.printers import render_table
from cli.session import Globals, open_client
from machinery import errors, registry

auth_app = typer.Typer(help="Inspect authorization.", no_args_is_help=True)


def resource_attributes(verb: str, resource: str, name: str, namespace: str, subresource: str) -> dict[str, Any]:
    """The spec.resourceAttributes kubectl sends for `can-i VERB RESOURCE [NAME]`."""
    res, _, sub = resource.partition("/")
    group = ""
    if res != "*":
        try:
            cls = registry.resolve(res)
            res, group = cls.PLURAL, cls.GROUP
        except KeyError:
            head, _, rest = res.partition(".")
            if rest:
                res, group = head, rest
            print(f"Warning: the server doesn't have a resource type '{resource.split('/')[0]}'", file=sys.stderr)
    out: dict[str, Any] = {"namespace": namespace, "verb": verb, "group": group, "resource": res}
    if sub or subresource:
        out["subresource"] = subresource or sub
    if name:
        out["name"] = name
    return out


async def can_i(g: Globals, verb: str, target: str, name: str, *, all_namespaces: bool, quiet: bool,
                subresource: str) -> int:
    client, default_ns = open_client(g)
    spec: dict[str, Any]
    if target.startswith("/"):
        spec = {"nonResourceAttributes": {"verb": verb, "path": target}}
    else:
        ns = "" if all_namespaces else (g.namespace or default_ns)
        spec = {"resourceAttributes": resource_attributes(verb, target, name, ns, subresource)}
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}
    async with client:
        answer = await client.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=body)
    status = dict(answer).get("status") or {}
    allowed = bool(status.get("allowed"))
    if not quiet:
        line = "yes" if allowed else "no"
        for extra in (status.get("reason"), status.get("evaluationError")):
            if extra and not allowed:
                line += f" - {extra}"
        print(line)
    if not allowed:
        raise ExitCode(1)
    return 0


async def whoami(g: Globals, output: str) -> int:
    client, _ = open_client(g)
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    async with client:
        try:
            review = dict(await client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                               json=body))
        except (errors.NotFound, errors.MethodNotAllowed):
            raise CliError("the selfsubjectreviews API is not enabled in the cluster") from None
    if output == "json":
        print(json.dumps(review, indent=4))
        return 0
    if output == "yaml":
        print(yaml.safe_dump(review, sort_keys=False), end="")
        return 0
    if output:
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       "allowed formats are: json,yaml")
    info = (review.get("status") or {}).get("userInfo") or {}
    rows = [["Username", str(info.get("username", ""))]]
    if info.get("uid"):
        rows.append(["UID", str(info["uid"])])
    if info.get("groups"):
        rows.append(["Groups", "[" + " ".join(info["groups"]) + "]"])
    for key, values in sorted((info.get("extra") or {}).items()):
        rows.append([f"Extra: {key}", "[" + " ".join(values) + "]"])
    print(render_table(["ATTRIBUTE", "VALUE"], rows), end="")
    return 0


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


@auth_app.command("can-i")
def can_i_cmd(ctx: typer.Context, verb: str = typer.Argument(...), target: str = typer.Argument(...),
              name: str = typer.Argument(""),
              namespace: str | None = typer.Option(None, "--namespace", "-n", help="Namespace to ask about."),
              all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A"),
              quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing; the exit code answers."),
              subresource: str = typer.Option("", "--subresource", help="Subresource, e.g. log.")) -> None:
    """Check whether an action is allowed (yes / no)."""
    g = _g(ctx)
    if namespace:
        g = Globals(g.kubeconfig, g.context, g.server, namespace)
    run(can_i(g, verb, target, name, all_namespaces=all_namespaces, quiet=quiet, subresource=subresource))


@auth_app.command("whoami")
def whoami_cmd(ctx: typer.Context, output: str = typer.Option("", "--output", "-o", help="json or yaml")) -> None:
    """Print the attributes of the current user."""
    run(whoami(_g(ctx), output))


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")
