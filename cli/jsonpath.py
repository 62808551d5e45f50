"""kubectl's JSONPath templates (`-o jsonpath=...`, `wait --for=jsonpath=...`, custom columns).

Contract: `render(template, data) -> str` evaluates a template as kubectl does: text outside
`{}` is printed as written (with `\\n`, `\\t` escapes), `{.a.b}` fields, `{.a[0]}`, `{.a[-1]}`,
`{.a[1:3]}`, `{.a[*].b}`, `{..name}` (recursive), `{.a[?(@.type=="Ready")].status}` filters
with == != < > <= >= and bare existence, `{range .items[*]}...{end}`, string literals
`{"\\n"}`, `{@}` / `{$}`. Several results of one expression are joined by a space; strings
print raw, numbers and booleans as JSON, maps and lists as compact JSON. `find(expr, data)`
returns the list of values an expression selects. A malformed template raises CliError
(`error parsing jsonpath ...`); a missing field prints nothing, as kubectl's does with
--allow-missing-template-keys (its default).
"""

from __future__ import annotations

import json
import re
from typing import Any

from cli.errors import CliError

_TOKEN = re.compile(r"\{((?:[^{}\"]|\"(?:\\.|[^\"\\])*\")*)\}")
_STEP = re.compile(r"""
    \.\.(?P<rec>[\w\-/]+|\*)?          # recursive descent
  | \.(?P<field>[\w\-/]+|\*)           # .field or .*
  | \[(?P<bracket>(?:[^\[\]]|\[[^\]]*\])*)\]   # [..] (filters may hold brackets)
""", re.VERBOSE)
_FILTER = re.compile(r"^\?\((?P<left>@[^=!<>]*)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<right>.+))?\)$")


def _error(template: str, why: str) -> CliError:
    return CliError(f"error parsing jsonpath {template}, {why}")


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _descend(value: Any) -> list[Any]:
    out = [value]
    for child in _children(value):
        out.extend(_descend(child))
    return out


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith(("'", '"')) and text.endswith(text[0]) and len(text) >= 2:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        return bool(left == right or str(left) == str(right))
    if op == "!=":
        return not _compare(left, "==", right)
    try:
        lf, rf = float(left), float(right)
    except (TypeError, ValueError):
        return False
    return {"<": lf < rf, ">": lf > rf, "<=": lf <= rf, ">=": lf >= rf}[op]


def _bracket(inner: str, values: list[Any], root: Any, template: str) -> list[Any]:
    inner = inner.strip()
    out: list[Any] = []
    if inner.startswith("?"):
        m = _FILTER.match(inner)
        if not m:
            raise _error(template, f"unrecognized filter {inner!r}")
        left_path = "." + m["left"].strip()[1:].lstrip(".") if m["left"].strip() != "@" else ""
        for v in values:
            for item in _children(v):
                found = find(left_path, item, root) if left_path else [item]
                if m["op"] is None:
                    if found and found[0] not in (None, False):
                        out.append(item)
                elif found and _compare(found[0], m["op"], _literal(m["right"])):
                    out.append(item)
        return out
    if inner == "*":
        return [c for v in values for c in _children(v)]
    if inner.startswith(("'", '"')):
        return [v[inner[1:-1]] for v in values if isinstance(v, dict) and inner[1:-1] in v]
    for v in values:
        if not isinstance(v, list):
            continue
        if ":" in inner:
            parts = [int(p) if p.strip() else None for p in inner.split(":")[:3]]
            out.extend(v[slice(*parts)])
        else:
            try:
                index = int(inner)
            except ValueError:
                raise _error(template, f"invalid array index {inner!r}") from None
            if -len(v) <= index < len(v):
                out.append(v[index])
    return out


def find(expr: str, data: Any, root: Any = None) -> list[Any]:
    """The values `expr` (`.a.b[0]`, `..name`, `@.x`) selects in `data`."""
    root = data if root is None else root
    expr = expr.strip()
    if expr.startswith(("@", "$")):
        data = root if expr[0] == "$" else data
        expr = expr[1:]
    values = [data]
    pos = 0
    while pos < len(expr):
        m = _STEP.match(expr, pos)
        if not m:
            raise _error(expr, f"unrecognized character at {pos}: {expr[pos:]!r}")
        pos = m.end()
        if m["field"] is not None:
            name = m["field"]
            values = [c for v in values for c in _children(v)] if name == "*" else \
                [v[name] for v in values if isinstance(v, dict) and name in v]
        elif m["bracket"] is not None:
            values = _bracket(m["bracket"], values, root, expr)
        else:
            everything = [d for v in values for d in _descend(v)]
            name = m["rec"]
            if name is None or name == "*":
                values = everything[len(values):] if name == "*" else everything
            else:
                values = [d[name] for d in everything if isinstance(d, dict) and name in d]
    return values


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)  # Go sorts map keys
    return json.dumps(value)


def _parse(template: str) -> list[tuple[str, str]]:
    """[(kind, text)] with kind in text|expr|range|end."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(template):
        if m.start() > pos:
            tokens.append(("text", _unescape(template[pos:m.start()])))
        body = m[1].strip()
        if body.startswith("range "):
            tokens.append(("range", body[len("range "):]))
        elif body == "end":
            tokens.append(("end", ""))
        elif body.startswith('"') and body.endswith('"'):
            tokens.append(("text", _unescape(body[1:-1])))
        else:
            tokens.append(("expr", body))
        pos = m.end()
    rest = template[pos:]
    if "{" in rest or "}" in rest:
        raise _error(template, "unclosed action")
    if rest:
        tokens.append(("text", _unescape(rest)))
    return tokens


def _run(tokens: list[tuple[str, str]], data: Any, root: Any, template: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "text":
            out.append(text)
        elif kind == "expr":
            out.append(" ".join(format_value(v) for v in find(text, data, root)))
        elif kind == "range":
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                depth += {"range": 1, "end": -1}.get(tokens[j][0], 0)
                j += 1
            if depth:
                raise _error(template, "range without end")
            body = tokens[i + 1:j - 1]
            for item in find(text, data, root):
                out.append(_run(body, item, root, template))
            i = j
            continue
        else:
            raise _error(template, "end without range")
        i += 1
    return "".join(out)


def render(template: str, data: Any) -> str:
    template = template.strip()
    if len(template) >= 2 and template[0] == template[-1] and template[0] in "'\"":
        template = template[1:-1]  # quotes a shell left in place
    return _run(_parse(template), data, data, template)
