"""Validation of ControllerRevision (apps/v1) and the storage kinds (PersistentVolume,
PersistentVolumeClaim, StorageClass).

Contract: `validate_storage(errs, obj)` and `validate_storage_update(errs, new, old)` append
Kubernetes causes for these kinds and do nothing for others. `STORAGE_KINDS` lists the kinds
handled here. Rules (pkg/apis/*/validation):
- ControllerRevision: `data` required, `revision` >= 0; `data` is immutable (the revision
  number may change: a controller re-uses an old revision on rollback by renumbering it).
- PersistentVolume: capacity[storage] and accessModes required, exactly one volume source,
  hostPath/local paths absolute, a `local` PV needs nodeAffinity, reclaim policy Retain, Delete
  or Recycle; capacity quantities valid.
- PersistentVolumeClaim: accessModes and resources.requests[storage] required; after
  creation the spec is immutable except resources.requests, and volumeName/storageClassName
  may be set once from empty (what the binder does).
- StorageClass: provisioner required, reclaimPolicy Delete|Retain, volumeBindingMode
  Immediate|WaitForFirstConsumer; provisioner, parameters, reclaimPolicy and
  volumeBindingMode are immutable.
"""

from __future__ import annotations

from typing import Any

from apiserver.admission.validation_common import Errs
from machinery.meta import Resource
from machinery.models import ControllerRevision, PersistentVolume, PersistentVolumeClaim, StorageClass
from machinery.quantity import parse_quantity

STORAGE_KINDS: tuple[type[Resource], ...] = (ControllerRevision, PersistentVolume, PersistentVolumeClaim,
                                             StorageClass)
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
RECLAIM_POLICIES = ("Retain", "Delete", "Recycle")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
_PV_SOURCES = ("hostPath", "local")


def _access_modes(errs: Errs, field: str, modes: list[str] | None) -> None:
    if not modes:
        errs.required(field)
        return
    for i, mode in enumerate(modes):
        if mode not in ACCESS_MODES:
            errs.not_supported(f"{field}[{i}]", mode, ACCESS_MODES)


def _storage_quantity(errs: Errs, field: str, resources: dict[str, Any] | None) -> None:
    value = (resources or {}).get("storage")
    if value is None:
        errs.required(f"{field}[storage]")
        return
    try:
        if parse_quantity(value) < 0:
            errs.invalid(f"{field}[storage]", value, "must be greater than or equal to 0")
    except (ValueError, ArithmeticError):
        errs.invalid(f"{field}[storage]", value, "quantities must match the regular expression "
                     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def _validate_pv(errs: Errs, pv: PersistentVolume) -> None:
    spec = pv.spec
    if spec is None:
        errs.required("spec")
        return
    _storage_quantity(errs, "spec.capacity", spec.capacity)
    _access_modes(errs, "spec.accessModes", spec.accessModes)
    errs.enum("spec.persistentVolumeReclaimPolicy", spec.persistentVolumeReclaimPolicy, RECLAIM_POLICIES)
    sources = [n for n in _PV_SOURCES if getattr(spec, n) is not None]
    sources += [k for k, v in (spec.model_extra or {}).items() if isinstance(v, dict)]
    if not sources:
        errs.required("spec", "must specify a volume type")
    elif len(sources) > 1:
        errs.forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type")
    for name in _PV_SOURCES:
        source = getattr(spec, name)
        if source is not None and not source.path.startswith("/"):
            errs.invalid(f"spec.{name}.path", source.path, "must be an absolute path")
    if spec.local is not None and (spec.nodeAffinity is None or spec.nodeAffinity.required is None):
        errs.required("spec.nodeAffinity", "Local volume requires node affinity")


def _validate_pvc(errs: Errs, pvc: PersistentVolumeClaim) -> None:
    spec = pvc.spec
    if spec is None:
        errs.required("spec")
        return
    _access_modes(errs, "spec.accessModes", spec.accessModes)
    _storage_quantity(errs, "spec.resources.requests", spec.resources.requests if spec.resources else None)
    errs.enum("spec.volumeMode", spec.volumeMode, ("Filesystem", "Block"))


def _validate_sc(errs: Errs, sc: StorageClass) -> None:
    if not sc.provisioner:
        errs.required("provisioner")
    errs.enum("reclaimPolicy", sc.reclaimPolicy, ("Delete", "Retain"))
    errs.enum("volumeBindingMode", sc.volumeBindingMode, BINDING_MODES)


def _pvc_update(errs: Errs, new: PersistentVolumeClaim, old: PersistentVolumeClaim) -> None:
    nspec = new.spec.to_dict() if new.spec else {}
    ospec = old.spec.to_dict() if old.spec else {}
    for key in ("volumeName", "storageClassName"):
        if not ospec.get(key):
            ospec[key] = nspec.get(key)  # may be set once (the binder, the default class)
    nspec.pop("resources", None)
    ospec.pop("resources", None)
    if {k: v for k, v in nspec.items() if v is not None} != {k: v for k, v in ospec.items() if v is not None}:
        errs.forbidden("spec", "spec is immutable after creation except resources.requests and "
                       "volumeAttributesClassName for bound claims")


def _validate_revision(errs: Errs, cr: ControllerRevision) -> None:
    if cr.data is None:
        errs.required("data", "data is mandatory")
    errs.min_value("revision", cr.revision, 0)


def validate_storage(errs: Errs, obj: Resource) -> None:
    if isinstance(obj, ControllerRevision):
        _validate_revision(errs, obj)
    elif isinstance(obj, PersistentVolume):
        _validate_pv(errs, obj)
    elif isinstance(obj, PersistentVolumeClaim):
        _validate_pvc(errs, obj)
    elif isinstance(obj, StorageClass):
        _validate_sc(errs, obj)


def validate_storage_update(errs: Errs, new: Resource, old: Resource) -> None:
    if isinstance(new, ControllerRevision) and isinstance(old, ControllerRevision) and new.data != old.data:
        errs.invalid("data", "", "field is immutable")
    elif isinstance(new, PersistentVolumeClaim) and isinstance(old, PersistentVolumeClaim):
        _pvc_update(errs, new, old)
    elif isinstance(new, StorageClass) and isinstance(old, StorageClass):
        for name in ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"):
            if getattr(new, name) != getattr(old, name):
                errs.invalid(name, getattr(new, name), "field is immutable")


__all__ = ["STORAGE_KINDS", "validate_storage", "validate_storage_update"]
