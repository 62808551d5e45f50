"""Sending (or not) an object an imperative verb built, and printing the result as kubectl does.

Contract: `emit(g, obj, dry_run=..., output=..., verb="created")`:
- `--dry-run=client` sends nothing and prints the object as built; `server` POSTs with
  `dryRun=All` and prints what the server answered (defaults and all); `none` creates it.
- `-o yaml|json` prints the object (kubectl's key-sorted YAML / 4-space JSON); `-o name` the
  `kind.group/name`; no -o prints `deployment.apps/web created` plus ` (dry run)` or
  ` (server dry run)`.
- The namespace is written into the object only when -n was given (kubectl's EnforceNamespace);
  the request goes to the context's namespace either way. Server errors are worded as the
  kubectl generator words them (`error: failed to create deployment: ...`), or propagate as
  ApiError (`Error from server (...)`) where kubectl does not wrap them (`run`, `expose`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cli.apply import _dry_params, _suffix, check_dry_run
from cli.errors import CliError
from cli.printers import dump_json, dump_yaml, resource_name
from cli.session import Globals, coll_path, kind_for_object, open_client
from machinery import errors
from machinery.client import ApiClient

OUTPUTS = ("", "yaml", "json", "name")
# kubectl's generators wrap the server's error in their own words (create_deployment.go ...).
FAILURE_PREFIX = {"Deployment": "failed to create deployment: ", "CronJob": "failed to create cronjob: ",
                  "Job": "failed to create job: ", "ConfigMap": "failed to create configmap: ",
                  "Secret": "failed to create secret ", "ResourceQuota": "failed to create quota: ",
                  "PodDisruptionBudget": "failed to create poddisruptionbudgets: ",
                  "PriorityClass": "failed to create priorityclass: "}


def failure_prefix(obj: dict[str, Any]) -> str | None:
    if obj.get("kind") == "Service":
        return f"failed to create {(obj.get('spec') or {}).get('type', 'ClusterIP')} service: "
    return FAILURE_PREFIX.get(str(obj.get("kind")))


def check_output(output: str) -> str:
    if output not in OUTPUTS:
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       "allowed formats are: json,name,yaml")
    return output


def render(obj: dict[str, Any], output: str, *, verb: str, dry_run: str) -> str:
    if output == "yaml":
        return dump_yaml(obj)
    if output == "json":
        return dump_json(obj)
    return resource_name(obj) if output == "name" else f"{resource_name(obj)} {verb}{_suffix(dry_run)}"


async def send(client: ApiClient, obj: dict[str, Any], namespace: str, dry_run: str) -> dict[str, Any]:
    """POST the object (dry-run server: validated only) or, for client, return it unchanged."""
    if dry_run == "client":
        return obj
    cls = kind_for_object(obj)
    answer: dict[str, Any] = await client.request("POST", coll_path(cls, namespace), json=obj,
                                                  params=_dry_params(dry_run))
    answer.setdefault("kind", obj["kind"])
    answer.setdefault("apiVersion", obj["apiVersion"])
    return answer


def place_namespace(g: Globals, obj: dict[str, Any]) -> None:
    if g.namespace and kind_for_object(obj).NAMESPACED:
        obj["metadata"]["namespace"] = g.namespace


async def emit(g: Globals, build: Callable[[], dict[str, Any]], *, dry_run: str, output: str,
               verb: str = "created", wrap_errors: bool = True) -> int:
    """`build` runs inside the command, so its CliError is printed as kubectl's `error: ...`."""
    check_dry_run(dry_run)
    check_output(output)
    obj = build()
    place_namespace(g, obj)
    if dry_run == "client":
        print(render(obj, output, verb=verb, dry_run=dry_run))
        return 0
    client, namespace = open_client(g)
    async with client:
        try:
            result = await send(client, obj, namespace, dry_run)
        except errors.ApiError as exc:
            prefix = failure_prefix(obj) if wrap_errors else None
            if prefix is None or isinstance(exc, errors.ConnectionFailed):
                raise
            raise CliError(f"{prefix}{exc.message}") from None
    print(render(result, output, verb=verb, dry_run=dry_run))
    return 0
