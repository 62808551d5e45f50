"""ResourceQuota admission: check and charge on create, with no overshoot under concurrency.

Contract: `await admit_quota(storage, plural, group, obj)` before an object is written:
- reads the namespace's ResourceQuotas from the watch cache behind a consistent-read fence
  (admission/lookup.py: a quota created a moment ago applies; its status there is only a
  first check, the charge re-checks the stored one); for each one whose scopes select the object
  and whose hard limits name something the object charges (machinery/quota.py `usage`):
- a pod missing a request/limit the quota limits is refused: 403 `failed quota: NAME: must
  specify limits.cpu for: web` (Kubernetes);
- the check and the charge are ONE optimistic transaction on the quota object
  (`guaranteed_update`): read status.used, refuse with 403 `exceeded quota: NAME, requested:
  pods=1, used: pods=3, limited: pods=3` if used + requested > hard, else write status.used +
  requested with a compare on the revision read; a concurrent charge makes the compare fail
  and the check runs again on the fresh value. So N concurrent creates against a quota with
  room for k admit exactly k.
- a quota whose status does not yet cover a hard resource (the controller has not counted) is
  counted here from the stored objects inside the same transaction.
- nothing is written on a refusal: every selected quota is checked on its current status before
  any is charged (several quotas: the second refusing must not leave the first charged), and
  `exists()` (the object's name already taken -> 409) is asked before the first charge.
Charges are never released here: the quota controller's recompute does it (also for a create
that fails after being charged, e.g. a name taken between the check and the write), as
Kubernetes does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from apiserver.admission.lookup import fresh_list
from apiserver.storage import Storage, keys
from machinery import errors, quota

Obj = dict[str, Any]
_RETRIES = 64  # each conflict means another charge succeeded: bounded by concurrent creates


def _pretty(names: list[str], values: dict[str, Decimal]) -> str:
    return ",".join(f"{n}={quota.fmt(n, values.get(n, Decimal(0)))}" for n in names)


async def recount(storage: Storage, namespace: str, rq: Obj) -> dict[str, Decimal]:
    hard = (rq.get("spec") or {}).get("hard") or {}
    objects: dict[tuple[str, str], list[Obj]] = {}
    for plural, group in quota.kinds_for(hard):
        try:
            objects[(plural, group)] = (await storage.list(keys.collection_prefix(plural, namespace))).items
        except ValueError:
            continue
    return quota.used_of(rq, objects)


async def _check(storage: Storage, namespace: str, current: Obj,
                 delta: dict[str, Decimal]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(hard, used) of `current`; Forbidden when `delta` does not fit. Writes nothing."""
    name = str((current.get("metadata") or {}).get("name") or "")
    hard = quota.parse_list((current.get("spec") or {}).get("hard"))
    status = current.get("status") or {}
    used = quota.parse_list(status.get("used"))
    if any(n not in used for n in hard):
        used = await recount(storage, namespace, current)
    over = quota.exceeded(hard, used, delta)
    if over:
        raise errors.Forbidden(f"exceeded quota: {name}, requested: {_pretty(over, delta)}, "
                               f"used: {_pretty(over, used)}, limited: {_pretty(over, hard)}")
    return hard, used


async def _charge(storage: Storage, namespace: str, rq: Obj, delta: dict[str, Decimal]) -> None:
    name = str((rq.get("metadata") or {}).get("name") or "")

    async def charge(current: Obj) -> Obj:
        hard, used = await _check(storage, namespace, current, delta)
        charged = {n: used.get(n, Decimal(0)) + delta.get(n, Decimal(0)) for n in hard}
        current["status"] = {"hard": dict((current.get("spec") or {}).get("hard") or {}),
                             "used": {n: quota.fmt(n, v) for n, v in charged.items()}}
        return current

    try:
        await storage.guaranteed_update(keys.object_key("resourcequotas", name, namespace), charge,
                                        retries=_RETRIES)
    except errors.NotFound:
        return  # deleted meanwhile: it limits nothing any more


async def admit_quota(storage: Storage, plural: str, group: str, obj: Obj, *,
                      exists: Callable[[], Awaitable[bool]] | None = None) -> None:
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    if not namespace:
        return
    quotas = await fresh_list(storage, "resourcequotas", namespace)
    if not quotas:
        return
    charges = quota.usage(plural, group, obj)
    name = str(meta.get("name") or "")
    resource = f"{plural}.{group}" if group else plural
    planned: list[tuple[Obj, dict[str, Decimal]]] = []
    for rq in quotas:
        hard = (rq.get("spec") or {}).get("hard") or {}
        if not quota.matches(rq, plural, obj):
            continue
        missing = quota.missing_requests(rq, obj) if charges and plural == "pods" else []
        if missing:
            raise errors.Forbidden(f'{resource} "{name}" is forbidden: failed quota: '
                                   f"{rq['metadata']['name']}: must specify {'; '.join(missing)}",
                                   name=name, kind=plural)
        delta = {n: v for n, v in charges.items() if n in hard}
        if not delta:
            continue
        planned.append((rq, delta))
    if not planned:
        return
    try:
        for rq, delta in planned:  # check all before charging any: a refusal writes nothing
            await _check(storage, namespace, rq, delta)
    except errors.Forbidden as e:
        raise errors.Forbidden(f'{resource} "{name}" is forbidden: {e.message}', name=name, kind=plural) from None
    if exists is not None and await exists():
        raise errors.AlreadyExists(f'{resource} "{name}" already exists', name=name, kind=plural,
                                   group=group or None)
    for rq, delta in planned:
        try:
            await _charge(storage, namespace, rq, delta)
        except errors.Forbidden as e:
            raise errors.Forbidden(f'{resource} "{name}" is forbidden: {e.message}', name=name, kind=plural) from None


__all__ = ["admit_quota", "recount"]
