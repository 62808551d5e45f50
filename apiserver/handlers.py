"""Generic REST verbs for any kind: create, get, list, update (PUT), status/finalize writes.

Contract (Kubernetes semantics, see docs/ARCHITECTURE.md "The API"):
- create: namespace from the path (a different one in the body is 400), generateName (+5
  random lowercase alphanumerics), uid, creationTimestamp, generation=1 for kinds with a spec;
  a client resourceVersion is ignored; a Job gets its generated selector and labels
  (admission/validation_batch.py); defaults, validation (422), namespace lifecycle
  admission, ClusterIP/NodePort allocation for Services; dry-run answers without writing.
- update: `build_update(cls, current, body, status_only)` computes the stored object of a PUT
  or a patch: immutable metadata copied from the stored object, status kept on main-resource
  writes of kinds with a status subresource (and only status taken on /status writes),
  generation bumped when the spec changes. `write_update` runs it through guaranteed_update:
  a body resourceVersion is a precondition (409 Conflict when stale), none means
  unconditional. After the write, an object whose deletion is due (deletionTimestamp set and
  no finalizers left; pods also need a zero grace period; namespaces also an empty
  spec.finalizers) is removed.
"""

from __future__ import annotations

import logging
import random
import string
import uuid
from collections.abc import Callable
from typing import Any

from apiserver.admission import validation
from apiserver.admission.namespace import check_namespace
from apiserver.admission.podpreset import CONFLICT_REASON, admit_podpreset
from apiserver.admission.policy import admit_limits
from apiserver.admission.priority import admit_priority, admit_priority_class
from apiserver.admission.resourcequota import admit_quota
from apiserver.admission.serviceaccount import admit_service_account
from apiserver.admission.tolerations import add_default_tolerations
from apiserver.admission.validation_batch import generate_job_selector
from apiserver.allocator import Reservation
from apiserver.auth.authz_runtime import admit_by_requester
from apiserver.handlers_common import (
    Ctx,
    Obj,
    ResourceClass,
    collection_key,
    conflict,
    deepcopy,
    has_spec,
    has_status_subresource,
    invalid,
    meta_of,
    prepare,
    rename_error,
    storage_key,
)
from apiserver.selection import selection
from machinery import errors, registry
from machinery.clock import REAL_CLOCK
from machinery.events import WARNING, ObjectRef, event_body
from machinery.meta import now_rfc3339
from machinery.selectors import label_key_errors

log = logging.getLogger(__name__)

# Kinds whose status belongs to a controller: a create starts with an empty status.
_CONTROLLER_KINDS = {"Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet", "Job", "CronJob"}
_NAME_CHARS = string.ascii_lowercase + string.digits


def _random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(n))


# --- create -----------------------------------------------------------------------------------


def _prepare_create_meta(cls: ResourceClass, namespace: str | None, body: Obj) -> str:
    meta = meta_of(body)
    if cls.NAMESPACED:
        if meta.get("namespace") and namespace and meta["namespace"] != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace or meta.get("namespace") or "default"
    else:
        meta.pop("namespace", None)
    name = meta.get("name")
    if not name and meta.get("generateName"):
        name = meta["name"] = f"{meta['generateName']}{_random_suffix()}"
    if not name:
        raise invalid(cls, "", "metadata.name", "FieldValueRequired",
                      "Required value: name or generateName is required")
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(field, None)
    if has_spec(cls):
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    return str(name)


def _prepare_create_kind(cls: ResourceClass, body: Obj) -> None:
    if cls.KIND == "Pod":
        body["status"] = {"phase": "Pending"}
    elif cls.KIND == "Namespace":
        spec = body.setdefault("spec", {}) or {}
        body["spec"] = spec
        if spec.get("finalizers") is None:
            spec["finalizers"] = ["kubernetes"]
        body["status"] = {"phase": "Active"}
    elif cls.KIND in _CONTROLLER_KINDS:
        body.pop("status", None)
    if cls.KIND == "Job":
        generate_job_selector(body)


