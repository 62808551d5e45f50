"""The pod QoS class (Guaranteed, Burstable, BestEffort): ONE implementation, used by the API
server's defaulting (`machinery.defaults`) and by the kubelet's status (`kubelet.status`).

Contract: `pod_qos_class(spec)` takes a PodSpec model or its wire dict and returns what
Kubernetes' `ComputePodQOS` (pkg/apis/core/v1/helper/qos) returns:
- only `cpu` and `memory` count; a quantity counts when it is > 0; quantities are compared
  by value (`cpu: "1"` equals `"1000m"`, `memory: 1Gi` equals `1073741824`), summed per
  resource over init and app containers;
- BestEffort when no container requests or limits cpu/memory;
- Guaranteed when every container limits both cpu and memory and, per resource, the summed
  requests equal the summed limits (a request left unset defaults to its limit, as the API
  server's defaulting does, so an undefaulted spec gives the same answer);
- Burstable otherwise.
A malformed quantity never raises here (defaulting runs before validation rejects it): it
counts as set and is compared as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from machinery.quantity import parse_quantity

QOS_RESOURCES = ("cpu", "memory")
GUARANTEED, BURSTABLE, BEST_EFFORT = "Guaranteed", "Burstable", "BestEffort"

_Amount = Decimal | str  # str: a quantity that does not parse, kept as text


def _amount(value: Any) -> _Amount | None:
    """The quantity's value when it is > 0, None when it is zero (zero does not count)."""
    try:
        q = parse_quantity(str(value))
    except (ValueError, ArithmeticError):
        return str(value)
    return q if q > 0 else None


def _add(total: dict[str, _Amount], name: str, amount: _Amount) -> None:
    prev = total.get(name)
    if prev is None:
        total[name] = amount
    elif isinstance(prev, Decimal) and isinstance(amount, Decimal):
        total[name] = prev + amount
    else:
        total[name] = f"{prev}+{amount}"


def _resources_of(spec: Any) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(requests, limits) of every init and app container of a PodSpec model or dict."""
    if isinstance(spec, Mapping):
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for c in containers:
            res = (c.get("resources") if isinstance(c, Mapping) else None) or {}
            yield res.get("requests") or {}, res.get("limits") or {}
        return
    for c in [*(spec.initContainers or []), *(spec.containers or [])]:
        res = c.resources
        yield ((res.requests or {}) if res else {}), ((res.limits or {}) if res else {})


def pod_qos_class(spec: Any) -> str:
    """The QoS class of a pod spec (a `PodSpec` model or its dict); see the module docstring."""
    requests: dict[str, _Amount] = {}
    limits: dict[str, _Amount] = {}
    guaranteed = True
    for reqs, lims in _resources_of(spec):
        limited: set[str] = set()
        for name in QOS_RESOURCES:
            lim = _amount(lims[name]) if name in lims else None
            req = _amount(reqs[name]) if name in reqs else lim  # requests default to limits
            if req is not None:
                _add(requests, name, req)
            if lim is not None:
                limited.add(name)
                _add(limits, name, lim)
        if limited != set(QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed and requests.keys() == limits.keys() and all(
            requests[name] == limits[name] for name in requests):
        return GUARANTEED
    return BURSTABLE


__all__ = ["BEST_EFFORT", "BURSTABLE", "GUARANTEED", "QOS_RESOURCES", "pod_qos_class"]
