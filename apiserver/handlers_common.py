"""What every REST handler shares: the server context, names and errors, request bodies,
query parameters, and the parse -> default -> validate pipeline of a write.

Contract:
- `Ctx` bundles the storage, the Service allocator and the settings.
- `resource_name(cls)` is how Kubernetes names a resource in messages: `pods`,
  `deployments.apps`. `not_found`, `conflict`, `rename_error` build/rewrite errors with it.
- `read_body(request, max_bytes)` enforces the body limit (413) while reading;
  `decode_body(raw, content_type)` parses JSON (also when no Content-Type is sent), YAML or
  Kubernetes protobuf (apiserver.protobuf: the same dict as the JSON form); malformed input is
  400 BadRequest. Any unknown media type is 415.
- `prepare(cls, data, old=None)` turns a wire dict into the stored dict: parse with the model
  (every bad field named by path, 422), `apply_defaults`, `validate` (with `old` on updates).
  Nothing is written by it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from apiserver import bodies, protobuf
from apiserver.admission import validation
from apiserver.allocator import ServiceAllocator
from apiserver.auth.authz_runtime import Authorization
from apiserver.config import ApiServerConfig
from apiserver.storage import Storage, keys
from machinery import errors
from machinery.defaults import apply_defaults
from machinery.meta import Resource

Obj = dict[str, Any]
ResourceClass = type[Resource]


@dataclass
class Ctx:
    storage: Storage
    allocator: ServiceAllocator
    config: ApiServerConfig = field(default_factory=ApiServerConfig)
    ready: bool = False
    """Set once start-up (allocator recovery, bootstrap, watch caches) finished."""
    allocator_ready: bool = False
    """Set once the allocator was rebuilt from the stored Services (creates wait for it)."""
    authorization: Authorization | None = None
    """The authorizers and their caches (apiserver/auth/authz_runtime.py); None in unit tests."""
    token_signer: Any = None
    """apiserver.auth.satokens.TokenSigner of serviceaccounts/token, when a signing key is set."""


# --- names and errors ----------------------------------------------------------------------


def resource_name(cls: ResourceClass) -> str:
    return f"{cls.PLURAL}.{cls.GROUP}" if cls.GROUP else cls.PLURAL


def storage_key(cls: ResourceClass, name: str, namespace: str | None) -> str:
    try:
        return keys.object_key(cls.PLURAL, name, namespace if cls.NAMESPACED else None)
    except ValueError:
        raise not_found(cls, name) from None


def collection_key(cls: ResourceClass, namespace: str | None) -> str:
    try:
        return keys.collection_prefix(cls.PLURAL, namespace if cls.NAMESPACED else None)
    except ValueError:
        raise errors.BadRequest(f"invalid namespace {namespace!r}") from None


def not_found(cls: ResourceClass, name: str) -> errors.NotFound:
    return errors.NotFound(f'{resource_name(cls)} "{name}" not found', name=name,
                           kind=cls.PLURAL, group=cls.GROUP or None)


def conflict(cls: ResourceClass, name: str, why: str | None = None) -> errors.Conflict:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return errors.Conflict(f'Operation cannot be fulfilled on {resource_name(cls)} "{name}": {why}',
                           name=name, kind=cls.PLURAL, group=cls.GROUP or None)


def rename_error(cls: ResourceClass, name: str, err: errors.ApiError) -> errors.ApiError:
    """Storage errors name the plural only; give them the group-qualified resource. Errors
    built here (group set) and core-group errors (same text) pass unchanged."""
    if not cls.GROUP or err.group:
        return err
    if isinstance(err, errors.NotFound):
        return not_found(cls, name)
    if isinstance(err, errors.Conflict):
        return conflict(cls, name)
    if isinstance(err, errors.AlreadyExists):
        return errors.AlreadyExists(f'{resource_name(cls)} "{name}" already exists', name=name,
                                    kind=cls.PLURAL, group=cls.GROUP or None)
    return err


def invalid(cls: ResourceClass, name: str, field_path: str, reason: str, message: str) -> errors.Invalid:
    return validation.invalid_error(cls, name, [{"reason": reason, "field": field_path, "message": message}])


# --- bodies ----------------------------------------------------------------------------------

JSON_TYPES = ("", "application/json", "*/*", "text/plain")
PROTOBUF_TYPES = (protobuf.CONTENT_TYPE,)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml")
PATCH_JSON_TYPES = ("application/merge-patch+json", "application/json-patch+json",
                    "application/strategic-merge-patch+json")


async def read_body(request: Request, max_bytes: int) -> bytes:
    too_large = errors.RequestEntityTooLarge(
        f"the request body is too large: the limit is {max_bytes} bytes")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str, *, allowed: tuple[str, ...] | None = None,
                max_bytes: int = 3 * 1024 * 1024) -> Any:
    ct = content_type
    if allowed is not None and ct not in allowed:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(t for t in allowed if t and t != '*/*')} (got {ct!r})")
    if not raw.strip():
        raise errors.BadRequest("the request body is empty")
    if ct == protobuf.CONTENT_TYPE:
        return _decode_protobuf(raw)
    if ct in YAML_TYPES:
        return bodies.loads_yaml(raw, max_bytes)
    if ct in JSON_TYPES or ct in PATCH_JSON_TYPES or ct.endswith("+json"):
        return bodies.loads_json(raw)
    raise errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml (got {content_type!r})")


def _decode_protobuf(raw: bytes) -> Any:
    """kubectl's imperative verbs send Kubernetes protobuf: decoded into the JSON form."""
    try:
        obj = protobuf.decode_object(raw)
    except protobuf.ProtobufError as e:
        raise errors.BadRequest(f"the body of the request is not valid Kubernetes protobuf: {e}"[:500]) from None
    bodies.check_depth(obj)
    return obj


