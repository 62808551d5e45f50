"""`kubelite explain RESOURCE[.field...] [--recursive]`: kubectl's explain (OpenAPI v3 plaintext
template, k8s.io/kubectl pkg/explain/v2/templates/plaintext.tmpl), from the server's OpenAPI.

Contract, as kubectl: the resource is resolved like every verb (`deploy`, `pods`), its
group-version document is read from `/openapi/v3` and the schema whose
`x-kubernetes-group-version-kind` names the kind is followed along the field path (through
`$ref`, array items, map values and `allOf`). The output is the template's: `GROUP:` (non-core),
`KIND:`, `VERSION:`, then for a field `FIELD: name <type>` (+ `ENUM:` values), `DESCRIPTION:`
(wrapped at 76, `<empty>` when none) and `FIELDS:` (each `name\t<type> [-required-]` with its
description, or with `--recursive` the whole tree, two spaces per level, a `$ref` cycle
cut). Types read as kubectl's typeGuess: `string`, `[]Container`, `map[string]string`,
`Object`. An unknown field is `error: field "x" does not exist` (after the header), exit 1.
"""

from __future__ import annotations

import textwrap
from typing import Any

from cli.errors import CliError, PlainError
from cli.session import Globals, open_client, resolve_kind
from machinery.client import ApiClient

Obj = dict[str, Any]


def wrap(text: str, width: int) -> str:
    """sprig's wrap: words wrapped at `width`, existing line breaks kept, long words whole."""
    lines = []
    for line in text.split("\n"):
        lines.extend(textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line for line in text.split("\n"))


class Explainer:
    def __init__(self, doc: Obj, recursive: bool) -> None:
        self.doc = doc
        self.recursive = recursive

    def resolve(self, ref: str) -> Obj | None:
        if not ref.startswith("#/components/schemas/"):
            return None
        found: Obj | None = ((self.doc.get("components") or {}).get("schemas") or {}).get(ref.rsplit("/", 1)[1])
        return found

    def type_guess(self, s: Obj) -> str:
        if s.get("items"):
            return "[]" + self.type_guess(s["items"])
        extra = s.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return "map[string]" + self.type_guess(extra)
        if s.get("allOf") and not s.get("properties") and len(s["allOf"]) == 1:
            return self.type_guess(s["allOf"][0])
        ref = s.get("$ref")
        if ref:
            target = self.resolve(ref)
            if not target or not target.get("type") or target.get("type") == "object":
                return ref.rsplit("/", 1)[-1].rsplit(".", 1)[-1] or "Object"
            return str(target["type"])
        kind = s.get("type")
        return "Object" if kind in (None, "", "object") else str(kind)

    @staticmethod
    def enum(s: Obj, *, long_view: bool, limit: int, indent_by: int = 0) -> str:
        values = s.get("enum")
        if not values:
            return ""
        out = "ENUM:" if long_view else "\n" + " " * indent_by + "enum: "
        for i, value in enumerate(values):
            if limit > -1 and i >= limit:
                out += ", ...."
                break
            if i > 0 and not long_view:
                out += ", "
            elif long_view:
                out += "\n    "
            out += '""' if value == "" else str(value)
        return out

    def description(self, s: Obj) -> str:
        resolved = self.resolve(s.get("$ref") or "") or s
        out = (str(resolved["description"]) + "\n") if resolved.get("description") else ""
        for sub in resolved.get("allOf") or []:
            out += self.description(sub)
        if resolved.get("items"):
            out += self.description(resolved["items"])
        extra = resolved.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out += self.description(extra)
        return out

    def field_detail(self, parent: Obj, name: str, level: int) -> str:
        field = (parent.get("properties") or {})[name]
        pad = level * 2
        out = indent(name, pad) + f"\t<{self.type_guess(field)}>"
        if name in (parent.get("required") or []):
            out += " -required-"
        out += self.enum(field, long_view=False, limit=4, indent_by=pad) + "\n"
        if not self.recursive:
            out += indent(wrap(str(field.get("description") or "<no description>"), 78 - pad), pad + 2) + "\n"
            out += "\n"
        return out

    def field_list(self, s: Obj, level: int, history: frozenset[str]) -> str:
        ref = s.get("$ref") or ""
        if ref and ref in history:
            return ""
        history = history | {ref}
        resolved = self.resolve(ref) or s
        out = ""
        for name in sorted(resolved.get("properties") or {}):
            out += self.field_detail(resolved, name, level)
            if self.recursive:
                out += self.field_list(resolved["properties"][name], level + 1, history)
        for sub in resolved.get("allOf") or []:
            out += self.field_list(sub, level, history)
        if resolved.get("items"):
            out += self.field_list(resolved["items"], level, history)
        extra = resolved.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out += self.field_list(extra, level, history)
        return out

    def output(self, s: Obj, path: list[str], history: frozenset[str]) -> str:
        ref = s.get("$ref") or ""
        resolved = self.resolve(ref) or s
        if not path:
            out = "DESCRIPTION:\n" + indent(wrap(self.description(resolved) or "<empty>", 76), 4) + "\n"
            fields = self.field_list(resolved, 1, frozenset())
            return out + ("FIELDS:\n" + fields if fields else "")
        if ref and ref in history:
            return ""
        history = history | {ref}
        props = resolved.get("properties") or {}
        if path[0] in props:
            sub = props[path[0]]
            head = ""
            if len(path) == 1:
                head = (f"FIELD: {path[0]} <{self.type_guess(sub)}>\n"
                        + self.enum(sub, long_view=True, limit=-1) + "\n\n")
            rest = self.output(sub, path[1:], frozenset())
            return head + rest if rest or len(path) == 1 else ""
        if resolved.get("items"):
            return self.output(resolved["items"], path, history)
        extra = resolved.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return self.output(extra, path, history)
        for sub in resolved.get("allOf") or []:
            text = self.output(sub, path, history)
            if text:
                return text
        return ""


