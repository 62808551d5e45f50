"""`kubelite get`: tables, -o wide|name|json|yaml, selectors, -A, --show-labels, -w.

Contract (kubectl's behaviour): `get KIND [NAME...]`, `get KIND/NAME...`, `get po,svc`,
`get all`. A missing named object prints `Error from server (NotFound): ...` on stderr, the
others still print, and the exit code is 1. An empty list prints "No resources found in NS
namespace." on stderr with exit 0. With several kinds each table is printed on its own with
names prefixed `kind/`. `-w` prints the table, then one row per watch event until Ctrl-C,
resuming from the last resourceVersion when the server ends a watch; `--watch-only` skips the
initial table. `-o jsonpath=|custom-columns=`, `-L`, `--sort-by`, `--no-headers`: cli.outputs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from cli import outputs
from cli.errors import CliError, format_api_error
from cli.printers import (
    as_list,
    column_widths,
    dump_json,
    dump_yaml,
    no_resources_message,
    now,
    render_table,
    resource_name,
)
from cli.session import ALL_CATEGORY, Globals, coll_path, obj_path, open_client, resolve_kind, with_type
from machinery import errors
from machinery import tables as columns
from machinery.client import ApiClient

OUTPUTS = ("", "wide", "name", "json", "yaml")


@dataclass
class GetOptions:
    output: str = ""
    selector: str | None = None
    field_selector: str | None = None
    all_namespaces: bool = False
    show_labels: bool = False
    watch: bool = False
    watch_only: bool = False
    label_columns: list[str] = field(default_factory=list)
    sort_by: str = ""
    no_headers: bool = False


@dataclass
class Group:
    cls: type[Any]
    names: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    resource_version: str = ""


def plan(args: list[str]) -> list[Group]:
    """Turn the positional arguments into (kind, names) groups in kubectl's order."""
    if not args:
        raise CliError("You must specify the type of resource to get. Use \"kubelite get all\" for a start.")
    if "/" in args[0]:
        groups: dict[str, Group] = {}
        for arg in args:
            kind, sep, name = arg.partition("/")
            if not sep or not name:
                raise CliError(f"there is no need to specify a resource type as a separate argument when "
                               f"passing arguments in resource/name form (e.g. 'kubelite get resource/<resource_name>' "
                               f"instead of 'kubelite get resource resource/<resource_name>'): {arg}")
            cls = resolve_kind(kind)
            groups.setdefault(cls.KIND, Group(cls)).names.append(name)
        return list(groups.values())
    kinds: list[str] = []
    for part in args[0].split(","):
        kinds.extend(ALL_CATEGORY if part == "all" else [part])
    out: list[Group] = []
    for kind in kinds:
        cls = resolve_kind(kind)
        if all(g.cls is not cls for g in out):
            out.append(Group(cls, list(args[1:])))
    return out


async def fetch(client: ApiClient, group: Group, namespace: str | None, opts: GetOptions) -> list[str]:
    """Fill group.items; return the error lines for names that could not be read."""
    failures: list[str] = []
    if group.names:
        for name in group.names:
            try:
                obj = await client.request("GET", obj_path(group.cls, name, namespace))
                group.items.append(with_type(group.cls, obj))
            except errors.NotFound as exc:
                failures.append(format_api_error(exc))
        return failures
    params: dict[str, str] = {}
    if opts.selector:
        params["labelSelector"] = opts.selector
    if opts.field_selector:
        params["fieldSelector"] = opts.field_selector
    body = await client.request("GET", coll_path(group.cls, namespace), params=params or None)
    group.items = [with_type(group.cls, o) for o in body.get("items") or []]
    group.resource_version = str((body.get("metadata") or {}).get("resourceVersion") or "")
    if group.cls.KIND == "Event":
        group.items.sort(key=lambda o: columns.event_time(o) or "")
    return failures


