"""`kubelite api-versions`, `api-resources`, `config ...` and `completion bash|zsh`.

Contract (kubectl's behaviour):
- `api-versions` prints every group/version the server's discovery (/api, /apis) serves,
  sorted, one a line.
- `api-resources [--namespaced=true|false] [-o wide|name] [--api-group G]` lists the resources
  of each group's preferred version in discovery order (core first), subresources left out:
  columns NAME SHORTNAMES APIVERSION NAMESPACED KIND (+ VERBS CATEGORIES with -o wide);
  `-o name` prints `pods`, `deployments.apps`.
- `config view` prints the kubeconfig with secrets shown as DATA+OMITTED / REDACTED
  (`--raw` shows them), `config get-contexts` the table with `*` on the current one,
  `config current-context`, `config use-context NAME` (`Switched to context "NAME".`),
  `config set-context [NAME|--current] --namespace NS` (`Context "NAME" modified.`). Edits
  rewrite the kubeconfig file in place (mode kept); an unknown context is kubectl's error.
- `completion bash|zsh` prints click's completion script for `kubelite`.
- `version -o json|yaml`: kubectl's clientVersion/serverVersion document (2-space JSON).
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from cli.clusterplan import VERSION
from cli.errors import CliError
from cli.printers import dump_yaml, render_table
from cli.session import Globals, open_client
from machinery.client import ApiClient
from machinery.kubeconfig import default_kubeconfig_path

SECRET_FIELDS = {"client-certificate-data": "DATA+OMITTED", "client-key-data": "DATA+OMITTED",
                 "certificate-authority-data": "DATA+OMITTED", "token": "REDACTED", "password": "REDACTED"}


async def _groups(client: ApiClient) -> list[tuple[str, list[str], str]]:
    """[(group, versions, preferred version)], core ("") first, in discovery order."""
    core = await client.request("GET", "/api")
    out = [("", list(core.get("versions") or []), (core.get("versions") or ["v1"])[0])]
    body = await client.request("GET", "/apis")
    for group in body.get("groups") or []:
        versions = [v["version"] for v in group.get("versions") or []]
        preferred = (group.get("preferredVersion") or {}).get("version") or (versions[0] if versions else "")
        out.append((group["name"], versions, preferred))
    return out


async def api_versions(g: Globals) -> int:
    client, _ = open_client(g)
    async with client:
        groups = await _groups(client)
    names = sorted(f"{grp}/{v}" if grp else v for grp, versions, _ in groups for v in versions)
    print("\n".join(names))
    return 0


async def api_resources(g: Globals, *, namespaced: bool | None, output: str, api_group: str | None) -> int:
    if output not in ("", "wide", "name"):
        raise CliError(f'--output {output} is not available')
    client, _ = open_client(g)
    rows: list[list[str]] = []
    names: list[str] = []
    async with client:
        for grp, _versions, preferred in await _groups(client):
            if api_group is not None and grp != api_group:
                continue
            gv = f"{grp}/{preferred}" if grp else preferred
            body = await client.request("GET", f"/apis/{gv}" if grp else f"/api/{gv}")
            for res in body.get("resources") or []:
                if "/" in res["name"] or (namespaced is not None and bool(res.get("namespaced")) != namespaced):
                    continue
                names.append(f"{res['name']}.{grp}" if grp else res["name"])
                row = [res["name"], ",".join(res.get("shortNames") or []), gv,
                       "true" if res.get("namespaced") else "false", res.get("kind", "")]
                if output == "wide":
                    row += [",".join(res.get("verbs") or []), ",".join(res.get("categories") or [])]
                rows.append(row)
    if output == "name":
        print("\n".join(names))
        return 0
    headers = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    if output == "wide":
        headers += ["VERBS", "CATEGORIES"]
    print(render_table(headers, rows))
    return 0


def _path(g: Globals) -> Path:
    return Path(g.kubeconfig) if g.kubeconfig else Path(default_kubeconfig_path())


def _load(g: Globals) -> tuple[Path, dict[str, Any]]:
    path = _path(g)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise CliError(f"error loading config file \"{path}\": {exc.strerror}") from None
    return path, doc


def _save(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.chmod(tmp, path.stat().st_mode & 0o777)
    tmp.replace(path)  # one rename: a reader never sees half a kubeconfig


def config_view(g: Globals, *, raw: bool, minify: bool) -> int:
    _, doc = _load(g)
    doc = copy.deepcopy(doc)
    if minify:
        current = g.context or doc.get("current-context")
        ctx = next((c for c in doc.get("contexts") or [] if c.get("name") == current), None)
        if ctx is None:
            raise CliError("current-context must exist in order to minify")
        inner = ctx.get("context") or {}
        doc["contexts"] = [ctx]
        doc["clusters"] = [c for c in doc.get("clusters") or [] if c.get("name") == inner.get("cluster")]
        if not doc["clusters"]:
            raise CliError(f"cannot locate cluster {inner.get('cluster')}")
        doc["users"] = [u for u in doc.get("users") or [] if u.get("name") == inner.get("user")]
    if not raw:
        for section, key in (("clusters", "cluster"), ("users", "user")):
            for entry in doc.get(section) or []:
                inner = entry.get(key) or {}
                for field, mask in SECRET_FIELDS.items():
                    if field in inner:
                        inner[field] = mask
    print(dump_yaml(doc))
    return 0


def config_get_contexts(g: Globals, names: list[str], *, output: str) -> int:
    _, doc = _load(g)
    current = doc.get("current-context")
    contexts = [c for c in doc.get("contexts") or [] if not names or c.get("name") in names]
    missing = [n for n in names if n not in {c.get("name") for c in contexts}]
    if output == "name":
        print("\n".join(str(c.get("name")) for c in contexts))
    else:
        rows = [["*" if c.get("name") == current else "", str(c.get("name")), str((c.get("context") or {}).get("cluster", "")),
                 str((c.get("context") or {}).get("user", "")), str((c.get("context") or {}).get("namespace", ""))]
                for c in contexts]
        print(render_table(["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"], rows))
    if missing:
        raise CliError(f'context {missing[0]} not found')
    return 0


def config_current_context(g: Globals) -> int:
    _, doc = _load(g)
    current = doc.get("current-context")
    if not current:
        raise CliError("current-context is not set")
    print(current)
    return 0


def config_use_context(g: Globals, name: str) -> int:
    path, doc = _load(g)
    if name not in {c.get("name") for c in doc.get("contexts") or []}:
        raise CliError(f'no context exists with the name: "{name}"')
    doc["current-context"] = name
    _save(path, doc)
    print(f'Switched to context "{name}".')
    return 0


def config_set_context(g: Globals, name: str | None, *, current: bool, namespace: str | None, cluster: str | None,
                       user: str | None) -> int:
    path, doc = _load(g)
    if current:
        if name:
            raise CliError("you cannot specify a context name and --current")
        name = doc.get("current-context")
        if not name:
            raise CliError("no current context is set")
    if not name:
        raise CliError("you must specify a non-empty context name or --current")
    contexts = doc.setdefault("contexts", [])
    entry = next((c for c in contexts if c.get("name") == name), None)
    created = entry is None
    if entry is None:
        entry = {"name": name, "context": {}}
        contexts.append(entry)
    inner = entry.setdefault("context", {})
    inner.setdefault("cluster", "")  # kubectl's Context always writes cluster and user
    inner.setdefault("user", "")
    for key, value in (("namespace", namespace), ("cluster", cluster), ("user", user)):
        if value is not None:
            inner[key] = value
    _save(path, doc)
    print(f'Context "{name}" {"created" if created else "modified"}.')
    return 0


def completion(shell: str) -> int:
    if shell not in ("bash", "zsh", "fish"):
        raise CliError(f'Unsupported shell type "{shell}".')
    from typer._completion_shared import get_completion_script

    print(get_completion_script(prog_name="kubelite", complete_var="_KUBELITE_COMPLETE", shell=shell))
    return 0


async def version(g: Globals, *, client_only: bool, output: str) -> int:
    """`version -o json|yaml`: kubectl's document (clientVersion, serverVersion from /version)."""
    if output not in ("json", "yaml"):
        raise CliError("--output must be 'yaml' or 'json'")
    major, minor = [*VERSION.lstrip("v").split("."), "0", "0"][:2]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    doc: dict[str, Any] = {"clientVersion": {"major": major, "minor": minor, "gitVersion": VERSION,
                                             "platform": f"{sys.platform}/{arch}"}}
    if not client_only:
        client, _ = open_client(g)
        async with client:
            doc["serverVersion"] = await client.request("GET", "/version")
    print(json.dumps(doc, indent=2) if output == "json" else dump_yaml(doc))
    return 0
