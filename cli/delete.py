"""`kubelite delete KIND NAME...|KIND/NAME|-f FILE|-l SEL|--all`.

Contract (kubectl's): each object gets one DELETE with DeleteOptions (gracePeriodSeconds from
--grace-period / --now (1 s) / --force (0); propagationPolicy from --cascade=background|
foreground|orphan) and prints `pod "x" deleted`. A missing object prints the NotFound error and
makes the exit code 1 (unless --ignore-not-found). With --wait (the default) the command returns
only when every deleted object is gone, watching it by name from the resourceVersion it last
saw; after --timeout it fails with `timed out waiting for the condition`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

from cli.apply import place
from cli.errors import CliError, format_api_error
from cli.manifests import read_manifests
from cli.session import Globals, coll_path, kind_for_object, kind_label, obj_path, open_client, resolve_kind
from machinery import errors
from machinery.client import ApiClient

CASCADE = {"background": "Background", "true": "Background", "foreground": "Foreground",
           "orphan": "Orphan", "false": "Orphan"}


@dataclass
class DeleteOptions:
    files: list[str] | None = None
    recursive: bool = False
    selector: str | None = None
    all: bool = False
    grace_period: int = -1
    now: bool = False
    force: bool = False
    wait: bool = True
    timeout_s: float = 60.0
    cascade: str = "background"
    ignore_not_found: bool = False


def delete_body(opts: DeleteOptions) -> dict[str, Any]:
    policy = CASCADE.get(opts.cascade.lower())
    if policy is None:
        raise CliError(f'invalid cascade value ({opts.cascade}). Must be "background", "foreground", or "orphan".')
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}
    grace = opts.grace_period
    if opts.now:
        grace = 1
    if opts.force:
        grace = 0 if grace < 0 else grace
    if grace >= 0:
        body["gracePeriodSeconds"] = grace
    return body


async def targets(client: ApiClient, g: Globals, args: list[str], opts: DeleteOptions,
                  default_ns: str) -> list[tuple[type[Any], str, str | None]]:
    """(kind, name, namespace) of everything to delete, in the order kubectl would go."""
    out: list[tuple[type[Any], str, str | None]] = []
    if opts.files:
        if args:
            raise CliError("when paths, URLs, or stdin is provided as input, you may not specify resource arguments as well")
        for m in read_manifests(opts.files, recursive=opts.recursive):
            cls = kind_for_object(m.obj)
            obj = dict(m.obj, metadata=dict(m.obj.get("metadata") or {}))
            ns = place(obj, cls, default_ns, g.namespace)
            out.append((cls, obj["metadata"].get("name", ""), ns))
        return out
    if not args:
        raise CliError("You must provide one or more resources by argument or filename.")
    if "/" in args[0]:
        for arg in args:
            kind, _, name = arg.partition("/")
            out.append((resolve_kind(kind), name, default_ns))
        return out
    kinds = [resolve_kind(k) for k in args[0].split(",")]
    names = args[1:]
    if names and (opts.all or opts.selector):
        raise CliError("name cannot be provided when a selector is specified" if opts.selector
                       else "cannot set --all and resource name(s) at the same time")
    if not names and not (opts.all or opts.selector):
        raise CliError("resource(s) were provided, but no name was specified")
    for cls in kinds:
        if names:
            out.extend((cls, n, default_ns) for n in names)
            continue
        params = {"labelSelector": opts.selector} if opts.selector else None
        body = await client.request("GET", coll_path(cls, default_ns), params=params)
        out.extend((cls, (o.get("metadata") or {}).get("name", ""), default_ns) for o in body.get("items") or [])
    return out


async def wait_gone(client: ApiClient, cls: type[Any], name: str, ns: str | None, deadline: float) -> bool:
    """True once the object no longer exists; False when the deadline passes first."""
    while time.monotonic() < deadline:
        try:
            live = await client.request("GET", obj_path(cls, name, ns))
        except errors.NotFound:
            return True
        rv = (live.get("metadata") or {}).get("resourceVersion")
        remaining = max(1, int(deadline - time.monotonic()))
        try:
            async with asyncio.timeout(remaining):
                async for event in client.watch(cls, namespace=ns if cls.NAMESPACED else None,
                                                resource_version=rv, field_selector=f"metadata.name={name}",
                                                timeout_s=remaining):
                    if event.type == "DELETED":
                        return True
        except TimeoutError:
            return False
        except errors.ApiError:
            await asyncio.sleep(0.2)  # watch refused or expired: re-check with a fresh GET
    return False


async def delete(g: Globals, args: list[str], opts: DeleteOptions) -> int:
    body = delete_body(opts)
    client, default_ns = open_client(g)
    failed = False
    gone_wait: list[tuple[type[Any], str, str | None]] = []
    async with client:
        todo = await targets(client, g, args, opts, default_ns)
        if not todo and not opts.files:
            print("No resources found", file=sys.stderr)
        if opts.force and body.get("gracePeriodSeconds") == 0:
            print("Warning: Immediate deletion does not wait for confirmation that the running resource has "
                  "been terminated. The resource may continue to run on the cluster indefinitely.", file=sys.stderr)
        for cls, name, ns in todo:
            try:
                await client.request("DELETE", obj_path(cls, name, ns), json=body)
            except errors.NotFound as exc:
                if not opts.ignore_not_found:
                    failed = True
                    print(format_api_error(exc), file=sys.stderr)
                continue
            print(f'{kind_label(cls)} "{name}" deleted', flush=True)
            gone_wait.append((cls, name, ns))
        if opts.wait:
            deadline = time.monotonic() + opts.timeout_s
            for cls, name, ns in gone_wait:
                if not await wait_gone(client, cls, name, ns, deadline):
                    print(f"error: timed out waiting for the condition on {cls.PLURAL}/{name}", file=sys.stderr)
                    failed = True
    return 1 if failed else 0
