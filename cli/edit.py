"""`kubelite edit KIND NAME`: edit the live object in $KUBE_EDITOR / $EDITOR (default vi).

Contract: the object is written as YAML to a temp file; after the editor exits, an unchanged
file prints "Edit cancelled, no changes made."; otherwise the difference (fields removed in the
editor become null) is sent as a merge patch carrying the resourceVersion that was edited, so a
concurrent change fails with 409 instead of being overwritten. Bad YAML is reported with its
line and nothing is sent.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from cli.errors import CliError
from cli.merge import three_way_patch
from cli.printers import dump_yaml
from cli.session import Globals, kind_label, obj_path, open_client, resolve_kind, with_type

HEADER = ("# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
          "# and an empty file will abort the edit.\n#\n")


def run_editor(path: Path) -> None:
    editor = os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi"
    result = subprocess.run([*shlex.split(editor), str(path)], check=False)
    if result.returncode != 0:
        raise CliError(f"there was a problem with the editor {editor!r} (exit code {result.returncode})")


def read_edited(text: str, source: str) -> dict[str, Any] | None:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    if not body.strip():
        return None
    try:
        doc = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise CliError(f"{source}: yaml: {where}{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(doc, dict):
        raise CliError(f"{source}: expected an object")
    return doc


async def edit(g: Globals, kind: str, name: str | None) -> int:
    if name is None and "/" in kind:
        kind, name = kind.split("/", 1)
    if not name:
        raise CliError("edit needs a KIND and a NAME (or KIND/NAME)")
    cls = resolve_kind(kind)
    client, ns = open_client(g)
    async with client:
        path = obj_path(cls, name, ns)
        original = with_type(cls, await client.request("GET", path))
        with tempfile.TemporaryDirectory(prefix="kubelite-edit-") as tmp:
            file = Path(tmp) / f"{cls.PLURAL}-{name}.yaml"
            file.write_text(HEADER + dump_yaml(original) + "\n")
            await asyncio.to_thread(run_editor, file)
            edited = read_edited(file.read_text(), str(file))
        if edited is None:
            print("Edit cancelled, saved file was empty.")
            return 0
        patch = three_way_patch(original, original, edited)
        if not patch:
            print("Edit cancelled, no changes made.")
            return 0
        patch.setdefault("metadata", {})["resourceVersion"] = (original.get("metadata") or {}).get("resourceVersion")
        await client.request("PATCH", path, json=patch, headers={"Content-Type": "application/merge-patch+json"})
        print(f"{kind_label(cls)}/{name} edited")
    return 0
