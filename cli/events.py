"""`kubelite events`: kubectl's `events` verb (k8s.io/kubectl pkg/cmd/events).

Contract, as kubectl:
- lists core/v1 Events of the namespace (`-n`, the context's, or every one with `-A`), page by
  page, keeps those of the `--types` (Normal, Warning; case-insensitive, repeatable or
  comma-separated; anything else is `error: valid --types are Normal or Warning`), sorts them
  by time (series.lastObservedTime, else lastTimestamp, else eventTime) and prints the table
  `[NAMESPACE] LAST SEEN TYPE REASON OBJECT MESSAGE`; LAST SEEN is `5s`, or `5s (x3 over 2m)`
  for a repeated event. Nothing left: `No events found in NS namespace.` (or `No events
  found.` with -A) on stderr, exit 0.
- `--for KIND/NAME` narrows the list with the field selector kubectl sends
  (`involvedObject.kind`, `.apiVersion`, `.name`); a value without `/` is
  `error: --for must be in resource/name form`.
- `-o json|yaml|name|jsonpath=...|custom-columns=...` prints an EventList (or the items).
- `-w` watches instead of listing (the server first sends the existing events), skips DELETED
  events, prints one row per event in the columns of the rows before (kubectl's tabwriter
  remembers widths), until Ctrl-C; a watch the server ends is resumed from the last
  resourceVersion.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cli import outputs
from cli.errors import CliError, PlainError
from cli.printers import dump_json, dump_yaml, now, parse_ts, render_table
from cli.session import Globals, open_client, resolve_kind
from machinery import errors
from machinery.client import ApiClient
from machinery.models import Event
from machinery.tables import human_duration

Obj = dict[str, Any]
HEADERS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
OUTPUTS = ("", "json", "yaml", "name")
PAGE = 500
EPOCH = datetime(1, 1, 2, tzinfo=UTC)


@dataclass
class EventsOptions:
    for_object: str = ""
    watch: bool = False
    types: list[str] = field(default_factory=list)
    all_namespaces: bool = False
    output: str = ""
    no_headers: bool = False


def parse_types(values: Iterable[str]) -> list[str]:
    """`--types Normal,Warning --types warning` -> sorted, de-duplicated, validated."""
    types = sorted({t.strip() for v in values for t in v.split(",") if t.strip()})
    for t in types:
        if t.lower() not in ("normal", "warning"):
            raise CliError("valid --types are Normal or Warning")
    return types


def for_selector(value: str) -> str:
    """`pod/web` -> the field selector kubectl sends for `--for pod/web`."""
    if "/" not in value:
        raise CliError("--for must be in resource/name form")
    parts = value.split("/")
    if len(parts) != 2:
        raise CliError("arguments in resource/name form may not have more than one slash")
    try:
        cls = resolve_kind(parts[0].lower())
    except CliError as exc:  # kubectl prints the mapper's message without `error: `
        raise PlainError(str(exc)) from None
    return (f"involvedObject.kind={cls.KIND},involvedObject.apiVersion={cls.api_version()},"
            f"involvedObject.name={parts[1]}")


def _since(ts: Any, at: datetime) -> str:
    when = parse_ts(ts)
    if when is None or when <= EPOCH:
        return "<unknown>"
    return human_duration((at - when).total_seconds())


def last_seen(ev: Obj, at: datetime) -> str:
    """kubectl's getInterval: `5s`, or `5s (x3 over 2m)`."""
    first = _since(ev.get("eventTime"), at) if ev.get("eventTime") else _since(ev.get("firstTimestamp"), at)
    series = ev.get("series")
    if series:
        return f"{_since(series.get('lastObservedTime'), at)} (x{int(series.get('count') or 0)} over {first})"
    count = int(ev.get("count") or 0)
    if count > 1:
        return f"{_since(ev.get('lastTimestamp'), at)} (x{count} over {first})"
    return first


def event_time(ev: Obj) -> datetime:
    """The time kubectl sorts by."""
    series = ev.get("series")
    for ts in ((series or {}).get("lastObservedTime") if series else None, ev.get("lastTimestamp"),
               ev.get("eventTime")):
        when = parse_ts(ts) if ts else None
        if when is not None:
            return when
    return EPOCH