def render(groups: list[Group], opts: GetOptions, *, single: bool) -> str:
    items = [o for g in groups for o in g.items]
    if opts.output == "name":
        return "\n".join(resource_name(o) for o in items)
    if opts.output in ("json", "yaml"):
        doc: Any = items[0] if single and len(items) == 1 else as_list(items)
        return dump_json(doc) if opts.output == "json" else dump_yaml(doc)
    if outputs.is_template(opts.output):
        return outputs.render_template(opts.output, items, single=single, with_header=not opts.no_headers)
    blocks = []
    prefix = len(groups) > 1
    at = now()
    for g in groups:
        if not g.items:
            continue
        headers, rows = columns.table(g.cls.KIND, g.items, wide=opts.output == "wide",
                                      all_namespaces=opts.all_namespaces and g.cls.NAMESPACED,
                                      show_labels=opts.show_labels, at=at,
                                      name_prefix=f"{_short(g.cls)}/" if prefix else "")
        headers, rows = outputs.label_columns(opts.label_columns, headers, rows, g.items)
        blocks.append(render_table(headers, rows, with_header=not opts.no_headers))
    return "\n\n".join(blocks)


def _short(cls: type[Any]) -> str:
    return f"{cls.KIND.lower()}.{cls.GROUP}" if cls.GROUP else cls.KIND.lower()


async def get(g: Globals, args: list[str], opts: GetOptions) -> int:
    if opts.output not in OUTPUTS and not outputs.is_template(opts.output):
        raise CliError(f'unable to match a printer suitable for the output format "{opts.output}", '
                       "allowed formats are: custom-columns,json,jsonpath,jsonpath-as-json,name,wide,yaml")
    groups = plan(args)
    if (opts.watch or opts.watch_only) and len(groups) != 1:
        raise CliError("you may only specify a single resource type")
    client, default_ns = open_client(g)
    async with client:
        namespace = None if opts.all_namespaces else default_ns
        failures: list[str] = []
        for group in groups:
            failures += await fetch(client, group, namespace, opts)
            if opts.sort_by:
                group.items = outputs.sort_items(group.items, opts.sort_by)
        single = len(groups) == 1 and len(groups[0].names) == 1
        if not opts.watch_only:
            text = render(groups, opts, single=single)
            if text:
                # kubectl's jsonpath output ends where the template ends (no newline added)
                print(text, end="" if opts.output.startswith("jsonpath=") else "\n", flush=True)
            elif not failures and not any(gr.names for gr in groups) and not opts.watch:
                ns_shown = namespace if any(gr.cls.NAMESPACED for gr in groups) else None
                print(no_resources_message(ns_shown), file=sys.stderr)
        for line in failures:
            print(line, file=sys.stderr)
        if opts.watch or opts.watch_only:
            await watch(client, groups[0], namespace, opts)
        return 1 if failures else 0


async def watch(client: ApiClient, group: Group, namespace: str | None, opts: GetOptions) -> None:
    """Stream one row per event until interrupted; resume where the server ended the watch."""
    cls = group.cls
    ns = namespace if cls.NAMESPACED else None
    field_selector = opts.field_selector
    if group.names:
        name_sel = f"metadata.name={group.names[0]}"
        field_selector = f"{field_selector},{name_sel}" if field_selector else name_sel
    rv = group.resource_version or None
    if rv is None and group.items:
        rv = max((str((o.get("metadata") or {}).get("resourceVersion") or "0") for o in group.items), key=int)
    at = now()
    wide = opts.output == "wide"
    all_ns = opts.all_namespaces and cls.NAMESPACED
    headers, rows = columns.table(cls.KIND, group.items, wide=wide, all_namespaces=all_ns,
                                  show_labels=opts.show_labels, at=at)
    headers, rows = outputs.label_columns(opts.label_columns, headers, rows, group.items)
    widths = column_widths(headers, rows)
    header_printed = bool(group.items) and not opts.watch_only
    while True:
        try:
            async for event in client.watch(cls, namespace=ns, resource_version=rv, label_selector=opts.selector,
                                            field_selector=field_selector, timeout_s=300):
                obj = (event.raw or {}).get("object") or {}
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                if event.type in ("BOOKMARK", "ERROR"):
                    continue
                obj = with_type(cls, obj)
                if opts.output not in ("", "wide"):
                    print(render([Group(cls, items=[obj])], opts, single=True), flush=True)
                    continue
                _, row = columns.table(cls.KIND, [obj], wide=wide, all_namespaces=all_ns,
                                       show_labels=opts.show_labels, at=now())
                _, row = outputs.label_columns(opts.label_columns, [], row, [obj])
                print(render_table(headers, row, with_header=not header_printed, min_widths=widths), flush=True)
                header_printed = True
        except errors.Expired:
            rv = None  # too old for the server: start again from "now"
