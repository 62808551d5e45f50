"""Validation admission: the entry points the API server calls on every write.

Contract:
- `parse_object(cls, data) -> (model | None, causes)`: parse a wire dict strictly (no "80" ->
  80 coercion, no "yes" booleans); pydantic errors become causes with Kubernetes field paths
  (`spec.containers[0].ports[1].containerPort`, `metadata.labels[app]`). Never raises.
- `validate(obj, old=None) -> causes`: every rule for `obj`'s kind (metadata, pod specs,
  workloads, services, config, leases, ...) and, with `old` (an update), the immutable fields.
  `old` may be given by position or keyword. Run it after `apply_defaults`.
- `invalid_error(cls, name, causes) -> errors.Invalid`: the 422 with Kubernetes' message,
  `Pod "x" is invalid: spec.containers[0].image: Required value` (several causes: in `[...]`,
  comma separated) and details {name, group, kind, causes}.
A cause is `{"reason": "FieldValueRequired"|"FieldValueInvalid"|"FieldValueNotSupported"|
"FieldValueDuplicate"|"FieldValueForbidden"|"FieldValueNotFound"|"FieldValueTooLong",
"field": ..., "message": ...}`.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union

import pydantic

from apiserver.admission.validation_apps import WORKLOAD_KINDS, validate_workload, validate_workload_update
from apiserver.admission.validation_autoscaling import validate_hpa
from apiserver.admission.validation_common import (
    Errs,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    fmt,
)
from apiserver.admission.validation_discovery import DISCOVERY_KINDS, validate_discovery
from apiserver.admission.validation_kinds import validate_kind, validate_kind_update
from apiserver.admission.validation_networking import NETWORKING_KINDS, validate_networking
from apiserver.admission.validation_pod import validate_pod_spec, validate_pod_update
from apiserver.admission.validation_quota import QUOTA_KINDS, validate_quota_kind
from apiserver.admission.validation_rbac import RBAC_KINDS, rbac_name_errors, validate_rbac
from apiserver.admission.validation_scheduling import validate_priority_class
from apiserver.admission.validation_settings import validate_podpreset
from apiserver.admission.validation_storage import STORAGE_KINDS, validate_storage, validate_storage_update
from machinery import errors
from machinery.meta import ObjectMeta, Resource
from machinery.models import HorizontalPodAutoscaler, Namespace, Pod, PodPreset, PriorityClass, Service
from machinery.selectors import label_key_errors

Cause = dict[str, str]


# --- parsing ---------------------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated wrappers down to the type that drives the next path step."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_path(cls: type[pydantic.BaseModel], loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a Kubernetes field path. Map keys become `[key]`, list
    indexes `[i]`, model fields `.name`; union branch tags ("int", "str") are dropped."""
    path = ""
    tp: Any = cls
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            if isinstance(part, str) and part in tp.model_fields:
                path += f".{part}" if path else part
                tp = tp.model_fields[part].annotation
                continue
            if tp.model_config.get("extra") == "allow" and isinstance(part, str):
                path += f".{part}" if path else part
                tp = Any
                continue
            break  # an unknown step (union tag): the path so far is the field
        if origin is list and isinstance(part, int):
            path += f"[{part}]"
            tp = typing.get_args(tp)[0]
        elif origin is dict and isinstance(part, str):
            path += f"[{part}]"
            tp = typing.get_args(tp)[1]
        elif tp is Any and isinstance(part, int | str):
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        else:
            break
    return path


_TYPE_WORDS = {
    "int_type": "integer", "int_parsing": "integer", "int_from_float": "integer",
    "string_type": "string", "bool_type": "boolean", "bool_parsing": "boolean",
    "dict_type": "object", "model_type": "object", "model_attributes_type": "object",
    "list_type": "array", "float_type": "number",
}


def parse_object(cls: type[Resource], data: Any) -> tuple[Resource | None, list[Cause]]:
    """Parse `data` into `cls`; on failure return the causes (see module docstring)."""
    if not isinstance(data, dict):
        return None, [{"reason": "FieldValueInvalid", "field": "",
                       "message": f"Invalid value: {fmt(type(data).__name__)}: must be an object"}]
    try:
        return cls.model_validate(data), []
    except pydantic.ValidationError as exc:
        return None, _causes_from(cls, exc)


def _causes_from(cls: type[Resource], exc: pydantic.ValidationError) -> list[Cause]:
    by_field: dict[str, list[dict[str, Any]]] = {}
    for err in exc.errors():
        by_field.setdefault(_field_path(cls, tuple(err["loc"])), []).append(dict(err))
    causes = Errs()
    for field, errs in by_field.items():
        if any(e["type"] == "missing" for e in errs):
            causes.required(field)
            continue
        wanted = sorted({_TYPE_WORDS[e["type"]] for e in errs if e["type"] in _TYPE_WORDS})
        value = errs[0].get("input")
        shown = value if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
        if wanted:
            causes.invalid(field, shown, "must be of type " + " or ".join(wanted))
        else:
            causes.invalid(field, shown, errs[0]["msg"])
    return list(causes)