def find_schema(doc: Obj, group: str, version: str, kind: str) -> Obj | None:
    for schema in ((doc.get("components") or {}).get("schemas") or {}).values():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if (gvk.get("group") or "", gvk.get("version"), gvk.get("kind")) == (group, version, kind):
                found: Obj = schema
                return found
    return None


async def group_document(client: ApiClient, group: str, version: str) -> Obj:
    index = await client.request("GET", "/openapi/v3")
    key = f"apis/{group}/{version}" if group else f"api/{version}"
    entry = (index.get("paths") or {}).get(key)
    if not entry:
        raise CliError(f"couldn't find resource for \"{group}/{version}\"")
    doc: Obj = await client.request("GET", str(entry.get("serverRelativeURL") or f"/openapi/v3/{key}"))
    return doc


async def explain(g: Globals, target: str, *, recursive: bool) -> int:
    resource, *path = target.split(".") if target else [""]
    try:
        cls = resolve_kind(resource)
    except CliError as exc:  # kubectl prints the mapper's message without `error: `
        raise PlainError(str(exc)) from None
    client, _ = open_client(g)
    async with client:
        doc = await group_document(client, cls.GROUP, cls.VERSION)
    header = (f"GROUP:      {cls.GROUP}\n" if cls.GROUP else "") + f"KIND:       {cls.KIND}\nVERSION:    {cls.VERSION}\n\n"
    schema = find_schema(doc, cls.GROUP, cls.VERSION, cls.KIND)
    if schema is None:
        raise CliError(f"GVK {cls.GROUP}/{cls.VERSION}, Kind={cls.KIND} not found in OpenAPI schema")
    body = Explainer(doc, recursive).output(schema, path, frozenset())
    if not body:
        print(header, end="")
        raise CliError(f'field "{path[-1]}" does not exist')
    print(header + body)
    return 0
