"""Reading manifests for `apply -f`, `create -f`, `delete -f`.

Contract: `read_manifests(paths, recursive=False, stdin=None) -> list[Manifest]` accepts files,
directories (only *.yaml, *.yml, *.json; subdirectories only with recursive) and `-` (stdin);
each file may hold several YAML documents or one JSON document; `kind: List` is expanded into
its items; empty documents are skipped. Every problem raises `CliError` with a kubectl-like
message naming the file (and the line for bad YAML); nothing is sent before all files parse.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from cli.errors import CliError

EXTENSIONS = (".yaml", ".yml", ".json")


@dataclass
class Manifest:
    source: str  # the file name as given, or "STDIN"
    obj: dict[str, Any]


def _files(path_arg: str, recursive: bool) -> list[Path]:
    path = Path(path_arg)
    if not path.exists():
        raise CliError(f'the path "{path_arg}" does not exist')
    if path.is_file():
        return [path]
    pattern = "**/*" if recursive else "*"
    found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in EXTENSIONS)
    return found


def _yaml_error(source: str, exc: yaml.YAMLError) -> CliError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return CliError(f"error parsing {source}: error converting YAML to JSON: yaml: {where}{problem}")


def parse_documents(text: str, source: str) -> list[Manifest]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    out: list[Manifest] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise CliError(f'error validating "{source}": error validating data: '
                           f"expected an object, got {type(doc).__name__}")
        if doc.get("kind") == "List" or (isinstance(doc.get("kind"), str) and doc["kind"].endswith("List")
                                         and isinstance(doc.get("items"), list)):
            for item in doc.get("items") or []:
                out.extend(_checked(item, source))
            continue
        out.extend(_checked(doc, source))
    return out


def _checked(doc: Any, source: str) -> list[Manifest]:
    if not isinstance(doc, dict):
        raise CliError(f'error validating "{source}": error validating data: expected an object')
    missing = [f for f in ("apiVersion", "kind") if not doc.get(f)]
    if missing:
        what = " and ".join(f"{f} not set" for f in missing)
        raise CliError(f'error validating "{source}": error validating data: [{what}]')
    return [Manifest(source, doc)]


def read_manifests(paths: list[str], *, recursive: bool = False, stdin: TextIO | None = None) -> list[Manifest]:
    if not paths:
        raise CliError("must specify one of -f and -k")
    out: list[Manifest] = []
    for arg in paths:
        if arg == "-":
            out.extend(parse_documents((stdin or sys.stdin).read(), "STDIN"))
            continue
        for file in _files(arg, recursive):
            try:
                text = file.read_text()
            except OSError as exc:
                raise CliError(f"error reading {file}: {exc.strerror}") from None
            out.extend(parse_documents(text, str(file)))
    if not out:
        raise CliError("no objects passed to apply")
    return out
