"""`kubelite label` and `kubelite annotate`: add, overwrite and remove metadata keys.

Contract (kubectl's label.go / annotate.go):
- Arguments: `KIND NAME... k=v k2-`, `KIND/NAME... k=v`, or `KIND k=v -l SEL | --all`. A word
  with `=` sets, a word ending in `-` removes; at least one change is required.
- Setting a key that already has a different value without `--overwrite` fails before any
  write: label: `'k' already has a value (v), and --overwrite is false`; annotate:
  `--overwrite is false but found the following declared annotation(s): 'k' already has a value (v)`.
- Each object gets one JSON merge patch on metadata.labels|annotations (null removes), carrying
  metadata.resourceVersion only with `--resource-version`. Removing an absent key prints
  `label "k" not found.` and changes nothing.
- Lines: label prints `pod/x labeled`, `unlabeled` (only removals, without --overwrite) or
  `not labeled` (nothing changed); annotate prints `pod/x annotated`. `--dry-run` and `-o` as
  everywhere (cli.emit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cli.apply import _dry_params, _suffix, check_dry_run
from cli.emit import check_output, render
from cli.errors import CliError
from cli.printers import resource_name
from cli.session import Globals, coll_path, kind_for_object, obj_path, open_client, resolve_kind, with_type
from cli.targets import parse_targets
from machinery.client import ApiClient

MERGE = {"Content-Type": "application/merge-patch+json"}


@dataclass
class MetaOptions:
    field: str  # "labels" | "annotations"
    overwrite: bool = False
    selector: str | None = None
    all: bool = False
    resource_version: str = ""
    dry_run: str = "none"
    output: str = ""


def split_args(args: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(resource words, keys to set, keys to remove), in kubectl's reading of the words."""
    resources: list[str] = []
    sets: dict[str, str] = {}
    removes: list[str] = []
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            if not key:
                raise CliError(f"invalid label spec: {arg}")
            sets[key] = value
        elif arg.endswith("-") and len(arg) > 1 and resources:
            removes.append(arg[:-1])
        else:
            resources.append(arg)
    for key in removes:
        if key in sets:
            raise CliError(f"can not both modify and remove the following label(s) in the same command: {key}")
    return resources, sets, removes


def new_values(current: dict[str, str], sets: dict[str, str], removes: list[str], *, field: str,
               overwrite: bool) -> tuple[dict[str, Any], list[str]]:
    """(the merge patch of the map, keys that were asked to be removed but are absent)."""
    clashes = [f"'{k}' already has a value ({current[k]})" for k, v in sets.items()
               if k in current and current[k] != v and not overwrite]
    if clashes:
        if field == "labels":
            raise CliError(f"{clashes[0]}, and --overwrite is false")
        raise CliError("--overwrite is false but found the following declared annotation(s): " + "; ".join(clashes))
    patch: dict[str, Any] = {k: v for k, v in sets.items() if current.get(k) != v}
    missing = [k for k in removes if k not in current]
    patch.update({k: None for k in removes if k in current})
    return patch, missing


async def _objects(client: ApiClient, namespace: str, resources: list[str], opts: MetaOptions) -> list[dict[str, Any]]:
    if not resources:
        raise CliError("one or more resources must be specified as <resource> <name> or <resource>/<name>")
    if "/" in resources[0] or len(resources) > 1:
        if opts.selector or opts.all:
            raise CliError("name cannot be provided when a selector or --all is specified")
        targets = parse_targets(resources)
        return [with_type(t.cls, await client.request("GET", obj_path(t.cls, t.name, namespace))) for t in targets]
    if not (opts.selector or opts.all):
        raise CliError(f'resource(s) were provided, but no name was specified: "{resources[0]}"')
    cls = resolve_kind(resources[0])
    params = {"labelSelector": opts.selector} if opts.selector else None
    body = await client.request("GET", coll_path(cls, namespace), params=params)
    return [with_type(cls, o) for o in body.get("items") or []]


def _message(field: str, before: dict[str, Any], after: dict[str, Any], overwrite: bool) -> str:
    if field == "annotations":
        return "annotated"
    old, new = json.dumps(before), json.dumps(after)
    if old == new:
        return "not labeled"
    return "unlabeled" if not overwrite and len(new) < len(old) else "labeled"


async def change_metadata(g: Globals, args: list[str], opts: MetaOptions) -> int:
    check_dry_run(opts.dry_run)
    check_output(opts.output)
    resources, sets, removes = split_args(args)
    if not sets and not removes:
        raise CliError(f"at least one {opts.field[:-1]} update is required")
    client, namespace = open_client(g)
    async with client:
        objs = await _objects(client, namespace, resources, opts)
        plans = []
        for obj in objs:  # every clash is found before anything is written
            meta = obj.get("metadata") or {}
            patch, missing = new_values(dict(meta.get(opts.field) or {}), sets, removes, field=opts.field,
                                        overwrite=opts.overwrite)
            plans.append((obj, patch, missing))
        for obj, patch, missing in plans:
            for key in missing:
                print(f'{opts.field[:-1]} "{key}" not found.')
            after = await _send(client, obj, patch, namespace, opts)
            if opts.output:
                print(render(after, opts.output, verb="", dry_run=opts.dry_run))
                continue
            line = _message(opts.field, obj, after, opts.overwrite)
            print(f"{resource_name(obj)} {line}{_suffix(opts.dry_run)}", flush=True)
    return 0


async def _send(client: ApiClient, obj: dict[str, Any], patch: dict[str, Any], namespace: str,
                opts: MetaOptions) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    body: dict[str, Any] = {"metadata": {opts.field: patch}}
    if opts.resource_version:
        body["metadata"]["resourceVersion"] = opts.resource_version
    if opts.dry_run == "client" or (not patch and not opts.resource_version):
        after: dict[str, Any] = json.loads(json.dumps(obj))
        values = after.setdefault("metadata", {}).setdefault(opts.field, {})
        for k, v in patch.items():
            if v is None:
                values.pop(k, None)
            else:
                values[k] = v
        return after
    cls = kind_for_object(obj)
    ns = meta.get("namespace") or namespace
    answer: dict[str, Any] = await client.request("PATCH", obj_path(cls, str(meta.get("name")), ns), json=body,
                                                  headers=MERGE, params=_dry_params(opts.dry_run))
    return with_type(cls, answer)