# --- validation ------------------------------------------------------------------------------


def _name_errors(cls: type[Resource], name: str) -> list[str]:
    if issubclass(cls, Service):
        return dns1035_label_errors(name)
    if issubclass(cls, Namespace):
        return dns1123_label_errors(name)
    if issubclass(cls, RBAC_KINDS):
        return rbac_name_errors(name)
    return dns1123_subdomain_errors(name)


def _validate_meta(errs: Errs, cls: type[Resource], meta: ObjectMeta) -> None:  # noqa: C901 - a flat list of Kubernetes field checks
    if meta.name:
        for why in _name_errors(cls, meta.name):
            errs.invalid("metadata.name", meta.name, why)
    elif meta.generateName:
        # A prefix may end with "-": check it as if a character followed (Kubernetes does).
        prefix = meta.generateName[:-1] + "a" if meta.generateName.endswith("-") else meta.generateName
        for why in _name_errors(cls, prefix):
            errs.invalid("metadata.generateName", meta.generateName, why)
    else:
        errs.required("metadata.name", "name or generateName is required")
    if cls.NAMESPACED:
        if not meta.namespace:
            errs.required("metadata.namespace")
        else:
            for why in dns1123_label_errors(meta.namespace):
                errs.invalid("metadata.namespace", meta.namespace, why)
    elif meta.namespace:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    errs.labels("metadata.labels", meta.labels)
    errs.annotations("metadata.annotations", meta.annotations)
    for i, ref in enumerate(meta.ownerReferences or []):
        for name in ("apiVersion", "kind", "name", "uid"):
            if not getattr(ref, name):
                errs.required(f"metadata.ownerReferences[{i}].{name}")
    if len([r for r in meta.ownerReferences or [] if r.controller]) > 1:
        errs.invalid("metadata.ownerReferences", "", "Only one reference can have Controller set to true")
    for i, fin in enumerate(meta.finalizers or []):
        for why in label_key_errors(fin):
            errs.invalid(f"metadata.finalizers[{i}]", fin, why)
    if meta.generation is not None:
        errs.min_value("metadata.generation", meta.generation, 0)
    if meta.deletionGracePeriodSeconds is not None:
        errs.min_value("metadata.deletionGracePeriodSeconds", meta.deletionGracePeriodSeconds, 0)


def validate(obj: Resource, old: Resource | None = None) -> list[Cause]:
    """Every cause that makes `obj` invalid (an update when `old` is given); [] when valid."""
    errs = Errs()
    _validate_meta(errs, type(obj), obj.metadata)
    if isinstance(obj, Pod):
        if obj.spec is None:
            errs.required("spec")
        else:
            validate_pod_spec(errs, obj.spec, "spec")
            if isinstance(old, Pod) and old.spec is not None:
                validate_pod_update(errs, obj.spec, old.spec)
    elif isinstance(obj, WORKLOAD_KINDS):
        validate_workload(errs, obj)
        if old is not None:
            validate_workload_update(errs, obj, old)
    elif isinstance(obj, STORAGE_KINDS):
        validate_storage(errs, obj)
        if old is not None:
            validate_storage_update(errs, obj, old)
    elif isinstance(obj, QUOTA_KINDS):
        validate_quota_kind(errs, obj)
    elif isinstance(obj, (*DISCOVERY_KINDS, *NETWORKING_KINDS)):  # each checks its own kinds
        validate_discovery(errs, obj, old)
        validate_networking(errs, obj)
    elif isinstance(obj, PodPreset):
        validate_podpreset(errs, obj)
    elif isinstance(obj, PriorityClass):
        validate_priority_class(errs, obj, old if isinstance(old, PriorityClass) else None)
    elif isinstance(obj, RBAC_KINDS):
        validate_rbac(errs, obj, old)
    elif isinstance(obj, HorizontalPodAutoscaler):
        validate_hpa(errs, obj)
    else:
        validate_kind(errs, obj)
        if old is not None:
            validate_kind_update(errs, obj, old)
    return list(errs)


def invalid_error(cls: type[Resource], name: str, causes: list[Cause]) -> errors.Invalid:
    """The 422 `Invalid` error for `causes`, worded as Kubernetes words it."""
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return errors.Invalid(f'{cls.KIND} "{name}" is invalid: {body}', name=name, kind=cls.KIND,
                          group=cls.GROUP, causes=causes)


__all__ = ["invalid_error", "parse_object", "validate"]
