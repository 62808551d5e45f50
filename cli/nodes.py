"""`kubelite cordon|uncordon NODE...` and `kubelite taint nodes NODE key=value:Effect | key:Effect- | key-`.

Contract (kubectl's cordon/taint):
- cordon/uncordon patch spec.unschedulable (true / removed) with a strategic merge patch and
  print `node/n1 cordoned` (`already cordoned` when nothing changes, no write then);
  `-l SEL` picks nodes by label. `--dry-run=client|server` as everywhere.
- taint: `KEY=VALUE:EFFECT` or `KEY:EFFECT` adds, `KEY:EFFECT-` removes that taint, `KEY-` every
  taint of the key. Effects are NoSchedule, PreferNoSchedule, NoExecute. Adding a key+effect that
  exists needs --overwrite (else `node n1 already has KEY taint(s) with same effect(s) and
  --overwrite is false`); removing an absent taint is `taint "KEY:EFFECT" not found`. The new
  list is sent with the node's resourceVersion (a concurrent change gets a 409, never lost), and
  NoExecute taints added get a timeAdded as the API server would. Prints `node/n1 tainted`,
  `untainted` or `modified`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cli.apply import _dry_params, _suffix, check_dry_run
from cli.errors import CliError
from cli.session import Globals, coll_path, obj_path, open_client, resolve_kind
from machinery.client import ApiClient
from machinery.clock import now_rfc3339
from machinery.models import Node

STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
MERGE = {"Content-Type": "application/merge-patch+json"}
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


async def node_names(client: ApiClient, args: list[str], selector: str | None, all_: bool = False) -> list[str]:
    names: list[str] = []
    for arg in args:
        kind, sep, name = arg.partition("/")
        if sep:
            if resolve_kind(kind) is not Node:
                raise CliError(f"only nodes are supported here, not {kind!r}")
            names.append(name)
        else:
            names.append(arg)
    if selector or all_:
        params = {"labelSelector": selector} if selector else None
        body = await client.request("GET", coll_path(Node, None), params=params)
        names += [str(n["metadata"]["name"]) for n in body.get("items") or []]
    if not names:
        raise CliError("resource(s) were provided, but no name was specified")
    return names


async def set_schedulable(g: Globals, args: list[str], *, cordon: bool, selector: str | None = None,
                          dry_run: str = "none") -> int:
    check_dry_run(dry_run)
    client, _ = open_client(g)
    verb = "cordoned" if cordon else "uncordoned"
    async with client:
        for name in await node_names(client, args, selector):
            print(await cordon_one(client, name, cordon=cordon, dry_run=dry_run) or f"node/{name} already {verb}",
                  flush=True)
    return 0


async def cordon_one(client: ApiClient, name: str, *, cordon: bool, dry_run: str = "none") -> str:
    """`node/n cordoned` after the write, or "" when the node already is as asked."""
    node = await client.request("GET", obj_path(Node, name, None))
    if bool((node.get("spec") or {}).get("unschedulable")) == cordon:
        return ""
    if dry_run != "client":
        await client.request("PATCH", obj_path(Node, name, None), json={"spec": {"unschedulable": True if cordon else None}},
                             headers=STRATEGIC, params=_dry_params(dry_run))
    return f"node/{name} {'cordoned' if cordon else 'uncordoned'}{_suffix(dry_run)}"


@dataclass(frozen=True)
class TaintSpec:
    key: str
    value: str | None
    effect: str  # "" = every effect (removal only)


def parse_taints(words: list[str]) -> tuple[list[TaintSpec], list[TaintSpec]]:
    """(taints to add, taints to remove) from kubectl's spellings."""
    adds: list[TaintSpec] = []
    removes: list[TaintSpec] = []
    for word in words:
        remove = word.endswith("-")
        text = word[:-1] if remove else word
        key_value, colon, effect = text.rpartition(":") if ":" in text else (text, "", "")
        key, eq, value = key_value.partition("=")
        if not key or (not remove and not colon):
            raise CliError(f"invalid taint spec: {word}")
        if effect and effect not in EFFECTS:
            raise CliError(f"invalid taint effect: {effect}, unsupported taint effect\n"
                           "See 'kubelite taint -h' for help and examples")
        spec = TaintSpec(key, value if eq else None, effect)
        (removes if remove else adds).append(spec)
    if not adds and not removes:
        raise CliError("at least one taint update is required")
    return adds, removes


def new_taints(name: str, current: list[dict[str, Any]], adds: list[TaintSpec], removes: list[TaintSpec],
               *, overwrite: bool) -> tuple[list[dict[str, Any]], str]:
    """(the node's new taint list, kubectl's word for the change), by kubectl's reorganizeTaints:
    the added taints first, then the old ones they do not replace, minus the removed ones."""
    if not overwrite:
        clash = [s.key for s in adds if any(t.get("key") == s.key and t.get("effect") == s.effect for t in current)]
        if clash:
            raise CliError(f"node {name} already has {','.join(clash)} taint(s) with same effect(s) "
                           "and --overwrite is false")
    taints: list[dict[str, Any]] = []
    for spec in adds:
        taint: dict[str, Any] = {"key": spec.key, "effect": spec.effect}
        if spec.value:
            taint["value"] = spec.value
        if spec.effect == "NoExecute":
            taint["timeAdded"] = now_rfc3339()
        taints.append(taint)
    for old in current:
        if not any(t["key"] == old.get("key") and t["effect"] == old.get("effect") for t in taints):
            taints.append(dict(old))
    added = len(taints) != len(current)
    deleted = False
    for spec in removes:
        kept = [t for t in taints if not (t.get("key") == spec.key and (not spec.effect or t.get("effect") == spec.effect))]
        if len(kept) == len(taints):
            what = f"{spec.key}:{spec.effect}" if spec.effect else spec.key
            raise CliError(f'taint "{what}" not found')
        taints, deleted = kept, True
    word = "modified" if (added and deleted) or overwrite else ("tainted" if added else "untainted")
    return taints, word


async def taint(g: Globals, args: list[str], *, overwrite: bool = False, selector: str | None = None,
                all_: bool = False, dry_run: str = "none") -> int:
    check_dry_run(dry_run)
    if not args:
        raise CliError("at least one taint update is required")
    kind, sep, first = args[0].partition("/")
    if resolve_kind(kind) is not Node:
        raise CliError(f"invalid resource type {kind}, only node types are supported")
    if sep:
        names, words = [first], args[1:]
    elif selector or all_:
        names, words = [], args[1:]
    else:
        if len(args) < 2:
            raise CliError("at least one taint update is required")
        names, words = [args[1]], args[2:]
    adds, removes = parse_taints(words)
    client, _ = open_client(g)
    async with client:
        for name in await node_names(client, names, selector, all_):
            node = await client.request("GET", obj_path(Node, name, None))
            before = list((node.get("spec") or {}).get("taints") or [])
            taints, word = new_taints(name, before, adds, removes, overwrite=overwrite)
            if dry_run != "client" and json.dumps(taints) != json.dumps(before):
                body = {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                        "spec": {"taints": taints or None}}
                await client.request("PATCH", obj_path(Node, name, None), json=body, headers=MERGE,
                                     params=_dry_params(dry_run))
            print(f"node/{name} {word}{_suffix(dry_run)}", flush=True)
    return 0
