"""Patch application: JSON merge patch, JSON patch, strategic merge patch.

Contract:
- `merge_patch(target, patch)`: RFC 7386 (null deletes a key, objects merge, everything else
  replaces, lists included).
- `json_patch(target, ops)`: RFC 6902 via the `jsonpatch` package. A malformed patch document is
  a 400 BadRequest; an operation that does not apply (missing path, failed `test`) is a 422
  Invalid, as Kubernetes answers.
- `strategic_merge_patch(target, patch)`: Kubernetes' strategic merge patch. Lists whose field
  has a merge key (containers/initContainers/volumes/env/imagePullSecrets by `name`,
  volumeMounts by `mountPath`, container ports by `containerPort`, other ports by `port`,
  conditions/addresses by `type`, ownerReferences by `uid`, ...) are merged item by item;
  `finalizers` merge as a set of strings; every other list is replaced. Directives:
  `$patch: delete|replace|merge` (on a map, or a list item), `$setElementOrder/<field>`,
  `$retainKeys`, `$deleteFromPrimitiveList/<field>`. Unknown directives are 400 BadRequest.
- `apply_patch(content_type, target, body)`: dispatch on the media type. None of these mutate
  their arguments.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from apiserver import jsonfast
from machinery import errors

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

# Field name -> merge key, as in the Kubernetes types' patchMergeKey tags. `ports` depends on
# where it sits (see _merge_key).
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "secrets": "name",
}
# Lists of strings merged as sets (patchStrategy "merge" on a primitive list).
_MERGED_PRIMITIVE_LISTS = {"finalizers"}

_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_PATCH = "$patch"
_RETAIN = "$retainKeys"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


MAX_JSON_PATCH_OPERATIONS = 10_000  # Kubernetes' maxJSONPatchOperations
MAX_COPIED_BYTES = 3 * 1024 * 1024  # what `copy` operations may duplicate in total


def _copied_size(doc: Any, op: dict[str, Any]) -> int:
    """JSON size of what a `copy` operation duplicates (0 for other operations)."""
    if op.get("op") != "copy" or not isinstance(op.get("from"), str):
        return 0
    try:
        value = jsonpointer.resolve_pointer(doc, op["from"])
    except jsonpointer.JsonPointerException:
        return 0  # the operation itself reports it
    return len(jsonfast.dumps(value))


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch. As Kubernetes: at most 10,000 operations, and `copy` operations may
    duplicate at most 3 MiB in total (AccumulatedCopySizeLimit), else 413: each copy can
    double the object, so 60 of them would need more memory than exists."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise errors.BadRequest("a JSON patch must be a list of operation objects")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    try:
        doc = copy.deepcopy(target)
        copied = 0
        for op in ops:
            copied += _copied_size(doc, op)
            if copied > MAX_COPIED_BYTES:
                raise errors.RequestEntityTooLarge(
                    f"the JSON patch copies more than {MAX_COPIED_BYTES} bytes in total")
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        return doc
    except jsonpatch.InvalidJsonPatch as e:
        raise errors.BadRequest(f"invalid JSON patch: {e}") from None
    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPatchTestFailed,
            jsonpointer.JsonPointerException) as e:
        raise errors.Invalid(f"the JSON patch could not be applied: {e}") from None
    except (TypeError, KeyError, IndexError, ValueError) as e:
        raise errors.BadRequest(f"invalid JSON patch: {e}") from None


def _merge_key(field: str, path: tuple[str, ...]) -> str | None:
    if "subsets" in path and field in ("addresses", "notReadyAddresses", "ports"):
        return None  # Endpoints subsets' lists are atomic in Kubernetes
    if field == "addresses" and "status" not in path:
        return None  # NodeStatus.addresses merge by type; other address lists are atomic
    if field == "ports":
        # Container ports merge by containerPort; Service (and other) ports by port.
        in_container = any(p in ("containers", "initContainers", "ephemeralContainers") for p in path)
        return "containerPort" if in_container else "port"
    return _MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch of a whole object (see module doc)."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("a strategic merge patch must be a JSON object")
    result = _merge_map(target if isinstance(target, dict) else {}, patch, ())
    return {} if result is None else result


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:  # noqa: C901 - one flat sequence of cases, read best in one place
    """Merge `patch` into a copy of `original`; None means "delete this map"."""
    directive = patch.get(_PATCH)
    if directive is not None and directive not in ("delete", "replace", "merge"):
        raise errors.BadRequest(f"unknown patch directive {_PATCH}: {directive!r} at {_dotted(path)}")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = copy.deepcopy(original)
    retain = patch.get(_RETAIN)
    if retain is not None:
        if not isinstance(retain, list):
            raise errors.BadRequest(f"{_RETAIN} must be a list at {_dotted(path)}")
        result = {k: v for k, v in result.items() if k in retain}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in (_PATCH, _RETAIN):
            continue
        if key.startswith(_SET_ORDER):
            if not isinstance(value, list):
                raise errors.BadRequest(f"{key} must be a list at {_dotted(path)}")
            orders[key[len(_SET_ORDER):]] = value
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            current = result.get(field)
            if isinstance(current, list) and isinstance(value, list):
                result[field] = [v for v in current if v not in value]
            continue
        if key.startswith("$"):
            raise errors.BadRequest(f"unknown patch directive {key!r} at {_dotted(path)}")
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, (*path, key))
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, _merge_key(field, (*path, field)))
    return result


def _merge_list(field: str, original: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    orig = original if isinstance(original, list) else []
    if any(isinstance(i, dict) and i.get(_PATCH) == "replace" and len(i) == 1 for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and _PATCH in i)]
    key = _merge_key(field, path)
    if key is not None and all(isinstance(i, dict) for i in patch):
        return _merge_keyed(orig, patch, key, path)
    if field in _MERGED_PRIMITIVE_LISTS and all(not isinstance(i, (dict, list)) for i in patch):
        merged = list(orig)
        merged.extend(v for v in patch if v not in merged)
        return merged
    return copy.deepcopy(patch)


def _merge_keyed(orig: list[Any], patch: list[dict[str, Any]], key: str, path: tuple[str, ...]) -> list[Any]:
    result = [copy.deepcopy(i) for i in orig]
    for item in patch:
        if key not in item:
            raise errors.BadRequest(f"map in list {_dotted(path)} does not contain the merge key {key!r}")
        idx = next((n for n, o in enumerate(result) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get(_PATCH) == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            merged = _merge_map({}, item, path)
            if merged is not None:
                result.append(merged)
        else:
            merged = _merge_map(result[idx], item, path)
            if merged is None:
                del result[idx]
            else:
                result[idx] = merged
    return result


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Items named in `order` first, in that order; the others keep their place after them."""
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda p: (wanted.index(ident(p[1])) if ident(p[1]) in wanted else len(wanted), p[0]),
    )
    return [item for _, item in ranked]


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "<root>"


def normalize_content_type(value: str | None) -> str:
    """The bare media type, lower case, without parameters."""
    return (value or "").split(";", 1)[0].strip().lower()


def apply_patch(content_type: str, target: dict[str, Any], body: Any) -> Any:
    """Apply a patch document of the given media type (apply configs merge strategically)."""
    ct = normalize_content_type(content_type)
    if ct == MERGE_PATCH:
        if not isinstance(body, dict):
            raise errors.BadRequest("a merge patch must be a JSON object")
        return merge_patch(target, body)
    if ct == JSON_PATCH:
        return json_patch(target, body)
    if ct in (STRATEGIC_PATCH, APPLY_PATCH):
        return strategic_merge_patch(target, body)
    raise errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(PATCH_TYPES)}"
    )
