"""Validation of ControllerRevision (apps/v1) and the storage kinds (PersistentVolume,
PersistentVolumeClaim, StorageClass).

Contract: `validate_storage(errs, obj)` and `validate_storage_update(errs, new, old)` append
Kubernetes causes for these kinds and do nothing for others. `STORAGE_KINDS` lists the kinds
handled here. Rules (pkg/apis/*/validation):
- ControllerRevision: `data` required, `revision` >= 0; `data` is immutable (the revision
  number may change: a controller re-uses an old revision on rollback by renumbering it).
"""

from __future__ import annotations

from apiserver.admission.validation_common import Errs
from machinery.meta import Resource
from machinery.models import ControllerRevision

STORAGE_KINDS: tuple[type[Resource], ...] = (ControllerRevision,)


def _validate_revision(errs: Errs, cr: ControllerRevision) -> None:
    if cr.data is None:
        errs.required("data", "data is mandatory")
    errs.min_value("revision", cr.revision, 0)


def validate_storage(errs: Errs, obj: Resource) -> None:
    if isinstance(obj, ControllerRevision):
        _validate_revision(errs, obj)


def validate_storage_update(errs: Errs, new: Resource, old: Resource) -> None:
    if isinstance(new, ControllerRevision) and isinstance(old, ControllerRevision) and new.data != old.data:
        errs.invalid("data", "", "field is immutable")


__all__ = ["STORAGE_KINDS", "validate_storage", "validate_storage_update"]
