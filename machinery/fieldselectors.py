"""Field selectors (`k8s.io/apimachinery/pkg/fields`):
- `parse_field_selector("spec.nodeName=n1,status.phase!=Failed")`, operators `=`, `==`, `!=`.
  Values escape `\\`, `\\,`, `\\=` with a backslash; unescaped `,`/`=` inside a value or an
  unknown escape is an error. No whitespace trimming (Kubernetes does none either).
- `matches(obj)` resolves dotted paths in the object's dict form; a missing field is `""`,
  booleans are `"true"`/`"false"`. `single_value(field)` gives the value of an `=`
  requirement on that field (the watch cache indexes pods by `spec.nodeName` with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def escape_field_value(s: str) -> str:
    """fields.EscapeValue: backslash-escape `\\`, `,` and `=`."""
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(s: str) -> str:
    """fields.UnescapeValue; raises ValueError on a bad escape or an unescaped `,`/`=`."""
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: '{c}'")
        else:
            out.append(c)
    if in_slash:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(s: str) -> list[str]:
    """Split on commas that are not backslash-escaped (the backslash stays in the term)."""
    terms: list[str] = []
    start, in_slash = 0, False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The first operator occurrence splits; "!=" and "==" are tried before "=" at each position.
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _field_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def resolve_field(obj: Mapping[str, Any], path: str) -> str:
    """The string value of a dotted path in an object dict; missing or non-scalar -> ""."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    return _field_string(cur)


@dataclass(frozen=True)
class FieldSelector:
    """An AND of (field, op, unescaped value) terms, op `=` or `!=` (`==` is stored as `=`)."""

    terms: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        reqs = []
        for field, op, value in self.terms:
            if op not in ("=", "==", "!="):
                raise ValueError(f"invalid field selector operator {op!r}: supported are =, ==, !=")
            reqs.append((field, "!=" if op == "!=" else "=", value))
        object.__setattr__(self, "terms", tuple(reqs))

    @property
    def requirements(self) -> list[tuple[str, str, str]]:
        return list(self.terms)

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: Any) -> bool:
        """Match an object dict (or a model, via its `to_dict()`)."""
        data = obj.to_dict() if hasattr(obj, "to_dict") else obj
        return self.matches_fields({f: resolve_field(data, f) for f, _, _ in self.terms})

    def matches_fields(self, fields: Mapping[str, str]) -> bool:
        """Match precomputed field values; an absent field is ""."""
        return all((fields.get(f, "") == v) == (op == "=") for f, op, v in self.terms)

    def single_value(self, field: str) -> str | None:
        """The value `field` must equal (an `=` term on it), else None."""
        return next((v for f, op, v in self.terms if f == field and op == "="), None)

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{escape_field_value(v)}" for f, op, v in self.terms)


def parse_field_selector(s: str) -> FieldSelector:
    """fields.ParseSelector: comma separated terms, sorted textually like Kubernetes."""
    reqs: list[tuple[str, str, str]] = []
    for part in sorted(_split_terms(s)) if s else []:
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise ValueError(f"invalid selector: '{s}'; can't understand '{part}'")
        field, op, raw = split
        reqs.append((field, op, unescape_field_value(raw)))
    return FieldSelector(tuple(reqs))
