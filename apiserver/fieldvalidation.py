"""`fieldValidation=Strict|Warn|Ignore`: what happens to fields the models do not know.

Contract:
- The models drop unknown fields when parsing, so they are found by walking the input dict
  against the model's declared fields, recursively through nested models, lists and maps;
  fields typed `dict[str, Any]` (or `Any`) accept anything. Paths read like Kubernetes':
  `spec.template.spec.containers[0].foo`. Keys starting with `$` (strategic-merge-patch
  directives) are not fields.
- `FieldValidation.from_request(request)`: the mode (default Warn, as the API server's
  default); any other value is 400.
- `fv.check(cls, data)`: Strict raises 400 BadRequest `<Kind> in version "<v>" cannot be
  handled as a <Kind>: strict decoding error: unknown field "spec.foo"`; Warn records one
  warning per field (`fv.warnings`, sent as `Warning: 299 - "unknown field \"spec.foo\""`
  headers by `fv.add_headers(response)`); Ignore does nothing (the fields are dropped).
- Field paths are quoted as Go's `%q` quotes them (Kubernetes' `unknown field %q`): quotes,
  backslashes and non-printable characters escaped, printable non-ASCII kept. Warning headers are
  built as Kubernetes' NewWarningHeader builds them and sent as UTF-8 bytes, as Go sends
  them; at most 4,096 characters of warning text, each warning cut to 256 characters once
  that is exceeded (Kubernetes' recorder). The header values are encoded inside `check`,
  before the handler writes anything, so an unusual field name can never turn a stored
  write into an error.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from machinery import errors
from machinery.meta import Resource

MODES = ("Strict", "Warn", "Ignore")


_STRIPPED: dict[Any, Any] = {}
_KNOWN: dict[type[BaseModel], dict[str, Any]] = {}


def _strip(annotation: Any) -> Any:
    """Unwrap Annotated[...] and Optional[...] (X | None). Memoised: every write walks its
    body, and the typing introspection below was most of that cost."""
    try:
        return _STRIPPED[annotation]
    except KeyError:
        out = _STRIPPED[annotation] = _strip_uncached(annotation)
        return out
    except TypeError:  # an unhashable annotation (Annotated metadata): no memo
        return _strip_uncached(annotation)


def _strip_uncached(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return Any  # a real union (int-or-string, ...): no fields to check
            annotation = args[0]
            continue
        return annotation


def _walk(annotation: Any, value: Any, path: str, out: list[str]) -> None:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(value, dict):
            unknown_fields(annotation, value, path, out)
        return
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args and isinstance(value, list):
        for i, item in enumerate(value):
            _walk(args[0], item, f"{path}[{i}]", out)
    elif origin is dict and len(args) == 2 and isinstance(value, dict):
        for key, item in value.items():
            _walk(args[1], item, f"{path}.{key}", out)


def unknown_fields(model: type[BaseModel], data: dict[str, Any], path: str = "",
                   out: list[str] | None = None) -> list[str]:
    """Paths of the keys of `data` (recursively) that `model` does not declare."""
    out = [] if out is None else out
    known = _KNOWN.get(model)
    if known is None:  # the models are fixed classes: build each field map once
        known = _KNOWN[model] = {(f.alias or name): f.annotation for name, f in model.model_fields.items()}
    for key, value in data.items():
        if not isinstance(key, str) or key.startswith("$"):
            continue
        child = f"{path}.{key}" if path else key
        if key not in known:
            out.append(child)
        elif value is not None:
            _walk(known[key], value, child, out)
    return out


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}
TRUNCATE_AT_TOTAL = 4 * 1024
TRUNCATE_ITEM = 256


def go_quote(s: str) -> str:
    """Go's strconv.Quote (what `%q` prints)."""
    out = ['"']
    for c in s:
        if c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


def warning_header(text: str) -> bytes:
    """Kubernetes' NewWarningHeader(299, "-", text) as the bytes of a header value."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{quoted}"'.encode("utf-8", "replace")


def warning_headers(texts: list[str]) -> list[bytes]:
    """The Warning header values for `texts`, truncated as Kubernetes' recorder does."""
    if sum(len(t) for t in texts) > TRUNCATE_AT_TOTAL:
        texts = [t[:TRUNCATE_ITEM] for t in texts]
    out: list[bytes] = []
    written = 0
    for text in texts:
        if written + len(text) > TRUNCATE_AT_TOTAL:
            break
        written += len(text)
        out.append(warning_header(text))
    return out


@dataclass
class FieldValidation:
    mode: str = "Warn"
    warnings: list[str] = field(default_factory=list)
    headers: list[bytes] = field(default_factory=list)

    @classmethod
    def from_request(cls, request: Request) -> FieldValidation:
        mode = request.query_params.get("fieldValidation") or "Warn"
        if mode not in MODES:
            raise errors.BadRequest(f'invalid fieldValidation "{mode}": must be one of Strict, Warn, Ignore')
        return cls(mode)

    def check(self, cls: type[Resource], data: Any) -> None:
        if self.mode == "Ignore" or not isinstance(data, dict):
            return
        unknown = unknown_fields(cls, data)
        if not unknown:
            return
        if self.mode == "Strict":
            listed = ", ".join(f"unknown field {go_quote(p)}" for p in unknown)
            raise errors.BadRequest(f'{cls.KIND} in version "{cls.VERSION}" cannot be handled as a '
                                    f"{cls.KIND}: strict decoding error: {listed}")
        for p in unknown:
            text = f"unknown field {go_quote(p)}"
            if text not in self.warnings:
                self.warnings.append(text)
        self.headers = warning_headers(self.warnings)  # encoded now: before any write

    def add_headers(self, response: Response) -> Response:
        response.raw_headers.extend((b"warning", value) for value in self.headers)
        return response
