"""Decoding request bodies (JSON and YAML) with limits, so no body can crash or exhaust us.

Contract:
- `loads_json(raw) -> Any`, `loads_yaml(raw) -> Any`: the decoded document, or 400 BadRequest
  naming what is wrong. Never a RecursionError, never a string Python cannot encode.
- Nesting: a document nested deeper than `MAX_DEPTH` (objects and arrays) is 400. Kubernetes
  stops at 10,000 levels (Go's decoder); a Python server cannot recurse that far (deepcopy,
  validation and patching are recursive), and no Kubernetes object needs more than ~20
  levels, so the limit here is 100. `check_depth(obj)` applies the same limit to an object a
  patch produced (every write's result is checked, so a stored object never exceeds it).
- Integers beyond 64 bits (which Go cannot decode into any Kubernetes field) are 400.
- Lone UTF-16 surrogates (`"\\ud800"` escapes, which Python's json and PyYAML accept) become
  U+FFFD, as Go's encoding/json decodes them; stored strings are always valid UTF-8.
- YAML aliases: expanding aliases may add at most `MAX_ALIAS_NODES` nodes (the "billion
  laughs" bomb: a 400-byte document that expands into megabytes) -> 400, the check runs on
  the composed node graph before anything is built. Kubernetes' YAML decoder refuses
  excessive aliasing too ("document contains excessive aliasing"). The decoded document's
  JSON size must stay within `max_bytes` (413), so a decoded object is bounded like a body.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from apiserver import jsonfast
from machinery import errors

MAX_DEPTH = 100
MAX_ALIAS_NODES = 10_000
_SURROGATE = re.compile("[\ud800-\udfff]")


def too_deep() -> errors.BadRequest:
    return errors.BadRequest(f"the object is nested too deeply: more than {MAX_DEPTH} levels of "
                             f"objects and arrays are not accepted")


def check_depth(obj: Any, limit: int = MAX_DEPTH) -> None:
    """400 when `obj` nests objects/arrays deeper than `limit`. Recursive, but it stops at
    `limit` levels, so it never gets near Python's recursion limit (and it is ~10x faster
    than an explicit stack: every write's body goes through it)."""
    if type(obj) is dict or type(obj) is list:
        _depth(obj, 1, limit)


def _depth(value: dict[str, Any] | list[Any], depth: int, limit: int) -> None:
    if depth > limit:
        raise too_deep()
    for v in value.values() if type(value) is dict else value:
        if type(v) is dict or type(v) is list:
            _depth(v, depth + 1, limit)


def _clean(s: str) -> str:
    return _SURROGATE.sub("\ufffd", s)


def _big_int(value: int) -> errors.BadRequest:
    return errors.BadRequest(f"the body holds the integer {str(value)[:40]}, which is beyond 64 bits: "
                             f"no Kubernetes field holds one")


def replace_surrogates(obj: Any) -> Any:
    """`obj` with lone surrogates in its strings (keys too) replaced by U+FFFD; an integer
    beyond 64 bits is 400 (orjson, which parses everything else, refuses them too)."""
    if isinstance(obj, str):
        return _clean(obj)
    if type(obj) is int and not -(2**63) <= obj < 2**64:
        raise _big_int(obj)
    if isinstance(obj, dict):
        return {_clean(k) if isinstance(k, str) else k: replace_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [replace_surrogates(v) for v in obj]
    return obj


def loads_json(raw: bytes) -> Any:
    if jsonfast.orjson is not None:
        try:
            data = jsonfast.orjson.loads(raw)
        except jsonfast.orjson.JSONDecodeError:
            pass  # the standard library accepts more (NaN, UTF-16, surrogate escapes) or explains
        else:
            check_depth(data)
            return data  # orjson refuses lone surrogates: nothing to clean
    try:
        data = json.loads(raw)
    except RecursionError:
        raise too_deep() from None
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.BadRequest(f"the body of the request is not valid JSON: {_clean(str(e))[:300]}") from None
    check_depth(data)
    return replace_surrogates(data)


def _check_nodes(root: yaml.Node) -> None:
    """Depth and alias expansion of a composed YAML document (see module doc)."""
    seen: set[int] = set()
    expanded = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            expanded += 1  # a node reached again through an alias
            if expanded > MAX_ALIAS_NODES:
                raise errors.BadRequest(
                    f"the YAML document expands its aliases into more than {MAX_ALIAS_NODES} "
                    f"nodes: excessive aliasing is not accepted")
        else:
            seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if isinstance(node.value, str) and _SURROGATE.search(node.value):
                node.value = _clean(node.value)
            continue
        if depth > MAX_DEPTH:
            raise too_deep()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


class _Loader(yaml.SafeLoader):
    """SafeLoader reading timestamps as strings, as Kubernetes' YAML-to-JSON does."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp",
                        lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def _key(key: Any) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON key."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return str(key)
    raise errors.BadRequest(f"the YAML document has a mapping key JSON cannot represent: {type(key).__name__}")


def _jsonable(obj: Any) -> Any:
    """The YAML document as JSON data: string keys, no YAML-only types (400 otherwise)."""
    if isinstance(obj, dict):
        return {_key(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if type(obj) is int and not -(2**63) <= obj < 2**64:
        raise _big_int(obj)
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise errors.BadRequest(f"the YAML document holds a value JSON cannot represent: {type(obj).__name__}")


def loads_yaml(raw: bytes, max_bytes: int) -> Any:
    loader = _Loader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        data = _jsonable(loader.construct_document(node))
    except RecursionError:
        raise too_deep() from None
    except yaml.YAMLError as e:
        raise errors.BadRequest(f"the body of the request is not valid YAML: {_clean(str(e))}"[:500]) from None
    finally:
        loader.dispose()
    size = len(jsonfast.dumps(data))
    if size > max_bytes:
        raise errors.RequestEntityTooLarge(
            f"the decoded object is too large: {size} bytes of JSON, the limit is {max_bytes} bytes")
    return data
