"""DELETE of one object and of a collection.

Contract:
- Options come from a DeleteOptions body and/or query parameters (gracePeriodSeconds,
  propagationPolicy, orphanDependents, preconditions.uid/resourceVersion, dryRun); the
  query wins. A failed precondition is 409 Conflict.
- propagationPolicy Orphan adds the `orphan` finalizer, Foreground `foregroundDeletion`
  (the garbage collector handles both); Background (the default) deletes at once.
- An object with finalizers gets deletionTimestamp (and deletionGracePeriodSeconds 0) and stays
  until an update empties its finalizers.
- Pods: a graceful delete (grace from the options, else spec.terminationGracePeriodSeconds,
  else 30) of a pod bound to a node sets deletionTimestamp = now + grace and
  deletionGracePeriodSeconds; the kubelet ends it with gracePeriodSeconds=0. An unbound pod,
  or grace 0, goes at once. A second delete may only shorten the grace period.
- Namespaces: DELETE sets deletionTimestamp and status.phase Terminating; the namespace goes
  when spec.finalizers and metadata.finalizers are both empty. default, kube-system,
  kube-public and kube-node-lease cannot be deleted (403).
- The answer is the object (200): its last state when it was removed at once, else its state
  with deletionTimestamp set. deletecollection answers the list of what it deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apiserver.admission.namespace import IMMORTAL_NAMESPACES, note_deleted
from apiserver.handlers import list_kind
from apiserver.handlers_common import (
    Ctx,
    Obj,
    ResourceClass,
    collection_key,
    conflict,
    parse_int64,
    rename_error,
    storage_key,
)
from apiserver.selection import selection
from machinery import errors
from machinery.clock import format_time, now_rfc3339
from machinery.models import SYSTEM_CLASSES

_POLICIES = ("Orphan", "Foreground", "Background")


@dataclass
class DeleteOptions:
    grace_period_s: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: Any, query: dict[str, str], dry_run: bool) -> DeleteOptions:
        """From a DeleteOptions body (each field type-checked: 400 naming it) and the query."""
        if body is not None and not isinstance(body, dict):
            raise errors.BadRequest("the body of a DELETE must be a DeleteOptions object")
        body = body or {}
        body_dry_run = _typed(body, "dryRun", list, "a list of strings") or []
        if not all(isinstance(v, str) for v in body_dry_run):
            raise _bad_field("dryRun", "a list of strings")
        opts = cls(dry_run=dry_run or "All" in body_dry_run)
        grace: Any = query.get("gracePeriodSeconds")
        if grace in (None, ""):
            grace = _typed(body, "gracePeriodSeconds", int, "an integer")
        if grace not in (None, ""):
            opts.grace_period_s = max(parse_int64(str(grace), "gracePeriodSeconds"), 0)
        policy = query.get("propagationPolicy") or _typed(body, "propagationPolicy", str, "a string")
        orphan: Any = query.get("orphanDependents")
        if orphan is None:
            orphan = _typed(body, "orphanDependents", bool, "a boolean")
        if policy is None and orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        if policy is not None and policy not in _POLICIES:
            raise errors.Invalid(
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                f'"{policy}": supported values: "Foreground", "Background", "Orphan", nil',
                causes=[{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                         "message": f'Unsupported value: "{policy}"'}])
        opts.propagation_policy = policy
        pre = _typed(body, "preconditions", dict, "an object") or {}
        opts.precondition_uid = _typed(pre, "uid", str, "a string", "preconditions.") or None
        opts.precondition_rv = _typed(pre, "resourceVersion", str, "a string", "preconditions.") or None
        return opts


def _bad_field(field: str, what: str) -> errors.BadRequest:
    return errors.BadRequest(f"invalid DeleteOptions: {field} must be {what}")


def _typed(data: dict[str, Any], key: str, kind: type, what: str, prefix: str = "") -> Any:
    """data[key] when it is None or of type `kind` (bool is not an int), else 400."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad_field(prefix + key, what)
    return value


def _check_preconditions(cls: ResourceClass, obj: Obj, opts: DeleteOptions) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if opts.precondition_uid and opts.precondition_uid != meta.get("uid"):
        raise conflict(cls, name, f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                                  f"UID in object meta: {meta.get('uid')}")
    if opts.precondition_rv and opts.precondition_rv != meta.get("resourceVersion"):
        raise conflict(cls, name, f"Precondition failed: ResourceVersion in precondition: "
                                  f"{opts.precondition_rv}, ResourceVersion in object meta: "
                                  f"{meta.get('resourceVersion')}")