def object_body(cls: ResourceClass, body: Any) -> Obj:
    """Check a decoded body is an object of the route's kind (400 otherwise)."""
    if not isinstance(body, dict):
        raise errors.BadRequest(f"the body must be a {cls.KIND} object, got {type(body).__name__}")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind and kind != cls.KIND:
        raise errors.BadRequest(f"the kind of the object ({kind}) does not match the kind of the "
                                f"resource ({cls.KIND})")
    if api_version and api_version != cls.api_version():
        raise errors.BadRequest(f"the API version in the data ({api_version}) does not match the "
                                f"expected API version ({cls.api_version()})")
    meta = body.get("metadata")
    if meta is None:
        body["metadata"] = {}
    elif not isinstance(meta, dict):
        raise invalid(cls, "", "metadata", "FieldValueInvalid", "must be an object")
    body["kind"], body["apiVersion"] = cls.KIND, cls.api_version()
    return body


# --- query parameters -------------------------------------------------------------------------


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def dry_run(request: Request) -> bool:
    values = request.query_params.getlist("dryRun")
    for v in values:
        if v not in ("All", ""):
            raise errors.BadRequest(f'unsupported dryRun value "{v}" (only "All" is supported)')
    return "All" in values


INT64_MAX = 2**63 - 1


def parse_int64(value: str, name: str) -> int:
    """A decimal int64 as Go's strconv.ParseInt(value, 10, 64) reads it; 400 otherwise (a
    Python int has no bound, etcd's and Kubernetes' fields do)."""
    text = value if value.isascii() else ""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or len(digits) > 19 or not -INT64_MAX - 1 <= int(text) <= INT64_MAX:
        raise errors.BadRequest(f"invalid value for {name}: {value[:64]!r}: must be a 64-bit integer")
    return int(text)


def int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    return parse_int64(value, name)


def resource_version_param(request: Request) -> int | None:
    """The resourceVersion query parameter as an etcd revision (None when unset); a value
    that is not a non-negative int64 is 400, as Kubernetes' ParseResourceVersion."""
    value = request.query_params.get("resourceVersion")
    if value in (None, ""):
        return None
    rv = parse_int64(value, "resourceVersion")
    if rv < 0:
        raise errors.BadRequest(f"invalid value for resourceVersion: {value[:64]!r}: must not be negative")
    return rv


# --- the write pipeline ---------------------------------------------------------------------


def has_spec(cls: ResourceClass) -> bool:
    return "spec" in cls.model_fields


def has_status_subresource(cls: ResourceClass) -> bool:
    return "status" in cls.SUBRESOURCES


def prepare(cls: ResourceClass, data: Obj, old: Obj | None = None) -> Obj:
    bodies.check_depth(data)  # a patch can deepen an object: what is stored stays bounded
    name = (data.get("metadata") or {}).get("name") or ""
    model, causes = validation.parse_object(cls, data)
    if causes or model is None:
        raise validation.invalid_error(cls, name, causes)
    apply_defaults(model)
    old_model = None
    if old is not None:
        old_model, _ = validation.parse_object(cls, old)
    causes = validation.validate(model, old_model) if old_model is not None else validation.validate(model)
    if causes:
        raise validation.invalid_error(cls, name, causes)
    return model.to_dict()


def deepcopy(obj: Any) -> Any:
    return copy.deepcopy(obj)


def meta_of(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta
