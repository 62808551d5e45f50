"""PATCH of an object (or its /status): merge, JSON, strategic merge patches and server-side apply.

Contract:
- The patch is applied to the stored object inside guaranteed_update (read-modify-write,
  re-applied on a concurrent write). A patch that sets metadata.resourceVersion makes it a
  precondition (409 Conflict when stale). The result goes through the same update pipeline as
  a PUT (`handlers.build_update`): defaults, validation, immutable metadata, status rules,
  generation.
- An unknown Content-Type is 415 UnsupportedMediaType.
- Server-side apply (`application/apply-patch+yaml`, `fieldManager` required): creates the
  object when it is missing (201), else merges the applied configuration into the live object
  strategically (lists by their merge keys, nothing else lost). managedFields keeps one
  simplified entry per manager (operation Apply, time); field ownership and conflicts are not
  tracked yet, so `force` is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver import handlers
from apiserver.handlers_common import (
    Ctx,
    Obj,
    ResourceClass,
    conflict,
    deepcopy,
    invalid,
    meta_of,
    object_body,
)
from apiserver.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    apply_patch,
    strategic_merge_patch,
)
from machinery import errors
from machinery.meta import now_rfc3339

PATCH_CONTENT_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH, APPLY_PATCH)


def unsupported(ct: str) -> errors.UnsupportedMediaType:
    return errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(PATCH_CONTENT_TYPES)} (got {ct or 'no Content-Type'!r})")


def _patched_object(cls: ResourceClass, current: Obj, content_type: str, body: Any) -> Obj:
    patched = apply_patch(content_type, current, body)
    if not isinstance(patched, dict):
        raise errors.BadRequest("the patched object is not a JSON object")
    name = (current.get("metadata") or {}).get("name") or ""
    if not isinstance(patched.get("metadata"), dict):
        raise invalid(cls, name, "metadata", "FieldValueInvalid", "must be an object")
    meta = meta_of(patched)
    rv = meta.get("resourceVersion")
    if rv and rv != current["metadata"].get("resourceVersion"):
        raise conflict(cls, name)
    return patched


async def patch(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str, content_type: str,
                body: Any, *, subresource: str | None = None, dry_run: bool = False,
                check_fields: Callable[[ResourceClass, Any], None] | None = None) -> Obj:
    """`check_fields(cls, patched)` sees the patched object before it is parsed (fieldValidation:
    the stored object has no unknown fields, so any there came from the patch)."""
    if content_type not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH):
        raise unsupported(content_type)
    status_only = subresource == "status"

    def compute(current: Obj) -> Obj:
        patched = _patched_object(cls, current, content_type, body)
        if check_fields is not None:
            check_fields(cls, patched)
        handlers.check_identity(cls, namespace, name, patched)
        patched["kind"], patched["apiVersion"] = cls.KIND, cls.api_version()
        return handlers.build_update(cls, current, patched, status_only=status_only)

    return await handlers.write_update(ctx, cls, namespace, name, compute, dry_run=dry_run)


def _record_manager(obj: Obj, manager: str, api_version: str, subresource: str | None) -> None:
    meta = meta_of(obj)
    entries = [e for e in meta.get("managedFields") or []
               if not (e.get("manager") == manager and e.get("operation") == "Apply")]
    entry: dict[str, Any] = {"manager": manager, "operation": "Apply", "apiVersion": api_version,
                             "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {}}
    if subresource:
        entry["subresource"] = subresource
    entries.append(entry)
    meta["managedFields"] = entries


async def apply(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str, body: Any, *,
                field_manager: str | None, subresource: str | None = None,
                dry_run: bool = False) -> tuple[Obj, int]:
    """Server-side apply; returns (object, HTTP status)."""
    if not field_manager:
        raise errors.Invalid(
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch",
            causes=[{"reason": "FieldValueRequired", "field": "fieldManager",
                     "message": "Required value: is required for apply patch"}])
    config = object_body(cls, body)
    handlers.check_identity(cls, namespace, name, config)
    try:
        await handlers.get(ctx, cls, namespace, name)
    except errors.NotFound:
        if subresource:
            raise
        new = deepcopy(config)
        meta_of(new)["name"] = name
        _record_manager(new, field_manager, cls.api_version(), None)
        try:
            return await handlers.create(ctx, cls, namespace, new, dry_run=dry_run), 201
        except errors.AlreadyExists:
            pass  # created meanwhile: fall through to the merge
    status_only = subresource == "status"
    applied = deepcopy(config)
    rv = meta_of(applied).get("resourceVersion") or None

    def compute(current: Obj) -> Obj:
        merged = strategic_merge_patch(current, applied)
        merged["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        # Re-applying an unchanged config is a no-op (no new resourceVersion): record the manager
        # (whose entry carries a time) only when the apply changed something or it is new.
        has_entry = any(e.get("manager") == field_manager and e.get("operation") == "Apply"
                        for e in meta_of(current).get("managedFields") or [])
        if merged != current or not has_entry:
            _record_manager(merged, field_manager, cls.api_version(), subresource)
        return handlers.build_update(cls, current, merged, status_only=status_only)

    obj = await handlers.write_update(ctx, cls, namespace, name, compute, dry_run=dry_run,
                                      precondition_rv=rv)
    return obj, 200
