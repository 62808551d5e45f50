"""Validation of LimitRange and ResourceQuota (pkg/apis/core/validation: ValidateLimitRange,
ValidateResourceQuota), reduced to what admission relies on.

Contract: `validate_quota_kind(errs, obj)` adds causes for a LimitRange (item type one of
Container/Pod/PersistentVolumeClaim, every quantity parses and is >= 0, min <= defaultRequest
<= default <= max, maxLimitRequestRatio >= 1) or a ResourceQuota (hard quantities parse and are
>= 0, scopes known) or a PodDisruptionBudget (not both minAvailable and maxUnavailable, each
a non-negative int or a percentage up to 100%, a known unhealthyPodEvictionPolicy); other
kinds are left alone. `QUOTA_KINDS` lists the kinds it handles.
"""

from __future__ import annotations

import re
from decimal import Decimal

from apiserver.admission.validation_common import Errs
from machinery.meta import Resource
from machinery.models import (
    LIMIT_TYPES,
    QUOTA_SCOPES,
    UNHEALTHY_POD_EVICTION_POLICIES,
    LimitRange,
    PodDisruptionBudget,
    ResourceQuota,
)
from machinery.quantity import parse_quantity

QUOTA_KINDS: tuple[type[Resource], ...] = (LimitRange, ResourceQuota, PodDisruptionBudget)
_PERCENT = re.compile(r"^[0-9]+%$")
_QUANTITY_RE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _quantities(errs: Errs, field: str, values: dict[str, str] | None) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for name, raw in (values or {}).items():
        try:
            value = parse_quantity(raw)
        except (ValueError, ArithmeticError):
            errs.invalid(f"{field}[{name}]", raw, _QUANTITY_RE)
            continue
        if value < 0:
            errs.invalid(f"{field}[{name}]", raw, "must be greater than or equal to 0")
            continue
        out[name] = value
    return out


def _validate_limit_range(errs: Errs, lr: LimitRange) -> None:
    for i, item in enumerate(lr.spec.limits if lr.spec else []):
        path = f"spec.limits[{i}]"
        errs.enum(f"{path}.type", item.type or None, LIMIT_TYPES, required=True)
        mins = _quantities(errs, f"{path}.min", item.min)
        maxs = _quantities(errs, f"{path}.max", item.max)
        defaults = _quantities(errs, f"{path}.default", item.default)
        requests = _quantities(errs, f"{path}.defaultRequest", item.defaultRequest)
        ratios = _quantities(errs, f"{path}.maxLimitRequestRatio", item.maxLimitRequestRatio)
        if item.type == "Pod" and (defaults or requests):
            errs.forbidden(f"{path}.default" if defaults else f"{path}.defaultRequest",
                           "may not be specified when `type` is 'Pod'")
        for name, low in mins.items():
            if name in maxs and low > maxs[name]:
                errs.invalid(f"{path}.min[{name}]", (item.min or {})[name],
                             f"min value {(item.min or {})[name]} is greater than max value "
                             f"{(item.max or {})[name]}")
        for name, value in requests.items():
            if name in mins and value < mins[name]:
                errs.invalid(f"{path}.defaultRequest[{name}]", (item.defaultRequest or {})[name],
                             f"min value {(item.min or {})[name]} is greater than default request value "
                             f"{(item.defaultRequest or {})[name]}")
            if name in defaults and value > defaults[name]:
                errs.invalid(f"{path}.defaultRequest[{name}]", (item.defaultRequest or {})[name],
                             f"default request value {(item.defaultRequest or {})[name]} is greater than "
                             f"default limit value {(item.default or {})[name]}")
        for name, value in defaults.items():
            if name in maxs and value > maxs[name]:
                errs.invalid(f"{path}.default[{name}]", (item.default or {})[name],
                             f"default value {(item.default or {})[name]} is greater than max value "
                             f"{(item.max or {})[name]}")
        for name, ratio in ratios.items():
            if ratio < 1:
                errs.invalid(f"{path}.maxLimitRequestRatio[{name}]", (item.maxLimitRequestRatio or {})[name],
                             "ratio must be greater than or equal to 1")


def _validate_resource_quota(errs: Errs, rq: ResourceQuota) -> None:
    spec = rq.spec
    if spec is None:
        return
    _quantities(errs, "spec.hard", spec.hard)
    for i, scope in enumerate(spec.scopes or []):
        errs.enum(f"spec.scopes[{i}]", scope, QUOTA_SCOPES)
    if rq.status is not None:
        _quantities(errs, "status.hard", rq.status.hard)
        _quantities(errs, "status.used", rq.status.used)


def _validate_pdb(errs: Errs, pdb: PodDisruptionBudget) -> None:
    spec = pdb.spec
    if spec is None:
        return
    if spec.minAvailable is not None and spec.maxUnavailable is not None:
        errs.invalid("spec", "", "minAvailable and maxUnavailable cannot be both set")
    for field in ("minAvailable", "maxUnavailable"):
        value = getattr(spec, field)
        if isinstance(value, int) and value < 0:
            errs.invalid(f"spec.{field}", value, "must be greater than or equal to 0")
        elif isinstance(value, str) and (not _PERCENT.match(value) or int(value[:-1]) > 100):
            errs.invalid(f"spec.{field}", value, "must be an integer or a percentage between 0% and 100%")
    errs.enum("spec.unhealthyPodEvictionPolicy", spec.unhealthyPodEvictionPolicy, UNHEALTHY_POD_EVICTION_POLICIES)


def validate_quota_kind(errs: Errs, obj: Resource) -> None:
    if isinstance(obj, LimitRange):
        _validate_limit_range(errs, obj)
    elif isinstance(obj, ResourceQuota):
        _validate_resource_quota(errs, obj)
    elif isinstance(obj, PodDisruptionBudget):
        _validate_pdb(errs, obj)


__all__ = ["QUOTA_KINDS", "validate_quota_kind"]
