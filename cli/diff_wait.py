"""`kubelite diff -f` and `kubelite wait --for=...`.

Contract (kubectl's diff.go / wait.go):
- `diff -f FILE...`: for each object, LIVE is the object as stored (nothing when absent) and
  MERGED what `apply` would make of it, computed by the API server (the apply patch, or the
  create, sent with dryRun=All; as kubectl, the manifest is sent without a new last-applied
  annotation, so that annotation shows no change). Both are written as YAML without managedFields into
  `LIVE-*/` and `MERGED-*/` directories named `group.version.Kind.namespace.name`, and
  `diff -u -N` (or $KUBECTL_EXTERNAL_DIFF) compares them, exactly as kubectl does. Exit 0: no
  differences; 1: differences; anything else (bad file, server error): exit 1 with the error
  (kubectl exits >1 only when the diff program itself fails).
- `wait KIND/NAME... | KIND [-l SEL | --all] --for=condition=C[=V] | delete | jsonpath={.p}=V
  [--timeout 30s]`: reads each object, then follows its watch until the condition holds; prints
  `pod/x condition met` (or `pod/x deleted`); on timeout `error: timed out waiting for the
  condition on pods/x` and exit 1. A missing object is NotFound for conditions and success
  for delete. condition values compare case-insensitively (as kubectl).
"""

from __future__ import annotations

import asyncio
import copy
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli import jsonpath
from cli.apply import place
from cli.errors import CliError, ExitCode
from cli.manifests import read_manifests
from cli.merge import last_applied_of, three_way_patch
from cli.printers import dump_yaml
from cli.session import Globals, coll_path, kind_for_object, obj_path, open_client, resolve_kind, with_type
from cli.targets import parse_targets
from machinery import errors
from machinery.client import ApiClient

DRY = {"dryRun": "All"}
MERGE = {"Content-Type": "application/merge-patch+json"}


def _file_name(obj: dict[str, Any], cls: type[Any], ns: str | None) -> str:
    version = cls.api_version().replace("/", ".")
    return f"{version}.{cls.KIND}.{ns or ''}.{obj['metadata']['name']}"


