"""`kubelite patch` and `kubelite replace -f`.

Contract (kubectl's patch.go / replace.go):
- `patch KIND NAME | KIND/NAME (-p PATCH | --patch-file FILE) [--type strategic|merge|json]`:
  the patch may be JSON or YAML; it is sent with the content type of its --type (strategic by
  default) and the server applies it. Prints `deployment.apps/web patched`, or
  `... patched (no change)` when the object the server returns equals the one read before.
  A patch that does not parse is `error: unable to parse "...": ...` with nothing sent.
- `replace -f FILE...`: PUTs each object as written (the server fills nothing in: a missing
  resourceVersion is an unconditional update as on Kubernetes); prints `... replaced`. A
  missing object is `Error from server (NotFound): error when replacing "FILE": ...`.
  `--force` deletes and re-creates, printing `... deleted` then `... replaced`.
Both accept `--dry-run=client|server` and `-o yaml|json|name`.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from cli.apply import _dry_params, _suffix, check_dry_run, place
from cli.delete import wait_gone
from cli.emit import check_output, render
from cli.errors import CliError, ExitCode, format_failures
from cli.manifests import read_manifests
from cli.printers import resource_name
from cli.session import Globals, coll_path, kind_for_object, kind_label, obj_path, open_client, with_type
from cli.targets import parse_targets
from machinery import errors

FORCE_WAIT_S = 60.0
PATCH_TYPES = {"strategic": "application/strategic-merge-patch+json", "merge": "application/merge-patch+json",
               "json": "application/json-patch+json"}


def parse_patch(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f'unable to parse "{text}": {exc}') from None
    if not isinstance(value, dict | list):
        raise CliError(f'unable to parse "{text}": the patch is not a JSON object or list')
    return value


async def patch(g: Globals, args: list[str], *, patch_text: str, patch_file: str, patch_type: str,
                subresource: str = "", dry_run: str = "none", output: str = "") -> int:
    check_dry_run(dry_run)
    check_output(output)
    if patch_type not in PATCH_TYPES:
        raise CliError(f'--type must be one of [json merge strategic], not "{patch_type}"')
    if bool(patch_text) == bool(patch_file):
        raise CliError("must specify --patch or --patch-file containing the contents of the patch")
    if patch_file:
        try:
            patch_text = Path(patch_file).read_text()  # noqa: ASYNC240 - a CLI reads its input before any I/O
        except OSError as exc:
            raise CliError(f"unable to read patch file: {exc.strerror}") from None
    body = parse_patch(patch_text)
    if patch_type != "json" and not isinstance(body, dict):
        raise CliError(f'unable to parse "{patch_text}": a {patch_type} patch must be a JSON object')
    targets = parse_targets(args, verb="patch")
    client, namespace = open_client(g)
    async with client:
        for target in targets:
            path = obj_path(target.cls, target.name, namespace, subresource or None)
            before = await client.request("GET", path)
            if dry_run == "client":
                after = before  # kubectl does not compute the patch locally either
            else:
                after = await client.request("PATCH", path, json=body, params=_dry_params(dry_run),
                                             headers={"Content-Type": PATCH_TYPES[patch_type]})
            after = with_type(target.cls, after)
            if output:
                print(render(after, output, verb="", dry_run=dry_run))
                continue
            same = json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)
            change = " (no change)" if same and dry_run != "client" else ""
            print(f"{target.label} patched{change}", flush=True)  # kubectl marks no dry run here
    return 0


async def replace(g: Globals, files: list[str], *, recursive: bool = False, force: bool = False,
                  dry_run: str = "none", output: str = "") -> int:
    check_dry_run(dry_run)
    check_output(output)
    manifests = read_manifests(files, recursive=recursive)
    client, default_ns = open_client(g)
    failed = False
    failures: list[tuple[errors.ApiError, str]] = []
    async with client:
        for m in manifests:
            obj = copy.deepcopy(m.obj)
            cls = kind_for_object(obj)
            ns = place(obj, cls, default_ns, g.namespace)
            name = obj["metadata"]["name"]
            try:
                if force and dry_run == "none":
                    await client.request("DELETE", obj_path(cls, name, ns))
                    where = f" from {ns} namespace" if ns else ""
                    print(f'{kind_label(cls)} "{name}" deleted{where}', flush=True)
                    if not await wait_gone(client, cls, name, ns, time.monotonic() + FORCE_WAIT_S):
                        raise CliError(f'timed out waiting for {kind_label(cls)} "{name}" to be deleted')
                    result = await client.request("POST", coll_path(cls, ns), json=_fresh(obj))
                elif dry_run == "client":
                    result = obj
                else:
                    result = await client.request("PUT", obj_path(cls, name, ns), json=obj,
                                                  params=_dry_params(dry_run))
            except errors.ApiError as exc:
                if isinstance(exc, errors.ConnectionFailed):
                    raise
                failures.append((exc, f'error when replacing "{m.source}"'))
                continue
            result = with_type(cls, result)
            print(render(result, output, verb="replaced", dry_run=dry_run) if output
                  else f"{resource_name(result)} replaced{_suffix(dry_run)}", flush=True)
    if failures:
        print(format_failures(failures), file=sys.stderr)
    if failed or failures:
        raise ExitCode(1)
    return 0


def _fresh(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    for key in ("resourceVersion", "uid", "creationTimestamp"):
        meta.pop(key, None)
    return obj