def _pod_grace(obj: Obj, opts: DeleteOptions) -> int:
    spec = obj.get("spec") or {}
    if not spec.get("nodeName"):
        return 0  # never scheduled: no kubelet has anything to stop
    if opts.grace_period_s is not None:
        return opts.grace_period_s
    grace = spec.get("terminationGracePeriodSeconds")
    return int(grace) if grace is not None else 30


def _mark(cls: ResourceClass, current: Obj, opts: DeleteOptions) -> Obj | None:
    """The object with its deletion recorded, or None when it can be removed at once."""
    new = {**current, "metadata": dict(current.get("metadata") or {})}
    meta = new["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if opts.propagation_policy == "Orphan" and "orphan" not in finalizers:
        finalizers.append("orphan")
    if opts.propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    if opts.propagation_policy in ("Orphan", "Foreground") and meta.get("deletionTimestamp"):
        finalizers = list(meta.get("finalizers") or [])  # a second delete adds none
    grace = _pod_grace(current, opts) if cls.KIND == "Pod" else 0
    if cls.KIND == "Namespace":
        spec_finalizers = (current.get("spec") or {}).get("finalizers") or []
        if not finalizers and not spec_finalizers:
            return None
        new["status"] = {**(current.get("status") or {}), "phase": "Terminating"}
    elif not finalizers and grace == 0:
        return None
    if finalizers:
        meta["finalizers"] = finalizers
    old_grace = meta.get("deletionGracePeriodSeconds")
    if meta.get("deletionTimestamp") and old_grace is not None and old_grace <= grace:
        return new if new != current else current  # only a shorter grace period changes it
    deadline = datetime.now(UTC) + timedelta(seconds=grace)
    meta["deletionTimestamp"] = format_time(deadline) if grace else now_rfc3339()
    meta["deletionGracePeriodSeconds"] = grace
    return new


async def delete(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str,
                 opts: DeleteOptions) -> Obj:
    if cls.KIND == "Namespace" and name in IMMORTAL_NAMESPACES:
        raise errors.Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                               name=name, kind="namespaces")
    if cls.KIND == "PriorityClass" and name in SYSTEM_CLASSES:  # as Kubernetes' priorityclass REST
        raise errors.Forbidden(f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: this is a system '
                               "priority class and cannot be deleted", name=name, kind="priorityclasses",
                               group="scheduling.k8s.io")
    key = storage_key(cls, name, namespace)
    if cls.KIND == "Namespace" and not opts.dry_run:
        note_deleted(name)  # before the write: a create racing with it must read etcd
    removed: list[Obj] = []

    async def fn(current: Obj) -> Obj | None:
        _check_preconditions(cls, current, opts)
        marked = _mark(cls, current, opts)
        if marked is None:
            removed.append(current)
            return None
        return marked

    try:
        if opts.dry_run:
            current = await ctx.storage.get(key)
            marked = await fn(current)
            return marked if marked is not None else current
        for _ in range(16):
            # Record the deletion atomically (guaranteed_update) or learn it can go at once.
            removed.clear()
            result = await ctx.storage.guaranteed_update(key, fn)
            if not removed or removed[-1]["metadata"].get("resourceVersion") != \
                    result["metadata"].get("resourceVersion"):
                return result
            try:
                out = await ctx.storage.delete(key, expected_rv=int(result["metadata"]["resourceVersion"]))
            except errors.Conflict:
                continue  # written meanwhile: decide again on the new state
            if cls.KIND == "Service":
                ctx.allocator.release(out)
            return out
        raise conflict(cls, name)
    except errors.ApiError as e:
        raise rename_error(cls, name, e) from None


async def delete_collection(ctx: Ctx, cls: ResourceClass, namespace: str | None, opts: DeleteOptions, *,
                            label_selector: str | None, field_selector: str | None) -> Obj:
    # Validated before anything is read: a selector Kubernetes would refuse must never fall
    # back to "everything" (a deletecollection with it would empty the collection).
    predicate = selection(cls, label_selector, field_selector).predicate
    listed = await ctx.storage.list(collection_key(cls, namespace), predicate=predicate)
    items: list[Obj] = []
    for obj in listed.items:
        meta = obj.get("metadata") or {}
        try:
            items.append(await delete(ctx, cls, meta.get("namespace"), meta.get("name") or "", opts))
        except errors.NotFound:
            continue  # deleted by someone else meanwhile
    return {"kind": list_kind(cls), "apiVersion": cls.api_version(),
            "metadata": {"resourceVersion": str(listed.resource_version)}, "items": items}
