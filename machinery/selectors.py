"""Label and field selectors, parsed and matched exactly as Kubernetes does.

Label selectors (`k8s.io/apimachinery/pkg/labels`):
- `parse_label_selector("a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3") -> LabelSelector`.
  Operators `=`, `==`, `!=`, `in`, `notin`, existence `key`, non-existence `!key`, and the
  integer comparisons `>`/`<` that Kubernetes also accepts. Whitespace is ignored between
  tokens. Keys must be qualified names (optional DNS-subdomain prefix and `/`), values valid
  label values; bad input raises `ValueError` with Kubernetes' message, e.g.
  `unable to parse requirement: found '', expected: in, notin, =, ==, !=, gt, lt`.
- `matches(labels)`: every requirement holds. `!=`/`notin` match when the key is absent.
- `str(sel)`: canonical form, requirements sorted by key (stable), `in` values sorted:
  `a=b,e in (f,g),!k`. `everything()` is `""`. `nothing()` also prints `""` as in Kubernetes,
  so never send a nothing-selector over the wire: check `is_nothing` first.
- `selector_from_model` is `metav1.LabelSelectorAsSelector` (None matches nothing, `{}`
  matches everything); `selector_from_map` is `labels.SelectorFromSet` (Service selectors).

Field selectors live in `machinery.fieldselectors` and are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EXISTS = "exists"
DOES_NOT_EXIST = "!"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_ALL_OPERATORS = (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST)

_QNAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_INT64_RE = re.compile(r"^[+-]?[0-9]+$")


def _int64(s: str) -> int | None:
    """Go's strconv.ParseInt(s, 10, 64), or None."""
    if not _INT64_RE.match(s):
        return None
    v = int(s)
    return v if -(2**63) <= v < 2**63 else None


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a valid label key (IsQualifiedName), empty when it is."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a qualified name " + _QNAME_MSG + " with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN_RE.match(prefix):
                errs.append("prefix part " + _DNS1123_MSG)
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QNAME_RE.match(name):
        errs.append("name part " + _QNAME_MSG)
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value, empty when it is."""
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if value and not _QNAME_RE.match(value):
        errs.append("a valid label " + _QNAME_MSG.replace("(e.g. 'MyName',  or", "(e.g. 'MyValue',  or"))
    return errs


def _go_list(values: Iterable[str]) -> str:
    return "[" + " ".join(values) + "]"


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term. Build it with `Requirement.new` to get validation."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = (), *, path: str = "") -> Requirement:  # noqa: C901 - one flat sequence of cases, read best in one place
        """labels.NewRequirement: validates key, operator, values; raises ValueError."""
        vals = tuple(values)
        pre = f"{path}." if path else ""
        errs: list[str] = []
        key_errs = label_key_errors(key)
        if key_errs:
            errs.append(f'{pre}key: Invalid value: "{key}": ' + "; ".join(key_errs))
        if operator in (IN, NOT_IN):
            if not vals:
                errs.append(f"{pre}values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty")
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                errs.append(f"{pre}values: Invalid value: {_go_list(vals)}: exact-match compatibility requires one single value")
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                errs.append(f"{pre}values: Invalid value: {_go_list(vals)}: values set must be empty for exists and does not exist")
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                errs.append(f"{pre}values: Invalid value: {_go_list(vals)}: for 'Gt', 'Lt' operators, exactly one value is required")
            for i, v in enumerate(vals):
                if _int64(v) is None:
                    errs.append(f'{pre}values[{i}]: Invalid value: "{v}": for \'Gt\', \'Lt\' operators, the value must be an integer')
        else:
            supported = ", ".join(f'"{o}"' for o in _ALL_OPERATORS)
            errs.append(f'{pre}operator: Unsupported value: "{operator}": supported values: {supported}')
        for i, v in enumerate(vals):
            val_errs = label_value_errors(v)
            if val_errs:
                errs.append(f'{pre}values[{i}]: Invalid value: "{v}": ' + "; ".join(val_errs))
        if errs:
            raise ValueError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
        if operator in (IN, NOT_IN):
            vals = tuple(sorted(set(vals)))  # Kubernetes keeps a string set
        return cls(key, operator, vals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels:
                return False
            have, want = _int64(labels[self.key]), _int64(self.values[0]) if self.values else None
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator == EXISTS:
            return self.key
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"
        sym = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{sym}{self.values[0] if self.values else ''}"


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements (sorted by key, stably); `is_nothing` matches no object at all."""

    requirements: tuple[Requirement, ...] = ()
    is_nothing: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "requirements", tuple(sorted(self.requirements, key=lambda r: r.key)))

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(is_nothing=True)

    def empty(self) -> bool:
        """True for a selector that matches everything."""
        return not self.is_nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.is_nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def add(self, *requirements: Requirement) -> LabelSelector:
        """A new selector with extra requirements (AND)."""
        return LabelSelector((*self.requirements, *requirements), self.is_nothing)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must have (`=`, `==`, or `in` with one value), else None."""
        for r in self.requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# ---------------------------------------------------------------- label selector parser

_ID, _EOS, _COMMA, _OPEN, _CLOSE, _NOT, _EQ, _EQEQ, _NEQ, _GT, _LT, _IN, _NOTIN = range(13)
_SYMBOLS = {
    "(": _OPEN, ")": _CLOSE, ",": _COMMA, "!": _NOT, "!=": _NEQ, "=": _EQ, "==": _EQEQ,
    ">": _GT, "<": _LT,
}
_KEYWORDS = {"in": _IN, "notin": _NOTIN}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")
_OPERATOR_OF = {
    _IN: IN, _NOTIN: NOT_IN, _EQ: EQUALS, _EQEQ: DOUBLE_EQUALS, _NEQ: NOT_EQUALS,
    _GT: GREATER_THAN, _LT: LESS_THAN,
}


def _lex(s: str) -> list[tuple[int, str]]:
    """Tokens as labels.Lexer produces them (longest match for operator symbols)."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i >= n:
            out.append((_EOS, ""))
            return out
        if s[i] in _SPECIAL:
            j, best = i, None
            while j < n and s[j] in _SPECIAL:
                if s[i : j + 1] in _SYMBOLS:
                    best = j + 1
                elif best is not None:
                    break
                j += 1
            assert best is not None  # every single special character is a token
            out.append((_SYMBOLS[s[i:best]], s[i:best]))
            i = best
            continue
        j = i
        while j < n and s[j] not in _SPECIAL and s[j] not in _WHITESPACE:
            j += 1
        word = s[i:j]
        out.append((_KEYWORDS.get(word, _ID), word))
        i = j