async def _admit_create(ctx: Ctx, cls: ResourceClass, obj: Obj, key: str, *,
                        dry_run: bool, admit_namespace: bool) -> str | None:
    """The admission chain of a create, after validation; each step may refuse (403/404/409).
    Returns a PodPreset conflict to record as an Event on the created pod, if any."""
    if cls.KIND == "Pod":  # DefaultTolerationSeconds admission (after validation: the additions are valid)
        add_default_tolerations(obj, not_ready_s=ctx.config.default_not_ready_toleration_seconds,
                                unreachable_s=ctx.config.default_unreachable_toleration_seconds)
    if admit_namespace and cls.NAMESPACED:
        await check_namespace(ctx.storage, obj["metadata"]["namespace"])
    if cls.KIND == "Pod" and "ServiceAccount" not in ctx.config.disable_admission_plugins:
        await admit_service_account(ctx.storage, obj)  # serviceAccountName, the token volume (403)
    conflict_message: str | None = None
    if cls.KIND == "Pod":  # PodPreset: merge the matching presets (a conflict: untouched + Event)
        outcome = await admit_podpreset(ctx.storage, obj)
        conflict_message = outcome.conflict
        if outcome.applied:  # merged: validate the result (422), as Kubernetes after mutating admission
            merged = prepare(cls, obj)
            obj.clear()
            obj.update(merged)
    if cls.KIND == "Pod":  # Priority: priorityClassName -> spec.priority (403 for an unknown class)
        await admit_priority(ctx.storage, obj)
    if cls.KIND == "PriorityClass":  # only one globalDefault (403)
        await admit_priority_class(ctx.storage, obj)
    if not cls.NAMESPACED:
        return conflict_message
    await admit_limits(ctx.storage, cls.KIND, cls.PLURAL, obj)  # LimitRanger: defaults, min/max (403)
    if dry_run:
        return conflict_message

    async def exists() -> bool:  # a taken name is a 409 before any quota is charged
        try:
            await ctx.storage.get(key)
        except errors.NotFound:
            return False
        return True

    # ResourceQuota: check and charge status.used in one transaction (403)
    await admit_quota(ctx.storage, cls.PLURAL, cls.GROUP, obj, exists=exists)
    return conflict_message


async def _record_preset_conflict(ctx: Ctx, pod: Obj, message: str) -> None:
    """A Warning Event on the created pod; never fails the create (it is stored already)."""
    meta = pod["metadata"]
    ref = ObjectRef(kind="Pod", api_version="v1", namespace=meta["namespace"], name=meta["name"],
                    uid=str(meta.get("uid") or ""), resource_version=str(meta.get("resourceVersion") or ""))
    body = event_body(ref, WARNING, CONFLICT_REASON, message, action="", component="podpreset-admission",
                      instance="kube-apiserver", clock=REAL_CLOCK)
    try:
        await create(ctx, registry.by_kind("Event"), meta["namespace"], body)
    except errors.ApiError as e:
        log.warning("cannot record the PodPreset conflict of pod %s/%s: %s", meta["namespace"], meta["name"], e)


async def create(ctx: Ctx, cls: ResourceClass, namespace: str | None, body: Obj, *,
                 dry_run: bool = False, admit_namespace: bool = True) -> Obj:
    name = _prepare_create_meta(cls, namespace, body)
    _prepare_create_kind(cls, body)
    obj = prepare(cls, body)
    key = storage_key(cls, name, obj["metadata"].get("namespace"))
    admit_by_requester(cls.KIND, name, obj)  # NodeRestriction: before anything is charged
    if cls.KIND == "Service" and not ctx.allocator_ready:  # before admission charges any quota
        raise errors.ServiceUnavailable("the service IP allocator is starting; retry shortly",
                                        retry_after_s=1)
    conflict_message = await _admit_create(ctx, cls, obj, key, dry_run=dry_run, admit_namespace=admit_namespace)
    reservation: Reservation | None = None
    if cls.KIND == "Service":
        reservation = ctx.allocator.allocate(obj)
    if dry_run:
        if reservation is not None:
            reservation.rollback()
        return obj
    try:
        created = await ctx.storage.create(key, obj)
    except errors.ApiError as e:
        if reservation is not None:
            reservation.rollback()
        raise rename_error(cls, name, e) from None
    except BaseException:
        if reservation is not None:
            reservation.rollback()
        raise
    if conflict_message is not None:
        await _record_preset_conflict(ctx, created, conflict_message)
    return created


# --- read -------------------------------------------------------------------------------------


async def get(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str) -> Obj:
    try:
        return await ctx.storage.get(storage_key(cls, name, namespace))
    except errors.NotFound as e:
        raise rename_error(cls, name, e) from None


def list_kind(cls: ResourceClass) -> str:
    return f"{cls.KIND}List"


