"""Validation of PriorityClass (pkg/apis/scheduling/validation: ValidatePriorityClass[Update]).

Contract: `validate_priority_class(errs, pc, old=None)` adds Kubernetes' causes:
- a name with the `system-` prefix is reserved: only the built-in classes (machinery.models
  SYSTEM_CLASSES) with their own value and globalDefault false; otherwise
  `metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system
  use only. error: <why>` (why: `X is not a known system priority class`, `value of X
  PriorityClass must be V`, `globalDefault of X PriorityClass must be false`);
- a user class's value is at most HIGHEST_USER_DEFINABLE_PRIORITY (1e9): `value: Forbidden:
  maximum allowed value of a user defined priority is 1000000000`; values are int32;
- preemptionPolicy is PreemptLowerPriority or Never (defaulted to PreemptLowerPriority);
- on update (`old` given): value `Forbidden: may not be changed in an update.` and
  preemptionPolicy `field is immutable`.
The one-globalDefault rule needs the other classes: it is admission's (admission/priority.py
`admit_priority_class`, 403 as Kubernetes' priority plugin).
"""

from __future__ import annotations

from apiserver.admission.validation_common import Errs
from machinery.models import PREEMPTION_POLICIES, SYSTEM_CLASSES, PriorityClass

SYSTEM_PREFIX = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
_DEFAULT_POLICY = "PreemptLowerPriority"
_INT32 = (-(2**31), 2**31 - 1)


def _system_class_error(name: str, value: int, global_default: bool) -> str | None:
    """Why `name` is not a known system class as given (IsKnownSystemPriorityClass), or None."""
    if name not in SYSTEM_CLASSES:
        return f"{name} is not a known system priority class"
    if SYSTEM_CLASSES[name] != value:
        return f"value of {name} PriorityClass must be {SYSTEM_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return None


def validate_priority_class(errs: Errs, pc: PriorityClass, old: PriorityClass | None = None) -> None:
    name = pc.metadata.name or ""
    if not _INT32[0] <= pc.value <= _INT32[1]:
        errs.invalid("value", pc.value, "must be a 32-bit integer")
    if name.startswith(SYSTEM_PREFIX):
        why = _system_class_error(name, pc.value, bool(pc.globalDefault))
        if why is not None:
            errs.forbidden("metadata.name", f"priority class names with '{SYSTEM_PREFIX}' prefix are reserved "
                                            f"for system use only. error: {why}")
    elif pc.value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}")
    if pc.preemptionPolicy is not None:
        errs.enum("preemptionPolicy", pc.preemptionPolicy, PREEMPTION_POLICIES, required=True)
    if old is None:
        return
    if pc.value != old.value:
        errs.forbidden("value", "may not be changed in an update.")
    # A class stored before preemptionPolicy was defaulted has none: it meant the default.
    if (pc.preemptionPolicy or _DEFAULT_POLICY) != (old.preemptionPolicy or _DEFAULT_POLICY):
        errs.invalid("preemptionPolicy", pc.preemptionPolicy, "field is immutable")


__all__ = ["HIGHEST_USER_DEFINABLE_PRIORITY", "SYSTEM_PREFIX", "validate_priority_class"]