def _clean(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return ""
    obj = copy.deepcopy(obj)
    (obj.get("metadata") or {}).pop("managedFields", None)
    return dump_yaml(obj) + "\n"


async def merged_of(client: ApiClient, cls: type[Any], obj: dict[str, Any], ns: str | None
                    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(live or None, what apply would store), the latter computed by the server (dry run)."""
    name = obj["metadata"]["name"]
    desired = obj  # as kubectl: the manifest itself, so last-applied stays as it is in LIVE
    try:
        live: dict[str, Any] = await client.request("GET", obj_path(cls, name, ns))
    except errors.NotFound:
        created: dict[str, Any] = await client.request("POST", coll_path(cls, ns), json=desired, params=DRY)
        return None, with_type(cls, created)
    live = with_type(cls, live)
    patch = three_way_patch(last_applied_of(live), live, desired)
    if not patch:
        return live, live
    merged = await client.request("PATCH", obj_path(cls, name, ns), json=patch, params=DRY, headers=MERGE)
    return live, with_type(cls, merged)


async def diff(g: Globals, files: list[str], *, recursive: bool = False) -> int:
    manifests = read_manifests(files, recursive=recursive)
    live_dir = Path(tempfile.mkdtemp(prefix="LIVE-"))
    merged_dir = Path(tempfile.mkdtemp(prefix="MERGED-"))
    try:
        client, default_ns = open_client(g)
        async with client:
            for m in manifests:
                obj = copy.deepcopy(m.obj)
                cls = kind_for_object(obj)
                ns = place(obj, cls, default_ns, g.namespace)
                live, merged = await merged_of(client, cls, obj, ns)
                name = _file_name(obj, cls, ns)
                (live_dir / name).write_text(_clean(live))
                (merged_dir / name).write_text(_clean(merged))
        program = shlex.split(os.environ.get("KUBECTL_EXTERNAL_DIFF") or "diff -u -N")
        if not shutil.which(program[0]):
            raise CliError(f'executable file not found in $PATH: "{program[0]}"')
        sys.stdout.flush()
        proc = await asyncio.create_subprocess_exec(*program, str(live_dir), str(merged_dir),
                                                    stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        sys.stdout.write(out.decode(errors="replace"))
        code = proc.returncode or 0
        if code > 1:
            raise ExitCode(code)
        return code
    finally:
        shutil.rmtree(live_dir, ignore_errors=True)
        shutil.rmtree(merged_dir, ignore_errors=True)


@dataclass(frozen=True)
class Condition:
    """What --for asks: kind is condition|delete|jsonpath."""

    kind: str
    name: str = ""
    value: str = ""
    path: str = ""

    def met(self, obj: dict[str, Any]) -> bool:
        if self.kind == "condition":
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if str(cond.get("type", "")).lower() == self.name.lower():
                    return str(cond.get("status", "")).lower() == self.value.lower()
            return False
        if self.kind == "jsonpath":
            found = jsonpath.find(self.path, obj)
            if not self.value:
                return bool(found)
            return bool(found) and jsonpath.format_value(found[0]) == self.value
        return False


def parse_for(text: str) -> Condition:
    if text == "delete":
        return Condition("delete")
    if text.startswith("condition="):
        name, _, value = text[len("condition="):].partition("=")
        if not name:
            raise CliError(f"unrecognized condition: {text!r}")
        return Condition("condition", name=name, value=value or "true")
    if text.startswith("jsonpath="):
        expr = text[len("jsonpath="):]
        if len(expr) >= 2 and expr[0] in "'\"" and expr[0] in expr[1:]:
            end = expr.index(expr[0], 1)
            path, rest = expr[1:end], expr[end + 1:]
        else:
            path, _, rest = expr.partition("}")
            path += "}"
        value = rest[1:] if rest.startswith("=") else rest
        path = path.strip()
        if not (path.startswith("{") and path.endswith("}")):
            raise CliError(f"unrecognized jsonpath: {expr!r}, expected a JSONPath like {{.status.phase}}=Running")
        return Condition("jsonpath", path=path[1:-1], value=value)
    raise CliError(f'unrecognized condition: "{text}"')


async def _targets(client: ApiClient, namespace: str, args: list[str], selector: str | None,
                   all_: bool) -> list[tuple[type[Any], str]]:
    if args and ("/" in args[0] or len(args) > 1):
        return [(t.cls, t.name) for t in parse_targets(args, verb="wait")]
    if not args:
        raise CliError("resource(s) must be specified")
    cls = resolve_kind(args[0])
    if not (selector or all_):
        raise CliError(f'resource(s) were provided, but no name was specified: "{args[0]}"')
    params = {"labelSelector": selector} if selector else None
    body = await client.request("GET", coll_path(cls, namespace), params=params)
    names = [str((o.get("metadata") or {}).get("name")) for o in body.get("items") or []]
    if not names:
        raise CliError("no matching resources found")
    return [(cls, n) for n in names]


async def wait_one(client: ApiClient, cls: type[Any], name: str, ns: str | None, cond: Condition,
                   deadline: float) -> str:
    """"met" once `cond` holds (or the object is deleted, for delete), "absent" when a delete
    finds nothing from the start (kubectl then prints nothing), "" at the deadline."""
    first = True
    while time.monotonic() < deadline:
        try:
            obj = with_type(cls, await client.request("GET", obj_path(cls, name, ns)))
        except errors.NotFound:
            if cond.kind == "delete":
                return "absent" if first else "met"
            raise
        first = False
        if cond.met(obj):
            return "met"
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        remaining = deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(remaining, 0.01)):
                async for event in client.watch(cls, namespace=ns if cls.NAMESPACED else None, resource_version=rv,
                                                field_selector=f"metadata.name={name}",
                                                timeout_s=max(1, int(remaining) + 1)):
                    if event.type == "DELETED" and cond.kind == "delete":
                        return "met"
                    raw = (event.raw or {}).get("object") or {}
                    if event.type in ("ADDED", "MODIFIED") and cond.met(with_type(cls, raw)):
                        return "met"
        except TimeoutError:
            return ""
        except errors.ApiError as exc:
            if isinstance(exc, errors.ConnectionFailed):
                raise
            await asyncio.sleep(0.2)  # watch expired or refused: read again, then watch again
    return ""


async def wait(g: Globals, args: list[str], *, for_: str, timeout_s: float, selector: str | None = None,
               all_: bool = False) -> int:
    if not for_:
        raise CliError("--for must be specified: condition=C[=V], delete, or jsonpath={.path}=V")
    cond = parse_for(for_)
    client, namespace = open_client(g)
    deadline = time.monotonic() + (timeout_s if timeout_s > 0 else 7 * 24 * 3600.0)
    async with client:
        for cls, name in await _targets(client, namespace, args, selector, all_):
            ns = namespace if cls.NAMESPACED else None
            label = f"{cls.KIND.lower()}.{cls.GROUP}" if cls.GROUP else cls.KIND.lower()
            outcome = await wait_one(client, cls, name, ns, cond, deadline)
            if outcome == "absent":
                continue
            if not outcome:
                plural = f"{cls.PLURAL}.{cls.GROUP}" if cls.GROUP else cls.PLURAL
                raise CliError(f"timed out waiting for the condition on {plural}/{name}")
            print(f"{label}/{name} {'deleted' if cond.kind == 'delete' else 'condition met'}", flush=True)
    return 0