class _Parser:
    def __init__(self, s: str) -> None:
        self.toks = _lex(s)
        self.pos = 0

    def lookahead(self, values: bool) -> tuple[int, str]:
        tok, lit = self.toks[self.pos]
        # In the "values" context the keywords in/notin are plain identifiers.
        if values and tok in (_IN, _NOTIN):
            tok = _ID
        return tok, lit

    def consume(self, values: bool) -> tuple[int, str]:
        t = self.lookahead(values)
        if self.pos < len(self.toks) - 1:
            self.pos += 1
        return t

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(True)
            if tok == _EOS:
                return reqs
            if tok not in (_ID, _NOT):
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except ValueError as e:
                raise ValueError(f"unable to parse requirement: {e}") from None
            tok, lit = self.consume(True)
            if tok == _EOS:
                return reqs
            if tok != _COMMA:
                raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            tok2, lit2 = self.lookahead(True)
            if tok2 not in (_ID, _NOT):
                raise ValueError(f"found '{lit2}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        op: str | None = None
        tok, lit = self.consume(True)
        if tok == _NOT:
            op = DOES_NOT_EXIST
            tok, lit = self.consume(True)
        if tok != _ID:
            raise ValueError(f"found '{lit}', expected: identifier")
        key = lit
        key_errs = label_key_errors(key)
        if key_errs:
            raise ValueError(f'key: Invalid value: "{key}": ' + "; ".join(key_errs))
        if self.lookahead(True)[0] in (_EOS, _COMMA) and op is None:
            op = EXISTS
        if op is not None:
            return Requirement.new(key, op)
        tok, lit = self.consume(False)
        if tok not in _OPERATOR_OF:
            raise ValueError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        op = _OPERATOR_OF[tok]
        values = self.set_values() if op in (IN, NOT_IN) else self.exact_value()
        return Requirement.new(key, op, values)

    def set_values(self) -> list[str]:
        tok, lit = self.consume(True)
        if tok != _OPEN:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(True)
        if tok == _CLOSE:  # "()" means the single empty value
            self.consume(True)
            return [""]
        if tok not in (_ID, _COMMA):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.consume(True)[0] != _CLOSE:
            raise ValueError(f"found '{lit}', expected: ')'")
        return values

    def identifiers(self) -> list[str]:
        """A comma separated list of possibly empty identifiers, up to (not including) ')'."""
        out: set[str] = set()
        while True:
            tok, lit = self.consume(True)
            if tok == _ID:
                out.add(lit)
                tok2, lit2 = self.lookahead(True)
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return sorted(out)
                raise ValueError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not out:
                    out.add("")  # "(,"
                tok2, _ = self.lookahead(True)
                if tok2 == _CLOSE:
                    out.add("")  # ",)"
                    return sorted(out)
                if tok2 == _COMMA:
                    self.consume(True)
                    out.add("")  # ",,"
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        tok, _ = self.lookahead(True)
        if tok in (_EOS, _COMMA):
            return [""]
        tok, lit = self.consume(True)
        if tok == _ID:
            return [lit]
        raise ValueError(f"found '{lit}', expected: identifier")


def parse_label_selector(s: str) -> LabelSelector:
    """labels.Parse. Raises ValueError with Kubernetes' message on bad syntax or names."""
    return LabelSelector(tuple(_Parser(s).parse()))


def selector_from_map(labels: Mapping[str, str] | None) -> LabelSelector:
    """labels.SelectorFromSet: `k=v` for every entry; empty or None matches everything."""
    return LabelSelector(tuple(Requirement(k, EQUALS, (v,)) for k, v in (labels or {}).items()))


_MODEL_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def selector_from_model(sel: Any) -> LabelSelector:
    """metav1.LabelSelectorAsSelector for a meta.LabelSelector model or its dict form.

    None matches nothing, an empty selector everything. Raises ValueError naming the bad
    field (`matchExpressions[1].operator`) for invalid keys, values or operators.
    """
    if sel is None:
        return LabelSelector.nothing()
    data: Mapping[str, Any] = sel.to_dict() if hasattr(sel, "to_dict") else sel
    if not isinstance(data, Mapping):
        raise ValueError(f"label selector must be an object, got {type(sel).__name__}")
    match_labels = data.get("matchLabels") or {}
    exprs = data.get("matchExpressions") or []
    reqs: list[Requirement] = []
    for k, v in match_labels.items():
        if not isinstance(v, str):
            raise ValueError(f"matchLabels[{k}]: Invalid value: {v!r}: must be a string")
        reqs.append(Requirement.new(k, EQUALS, [v], path=f"matchLabels[{k}]"))
    for i, expr in enumerate(exprs):
        path = f"matchExpressions[{i}]"
        op_name = expr.get("operator")
        op = _MODEL_OPERATORS.get(op_name) if isinstance(op_name, str) else None
        if op is None:
            raise ValueError(f'{path}.operator: "{op_name}" is not a valid label selector operator')
        key = expr.get("key")
        if not isinstance(key, str):
            raise ValueError(f"{path}.key: Required value")
        reqs.append(Requirement.new(key, op, list(expr.get("values") or []), path=path))
    return LabelSelector(tuple(reqs))


def is_dns1123_subdomain(value: str) -> bool:
    """Kubernetes' IsDNS1123Subdomain: at most 253 characters of lowercase RFC 1123 labels."""
    return len(value) <= 253 and bool(_DNS1123_SUBDOMAIN_RE.match(value))


# Field selectors, re-exported so `from machinery.selectors import FieldSelector` keeps working.
from machinery.fieldselectors import (  # noqa: E402
    FieldSelector,
    escape_field_value,
    parse_field_selector,
    resolve_field,
    unescape_field_value,
)

__all__ = [
    "FieldSelector", "LabelSelector", "Requirement", "escape_field_value", "is_dns1123_subdomain", "label_key_errors",
    "label_value_errors", "parse_field_selector", "parse_label_selector", "resolve_field",
    "selector_from_map", "selector_from_model", "unescape_field_value",
]