def row(ev: Obj, at: datetime, all_namespaces: bool) -> list[str]:
    inv = ev.get("involvedObject") or {}
    cells = [last_seen(ev, at), str(ev.get("type") or ""), str(ev.get("reason") or ""),
             f"{inv.get('kind', '')}/{inv.get('name', '')}", str(ev.get("message") or "").strip()]
    if all_namespaces:
        cells.insert(0, str((ev.get("metadata") or {}).get("namespace") or ""))
    return cells


def headers(all_namespaces: bool) -> list[str]:
    return (["NAMESPACE"] if all_namespaces else []) + HEADERS


def wanted(ev: Obj, types: list[str]) -> bool:
    return not types or str(ev.get("type") or "").lower() in {t.lower() for t in types}


def typed(ev: Obj) -> Obj:
    if not ev.get("kind"):
        ev = {"apiVersion": "v1", "kind": "Event", **ev}
    return ev


def render(items: list[Obj], opts: EventsOptions, *, at: datetime, widths: list[int] | None = None,
           with_header: bool = True) -> str:
    if opts.output == "":
        rows = [row(ev, at, opts.all_namespaces) for ev in items]
        return render_table(headers(opts.all_namespaces), rows, with_header=with_header and not opts.no_headers,
                            min_widths=widths)
    if opts.output == "name":
        return "\n".join(f"event/{(ev.get('metadata') or {}).get('name', '')}" for ev in items)
    if outputs.is_template(opts.output):
        return outputs.render_template(opts.output, items, single=False, with_header=not opts.no_headers)
    doc = {"apiVersion": "v1", "items": items, "kind": "EventList", "metadata": {}}
    return dump_json(doc) if opts.output == "json" else dump_yaml(doc)


def check_output(output: str) -> None:
    if output not in OUTPUTS and not outputs.is_template(output):
        raise CliError(f'unable to match a printer suitable for the output format "{output}", allowed formats '
                       "are: go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,kyaml,name,"
                       "template,templatefile,yaml")


async def list_events(client: ApiClient, namespace: str | None, field_selector: str | None) -> list[Obj]:
    path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"
    items: list[Obj] = []
    token: str | None = None
    while True:
        page = await client.request("GET", path, params={"limit": PAGE, "continue": token,
                                                         "fieldSelector": field_selector})
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return items


async def events(g: Globals, opts: EventsOptions) -> int:
    check_output(opts.output)
    opts.types = parse_types(opts.types)
    client, namespace = open_client(g)
    async with client:
        selector = for_selector(opts.for_object) if opts.for_object else None
        ns = None if opts.all_namespaces else namespace
        if opts.watch:
            await watch(client, ns, selector, opts)
            return 0
        items = [typed(ev) for ev in await list_events(client, ns, selector) if wanted(ev, opts.types)]
        if not items:
            print("No events found." if opts.all_namespaces else f"No events found in {namespace} namespace.",
                  file=sys.stderr)
            return 0
        items.sort(key=event_time)
        # kubectl's jsonpath output ends where the template ends (no newline added)
        print(render(items, opts, at=now()), end="" if opts.output.startswith("jsonpath=") else "\n")
    return 0


async def watch(client: ApiClient, namespace: str | None, selector: str | None, opts: EventsOptions) -> None:
    """One row per event until interrupted, the columns growing as kubectl's tabwriter's do."""
    rv: str | None = None
    widths: list[int] = [len(h) for h in headers(opts.all_namespaces)]
    header_printed = False
    while True:
        try:
            async for event in client.watch(Event, namespace=namespace, resource_version=rv,
                                            field_selector=selector, timeout_s=300, allow_bookmarks=True):
                obj = (event.raw or {}).get("object") or {}
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv or "") or None
                if event.type in ("BOOKMARK", "ERROR", "DELETED") or not wanted(obj, opts.types):
                    continue
                text = render([typed(obj)], opts, at=now(), widths=widths, with_header=not header_printed)
                if opts.output == "":
                    cells = row(obj, now(), opts.all_namespaces)
                    widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=False)]
                print(text, flush=True)
                header_printed = True
        except errors.Expired:
            rv = None
