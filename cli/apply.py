"""`kubelite apply -f` and `kubelite create -f` / `create namespace`.

Contract of apply, per object of the manifests (in file order):
  GET it; absent -> POST it with the last-applied annotation (`<kind>/<name> created`);
  present -> three-way merge patch (cli.merge) of (last-applied, live, manifest) carrying the
  live resourceVersion, so a concurrent writer makes it fail with 409 instead of being
  overwritten; a 409 is retried from a fresh GET up to 5 times. An empty patch makes no write
  (`unchanged`), otherwise `configured`. `-n` fills a missing namespace; a different namespace in
  the file is an error, as in kubectl. `--dry-run=client` sends nothing; `--dry-run=server`
  sends the request with `dryRun=All`. Errors are printed per object (`error when creating
  "f.yaml": ...`) and the others continue; the exit code is then 1.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from cli.errors import CliError, format_failures
from cli.manifests import Manifest, read_manifests
from cli.merge import annotated, last_applied_of, three_way_patch
from cli.session import Globals, coll_path, kind_for_object, kind_label, obj_path, open_client
from machinery import errors
from machinery.client import KubeClient

CONFLICT_RETRIES = 5
DRY_RUN_MODES = ("none", "client", "server")


def check_dry_run(mode: str) -> str:
    if mode not in DRY_RUN_MODES:
        raise CliError(f'Invalid dry-run value ({mode}). Must be "none", "server", or "client".')
    return mode


def place(obj: dict[str, Any], cls: type[Any], default_ns: str, explicit_ns: str | None, *,
          allow_generate_name: bool = False) -> str | None:
    """Decide the namespace of a manifest object (kubectl's rules) and write it into the object.
    Only `create` may rely on generateName: apply and delete need the object's name."""
    meta = obj.setdefault("metadata", {})
    if not meta.get("name") and not (allow_generate_name and meta.get("generateName")):
        raise CliError("resource name may not be empty")
    if not cls.NAMESPACED:
        meta.pop("namespace", None)
        return None
    file_ns = meta.get("namespace")
    if file_ns and explicit_ns and file_ns != explicit_ns:
        raise CliError(f'the namespace from the provided object "{file_ns}" does not match the namespace '
                       f'"{explicit_ns}". You must pass \'--namespace={file_ns}\' to perform this operation.')
    meta["namespace"] = file_ns or default_ns
    return str(meta["namespace"])


def _dry_params(dry_run: str) -> dict[str, str] | None:
    return {"dryRun": "All"} if dry_run == "server" else None


def _suffix(dry_run: str) -> str:
    return {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")


async def apply_one(client: KubeClient, m: Manifest, default_ns: str, explicit_ns: str | None, dry_run: str) -> str:
    obj = copy.deepcopy(m.obj)
    cls = kind_for_object(obj)
    ns = place(obj, cls, default_ns, explicit_ns)
    name = obj["metadata"].get("name", "")
    label = f"{kind_label(cls)}/{name}"
    desired = annotated(obj)
    for _attempt in range(CONFLICT_RETRIES):
        try:
            live = await client.request("GET", obj_path(cls, name, ns))
        except errors.NotFound:
            if dry_run != "client":
                try:
                    await client.request("POST", coll_path(cls, ns), json=desired, params=_dry_params(dry_run))
                except errors.ApiError as exc:
                    raise _ContextError(exc, f'error when creating "{m.source}"') from None
            return f"{label} created{_suffix(dry_run)}"
        patch = three_way_patch(last_applied_of(live), live, desired)
        if not patch:
            return f"{label} unchanged{_suffix(dry_run)}"
        if dry_run == "client":
            return f"{label} configured{_suffix(dry_run)}"
        # Carrying the resourceVersion we computed against turns a race into a 409, not a lost update.
        patch.setdefault("metadata", {})["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
        try:
            await client.request("PATCH", obj_path(cls, name, ns), json=patch, params=_dry_params(dry_run),
                                 headers={"Content-Type": "application/merge-patch+json"})
        except errors.Conflict:
            continue
        except errors.ApiError as exc:
            raise _ContextError(exc, f'error when applying patch to "{m.source}"') from None
        return f"{label} configured{_suffix(dry_run)}"
    raise CliError(f"{label}: the object kept changing while applying ({CONFLICT_RETRIES} conflicts); try again")


class _ContextError(Exception):
    def __init__(self, err: errors.ApiError, context: str) -> None:
        super().__init__(str(err))
        self.err = err
        self.context = context


async def _each(g: Globals, files: list[str], recursive: bool, dry_run: str, create_only: bool) -> int:
    check_dry_run(dry_run)
    manifests = read_manifests(files, recursive=recursive)
    client, default_ns = open_client(g)
    failed = False
    failures: list[tuple[errors.ApiError, str]] = []  # printed at the end, as kubectl's aggregate
    async with client:
        for m in manifests:
            try:
                if create_only:
                    line = await create_one(client, m, default_ns, g.namespace, dry_run)
                else:
                    line = await apply_one(client, m, default_ns, g.namespace, dry_run)
                print(line, flush=True)
            except _ContextError as exc:
                failures.append((exc.err, exc.context))
            except errors.ConnectionFailed:
                raise
            except errors.ApiError as exc:
                failures.append((exc, ""))
            except CliError as exc:
                failed = True
                print(f"error: {exc}", file=sys.stderr)
    if failures:
        print(format_failures(failures), file=sys.stderr)
    return 1 if failed or failures else 0


async def apply(g: Globals, files: list[str], *, recursive: bool = False, dry_run: str = "none") -> int:
    return await _each(g, files, recursive, dry_run, create_only=False)


async def create_one(client: KubeClient, m: Manifest, default_ns: str, explicit_ns: str | None, dry_run: str) -> str:
    obj = copy.deepcopy(m.obj)
    cls = kind_for_object(obj)
    ns = place(obj, cls, default_ns, explicit_ns, allow_generate_name=True)
    if dry_run == "client":
        created = obj
    else:
        try:
            created = await client.request("POST", coll_path(cls, ns), json=obj, params=_dry_params(dry_run))
        except errors.ApiError as exc:  # kubectl's AddSourceToErr
            if not m.source or isinstance(exc, errors.ConnectionFailed):
                raise
            raise _ContextError(exc, f'error when creating "{m.source}"') from None
    name = (created.get("metadata") or {}).get("name") or obj["metadata"].get("name", "")
    return f"{kind_label(cls)}/{name} created{_suffix(dry_run)}"


async def create(g: Globals, files: list[str], *, recursive: bool = False, dry_run: str = "none") -> int:
    return await _each(g, files, recursive, dry_run, create_only=True)


async def create_namespace(g: Globals, name: str, *, dry_run: str = "none") -> int:
    check_dry_run(dry_run)
    m = Manifest("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    client, default_ns = open_client(g)
    async with client:
        print(await create_one(client, m, default_ns, None, dry_run))
    return 0
