"""Writes `apiserver/protobuf/schema_data.py` (the field-number table the codec reads) from
Kubernetes' own sources. A development tool: nothing imports it at run time.

    .venv/bin/python -m apiserver.protobuf.gen_schema API APIMACHINERY [--out FILE]

API and APIMACHINERY are git repositories (bare mirrors are fine: files are read with
`git show HEAD:path`) or checkouts of github.com/kubernetes/api and kubernetes/apimachinery
(the `fetch` tool gives both). For each package in `PACKAGES` it reads `generated.proto`
(message names, field numbers, types, repeated/map) and the Go structs next to it (the
`json` and `protobuf` struct tags) for what the .proto does not say but decoding needs:
- the JSON name (`json:"name"`), and `json:",inline"` embedded structs (Volume's
  VolumeSource, Probe's ProbeHandler...) whose fields JSON flattens into the parent;
- whether the Go field is a pointer, and `omitempty`: gogo-protobuf always writes a
  non-pointer scalar, zero or not, so a zero non-pointer `omitempty` field on the wire means
  "unset" (JSON would omit it), while a pointer field present with 0/false/"" is a real value
  (`replicas: 0`, `automountServiceAccountToken: false`).

Adding a kind: if its group/version is in `PACKAGES`, its messages are already in the table;
otherwise add the package here, re-run, and commit the regenerated schema_data.py.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# (repository: "api" or "apimachinery", directory, short package name used in the table)
PACKAGES: list[tuple[str, str, str]] = [
    ("apimachinery", "pkg/apis/meta/v1", "meta.v1"),
    ("apimachinery", "pkg/api/resource", "resource"),
    ("apimachinery", "pkg/util/intstr", "intstr"),
    ("apimachinery", "pkg/runtime", "runtime"),
    ("api", "core/v1", "core.v1"),
    ("api", "apps/v1", "apps.v1"),
    ("api", "batch/v1", "batch.v1"),
    ("api", "coordination/v1", "coordination.v1"),
    ("api", "storage/v1", "storage.v1"),
    ("api", "policy/v1", "policy.v1"),
    ("api", "autoscaling/v1", "autoscaling.v1"),
    ("api", "autoscaling/v2", "autoscaling.v2"),
    ("api", "networking/v1", "networking.v1"),
    ("api", "rbac/v1", "rbac.v1"),
    ("api", "discovery/v1", "discovery.v1"),
    ("api", "scheduling/v1", "scheduling.v1"),
    ("api", "events/v1", "events.v1"),
    ("api", "authorization/v1", "authorization.v1"),
    ("api", "authentication/v1", "authentication.v1"),
    ("api", "certificates/v1", "certificates.v1"),
]

# Field flags, as in schema_data.py.
REPEATED, POINTER, OMITEMPTY, INLINE = 1, 2, 4, 8

_PROTO_PACKAGE_PREFIXES = [
    ("k8s.io.apimachinery.pkg.apis.meta.v1.", "meta.v1."),
    ("k8s.io.apimachinery.pkg.api.resource.", "resource."),
    ("k8s.io.apimachinery.pkg.util.intstr.", "intstr."),
    ("k8s.io.apimachinery.pkg.runtime.schema.", "runtime.schema."),
    ("k8s.io.apimachinery.pkg.runtime.", "runtime."),
]


@dataclass
class GoField:
    json_name: str
    pointer: bool
    omitempty: bool
    inline: bool


Reader = tuple[Callable[[str], str | None], Callable[[str], list[str]]]


def _reader(repo: Path) -> Reader:
    """(read a file, list a directory) of a bare repository (HEAD) or a checkout."""
    if (repo / "HEAD").exists() and not (repo / ".git").exists():  # a bare repository
        def read_git(path: str) -> str | None:
            out = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{path}"],
                                 capture_output=True, text=True, check=False)
            return out.stdout if out.returncode == 0 else None

        def list_git(directory: str) -> list[str]:
            out = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "--name-only", "HEAD",
                                  f"{directory}/"], capture_output=True, text=True, check=True)
            return out.stdout.split()
        return read_git, list_git

    def read_dir(path: str) -> str | None:
        p = repo / path
        return p.read_text() if p.exists() else None

    def list_dir(directory: str) -> list[str]:
        return [f"{directory}/{p.name}" for p in sorted((repo / directory).iterdir())]
    return read_dir, list_dir


def _short_type(proto_type: str, package: str) -> str:
    t = proto_type.lstrip(".")
    for prefix, short in _PROTO_PACKAGE_PREFIXES:
        if t.startswith(prefix):
            return short + t[len(prefix):]
    m = re.match(r"k8s\.io\.api\.(\w+)\.(\w+)\.(\w+)$", t)
    if m:
        return f"{m[1]}.{m[2]}.{m[3]}"
    if "." in t or t in _SCALARS:
        return t
    return f"{package}.{t}"  # a message of the same package


_SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
            "double", "float", "fixed32", "fixed64", "sfixed32", "sfixed64"}
_FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*(map<\s*(\S+)\s*,\s*(\S+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")


def parse_proto(text: str, package: str) -> dict[str, list[tuple[int, str, str, bool]]]:
    """{message: [(number, proto name, type, repeated)]} of one generated.proto."""
    messages: dict[str, list[tuple[int, str, str, bool]]] = {}
    current: str | None = None
    depth = 0
    for line in text.splitlines():
        code = line.split("//", 1)[0]
        if not code.strip():
            continue
        m = re.match(r"^\s*message\s+(\w+)\s*\{", code)
        if m and depth == 0:
            current, depth = m[1], 1
            messages[current] = []
            if "}" in code:
                current, depth = None, 0
            continue
        if current is None:
            continue
        depth += code.count("{") - code.count("}")
        if depth <= 0:
            current, depth = None, 0
            continue
        f = _FIELD.match(code)
        if not f:
            continue
        label, typ, key, value, name, number = f.groups()
        if key is not None:
            typ = f"map<{_short_type(key, package)},{_short_type(value, package)}>"
        else:
            typ = _short_type(typ, package)
        messages[current].append((int(number), name, typ, label == "repeated"))
    return messages


_TAG = re.compile(r"`([^`]*)`")


def parse_go(text: str) -> dict[str, dict[str, GoField]]:
    """{struct: {protobuf field name: GoField}} from the struct tags of one Go file."""
    out: dict[str, dict[str, GoField]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = re.match(r"^type\s+(\w+)\s+struct\s*\{", line)
        if m:
            current = m[1]
            out.setdefault(current, {})
            continue
        if current is None:
            continue
        if line.startswith("}"):
            current = None
            continue
        tag = _TAG.search(line)
        if not tag or 'protobuf:"' not in tag[1]:
            continue
        pre = line[:tag.start()].split("//", 1)[0].split()
        go_type = pre[0] if len(pre) == 1 else " ".join(pre[1:])
        embedded = len(pre) == 1
        jm = re.search(r'json:"([^"]*)"', tag[1])
        pm = re.search(r'protobuf:"([^"]*)"', tag[1])
        assert pm is not None
        proto_name = next((p[5:] for p in pm[1].split(",") if p.startswith("name=")), "")
        if not proto_name and embedded:  # `protobuf:"bytes,1,req"`: go-to-protobuf names it so
            base = go_type.lstrip("*").rsplit(".", 1)[-1]
            proto_name = base[:1].lower() + base[1:]
        json_parts = (jm[1] if jm else "").split(",")
        json_name = json_parts[0]
        inline = "inline" in json_parts[1:] or (embedded and json_name == "")
        out[current][proto_name] = GoField(json_name=json_name or proto_name, pointer=go_type.startswith("*"),
                                           omitempty="omitempty" in json_parts[1:], inline=inline)
    return out


def generate(api: Path, apimachinery: Path) -> str:
    repos = {"api": _reader(api), "apimachinery": _reader(apimachinery)}
    table: dict[str, list[tuple[int, str, str, int]]] = {}
    for repo, directory, short in PACKAGES:
        read, listing = repos[repo]
        proto = read(f"{directory}/generated.proto")
        if proto is None:
            raise SystemExit(f"{repo}: {directory}/generated.proto not found")
        go: dict[str, dict[str, GoField]] = {}
        for path in listing(directory):
            if path.endswith(".go") and not path.endswith("_test.go") and "generated" not in path:
                for struct, go_fields in parse_go(read(path) or "").items():
                    go.setdefault(struct, {}).update(go_fields)
        for message, proto_fields in parse_proto(proto, short).items():
            rows: list[tuple[int, str, str, int]] = []
            for number, name, typ, repeated in proto_fields:
                g = go.get(message, {}).get(name)
                flags = REPEATED if repeated else 0
                json_name = name
                if g is not None:
                    json_name = g.json_name
                    flags |= (POINTER if g.pointer else 0) | (OMITEMPTY if g.omitempty else 0)
                    flags |= INLINE if g.inline else 0
                rows.append((number, json_name, typ, flags))
            table[f"{short}.{message}"] = rows
    return _render(table, api, apimachinery)


def _head(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or "unknown"


def _render(table: dict[str, list[tuple[int, str, str, int]]], api: Path, apimachinery: Path) -> str:
    lines = [
        '"""GENERATED by `python -m apiserver.protobuf.gen_schema` from kubernetes/api',
        f"{_head(api)} and kubernetes/apimachinery {_head(apimachinery)}: do not edit by hand",
        "(see gen_schema.py for how to add a package). One entry per protobuf message:",
        "(field number, JSON name, type, flags); flags: 1 repeated, 2 Go pointer, 4 json omitempty,",
        '8 inlined in the parent\'s JSON. Types: protobuf scalars, "pkg.v1.Message", "map<K,V>".',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "# fmt: off",
        "SCHEMA: dict[str, tuple[tuple[int, str, str, int], ...]] = {",
    ]
    for message in sorted(table):
        rows = table[message]
        if not rows:
            lines.append(f'    "{message}": (),')
            continue
        lines.append(f'    "{message}": (')
        lines.extend(f'        ({n}, "{j}", "{t}", {f}),' for n, j, t, f in rows)
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("api", type=Path, help="kubernetes/api repository (bare or checkout)")
    p.add_argument("apimachinery", type=Path, help="kubernetes/apimachinery repository")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("schema_data.py"))
    args = p.parse_args(argv)
    args.out.write_text(generate(args.api, args.apimachinery))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