async def list_objects(ctx: Ctx, cls: ResourceClass, namespace: str | None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       limit: int | None = None, continue_token: str | None = None,
                       exact_rv: int | None = None, cached: bool = False) -> Obj:
    """A List of the collection; `exact_rv` reads it at that revision (resourceVersionMatch=Exact).
    `cached` (resourceVersion="0", as Kubernetes) serves it from the watch cache, unpaginated."""
    predicate = selection(cls, label_selector, field_selector).predicate
    if limit is not None and limit <= 0:
        limit = None
    list_cached = getattr(ctx.storage, "list_cached", None)
    if cached and exact_rv is None and list_cached is not None:
        result = await list_cached(collection_key(cls, namespace), predicate=predicate)
    else:
        result = await ctx.storage.list(collection_key(cls, namespace), limit=limit,
                                        continue_token=continue_token or None, predicate=predicate,
                                        resource_version=exact_rv)
    meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining_item_count is not None:
        meta["remainingItemCount"] = result.remaining_item_count
    return {"kind": list_kind(cls), "apiVersion": cls.api_version(), "metadata": meta,
            "items": result.items}


# --- update -----------------------------------------------------------------------------------

_IMMUTABLE_META = ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "generation")


def check_identity(cls: ResourceClass, namespace: str | None, name: str, body: Obj) -> None:
    meta = meta_of(body)
    if meta.get("name") and meta["name"] != name:
        raise errors.BadRequest(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    if cls.NAMESPACED and meta.get("namespace") and namespace and meta["namespace"] != namespace:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request")


def _strings(values: Any) -> set[str]:
    """The strings of a list (validation reports anything else in it)."""
    return {v for v in values if isinstance(v, str)} if isinstance(values, list) else set()


def build_update(cls: ResourceClass, current: Obj, body: Obj, *, status_only: bool = False) -> Obj:
    """The object to store for a write of `body` over `current` (see module doc)."""
    cur_meta = current.get("metadata") or {}
    name = cur_meta.get("name") or ""
    if status_only:
        new = deepcopy(current)
        if body.get("status") is None:
            new.pop("status", None)
        else:
            new["status"] = deepcopy(body["status"])
        return prepare(cls, new, old=current)
    new = deepcopy(body)
    meta = meta_of(new)
    if meta.get("uid") and meta["uid"] != cur_meta.get("uid"):
        raise conflict(cls, name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                                  f"UID in object meta: {cur_meta.get('uid')}")
    for field in _IMMUTABLE_META:
        if field in cur_meta:
            meta[field] = cur_meta[field]
        else:
            meta.pop(field, None)
    meta["resourceVersion"] = cur_meta.get("resourceVersion")
    if cur_meta.get("deletionTimestamp"):
        added = _strings(meta.get("finalizers")) - _strings(cur_meta.get("finalizers"))
        if added:
            raise invalid(cls, name, "metadata.finalizers", "FieldValueForbidden",
                          f"Forbidden: no new finalizers can be added if the object is being deleted, "
                          f"found new finalizers {sorted(added)}")
    if has_status_subresource(cls) or cls.KIND == "Namespace":
        if current.get("status") is None:
            new.pop("status", None)
        else:
            new["status"] = deepcopy(current["status"])
    if cls.KIND == "Namespace":
        if not isinstance(new.get("spec") or {}, dict):
            raise invalid(cls, name, "spec", "FieldValueInvalid", "must be an object")
        # Only PUT namespaces/NAME/finalize changes spec.finalizers.
        new["spec"] = {**(new.get("spec") or {}),
                       "finalizers": deepcopy((current.get("spec") or {}).get("finalizers") or [])}
    out = prepare(cls, new, old=current)
    if has_spec(cls):
        generation = int(cur_meta.get("generation") or 1)
        out["metadata"]["generation"] = generation + 1 if out.get("spec") != current.get("spec") else generation
    return out


def deletion_due(cls: ResourceClass, obj: Obj) -> bool:
    meta = obj.get("metadata") or {}
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    if cls.KIND == "Pod":
        return meta.get("deletionGracePeriodSeconds") == 0
    if cls.KIND == "Namespace":
        return not (obj.get("spec") or {}).get("finalizers")
    return True


async def delete_if_due(ctx: Ctx, cls: ResourceClass, key: str, obj: Obj) -> bool:
    """Remove an object whose deletion is due; True if it is gone."""
    if not deletion_due(cls, obj):
        return False
    try:
        await ctx.storage.delete(key, expected_rv=int(obj["metadata"]["resourceVersion"]))
    except errors.NotFound:
        return True
    except errors.Conflict:
        return False  # someone wrote in between: their write re-evaluates this
    if cls.KIND == "Service":
        ctx.allocator.release(obj)
    return True


async def write_update(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str,
                       compute: Callable[[Obj], Obj], *, dry_run: bool = False,
                       precondition_rv: str | None = None) -> Obj:
    """Read-modify-write of one object with `compute(current) -> new` (see module doc)."""
    key = storage_key(cls, name, namespace)
    reservations: list[Reservation] = []

    def rollback() -> None:
        while reservations:
            reservations.pop().rollback()

    async def fn(current: Obj) -> Obj | None:
        rollback()  # a retry after a conflict recomputes from scratch
        if precondition_rv and precondition_rv != current["metadata"].get("resourceVersion"):
            raise conflict(cls, name)
        new = compute(current)
        if cls.KIND == "PriorityClass":  # only one globalDefault (403), on updates and patches too
            await admit_priority_class(ctx.storage, new)
        if cls.KIND == "Service":
            reservations.append(ctx.allocator.allocate(new, current))
        return new

    try:
        if dry_run:
            current = await ctx.storage.get(key)
            out = await fn(current)
            rollback()
            return out if out is not None else current
        result = await ctx.storage.guaranteed_update(key, fn)
    except errors.ApiError as e:
        rollback()
        raise rename_error(cls, name, e) from None
    except BaseException:
        rollback()
        raise
    await delete_if_due(ctx, cls, key, result)
    return result


async def update(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str, body: Obj, *,
                 subresource: str | None = None, dry_run: bool = False) -> Obj:
    check_identity(cls, namespace, name, body)
    rv = meta_of(body).get("resourceVersion") or None
    status_only = subresource == "status"

    def compute(current: Obj) -> Obj:
        return build_update(cls, current, body, status_only=status_only)

    return await write_update(ctx, cls, namespace, name, compute, dry_run=dry_run, precondition_rv=rv)


STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def _finalizers_of_body(cls: ResourceClass, name: str, body: Obj) -> list[str]:
    """spec.finalizers of a finalize body: required, a list of valid finalizer names."""
    _, causes = validation.parse_object(cls, body)
    if causes:
        raise validation.invalid_error(cls, name, causes)
    spec = body.get("spec")
    if not isinstance(spec, dict) or "finalizers" not in spec:
        raise invalid(cls, name, "spec.finalizers", "FieldValueRequired",
                      "Required value: the finalize subresource replaces spec.finalizers with this list")
    finalizers = spec["finalizers"] or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        raise invalid(cls, name, "spec.finalizers", "FieldValueInvalid", "must be a list of strings")
    for i, f in enumerate(finalizers):
        errs = label_key_errors(f)
        if not errs and "/" not in f and f not in STANDARD_FINALIZERS:
            errs = ["name is neither a standard finalizer name nor is it fully qualified"]
        if errs:
            raise invalid(cls, name, f"spec.finalizers[{i}]", "FieldValueInvalid",
                          f'Invalid value: "{f}": ' + "; ".join(errs))
    return list(dict.fromkeys(finalizers))


async def namespace_content(ctx: Ctx, namespace: str) -> list[str]:
    """What is left in a namespace: `pods (3)`-like entries, one per kind with objects."""
    left: list[str] = []
    for cls in registry.ALL_KINDS:
        if cls.NAMESPACED:
            listed = await ctx.storage.list(collection_key(cls, namespace), limit=1)
            if listed.items:
                more = listed.remaining_item_count or 0
                left.append(f"{cls.PLURAL} ({1 + more})")
    return left


async def finalize_namespace(ctx: Ctx, cls: ResourceClass, name: str, body: Obj, *,
                             dry_run: bool = False) -> Obj:
    """PUT namespaces/NAME/finalize: only spec.finalizers changes, to the body's list.

    The body must be a valid Namespace with spec.finalizers set (a body without it would
    silently clear them). Removing the `kubernetes` finalizer, which guards the namespace's
    content, is refused (409) unless the namespace is being deleted and holds nothing any
    more: the namespace controller's own last step. Otherwise the namespace would vanish and
    leave its objects behind in etcd, out of reach of every namespaced list.
    """
    check_identity(cls, None, name, body)
    rv = meta_of(body).get("resourceVersion") or None
    finalizers = _finalizers_of_body(cls, name, body)
    current = await get(ctx, cls, None, name)
    if "kubernetes" in ((current.get("spec") or {}).get("finalizers") or []) and "kubernetes" not in finalizers:
        if not (current.get("metadata") or {}).get("deletionTimestamp"):
            raise conflict(cls, name, "the kubernetes finalizer can only be removed from a namespace "
                                      "that is being deleted")
        left = await namespace_content(ctx, name)
        if left:
            raise conflict(cls, name, "the namespace still has content, the kubernetes finalizer "
                                      f"stays until it is gone: {', '.join(left)}")

    def compute(current: Obj) -> Obj:
        new = deepcopy(current)
        new.setdefault("spec", {})["finalizers"] = list(finalizers)
        return prepare(cls, new, old=current)

    return await write_update(ctx, cls, None, name, compute, dry_run=dry_run, precondition_rv=rv)
