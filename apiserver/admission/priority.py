"""Priority admission (plugin/pkg/admission/priority), on pod creation.

Contract: `await admit_priority(storage, pod)`:
- spec.priorityClassName names a PriorityClass: spec.priority = its value and
  spec.preemptionPolicy = its preemptionPolicy (PreemptLowerPriority when unset); an unknown
  name is 403 `pods "x" is forbidden: no PriorityClass with name NAME was found`;
- the classes are read from the watch cache behind a consistent-read fence (admission/lookup.py);
- no name: the globalDefault class if one exists (its name is set on the pod), else priority 0;
- a spec.priority given by the client that differs from the computed one is 403 `the integer
  value of priority (P) must not be provided in pod spec; priority admission controller
  computed V from the given PriorityClass name`.

`await admit_priority_class(storage, pc, old=None)` on PriorityClass create and update (the
priority plugin's validatePriorityClass): a class with globalDefault true while ANOTHER class
already is the default is 403 `priorityclasses.scheduling.k8s.io "x" is forbidden:
PriorityClass OTHER is already marked as default. Only one default can exist` (an update of
the default class itself passes). Like Kubernetes, two concurrent creates may both pass.
"""

from __future__ import annotations

from typing import Any

from apiserver.admission.lookup import fresh_get, fresh_list
from apiserver.storage import Storage
from machinery import errors

Obj = dict[str, Any]


async def admit_priority(storage: Storage, pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    name = str((pod.get("metadata") or {}).get("name") or "")
    class_name = spec.get("priorityClassName")
    pc: Obj | None = None
    if class_name:
        pc = await fresh_get(storage, "priorityclasses", str(class_name))
        if pc is None:
            raise errors.Forbidden(f'pods "{name}" is forbidden: no PriorityClass with name {class_name} was found',
                                   name=name, kind="pods")
    else:
        pc = next((c for c in await fresh_list(storage, "priorityclasses") if c.get("globalDefault")), None)
        if pc is not None:
            spec["priorityClassName"] = pc["metadata"]["name"]
    value = int(pc.get("value") or 0) if pc is not None else 0
    given = spec.get("priority")
    if given is not None and given != value:
        raise errors.Forbidden(f'pods "{name}" is forbidden: the integer value of priority ({given}) must not be '
                               f"provided in pod spec; priority admission controller computed {value} from the "
                               "given PriorityClass name", name=name, kind="pods")
    spec["priority"] = value
    if pc is not None:
        spec["preemptionPolicy"] = spec.get("preemptionPolicy") or pc.get("preemptionPolicy") or "PreemptLowerPriority"
    else:
        spec["preemptionPolicy"] = spec.get("preemptionPolicy") or "PreemptLowerPriority"


async def admit_priority_class(storage: Storage, pc: Obj) -> None:
    if not pc.get("globalDefault"):
        return
    name = str((pc.get("metadata") or {}).get("name") or "")
    for other in await fresh_list(storage, "priorityclasses"):
        other_name = (other.get("metadata") or {}).get("name")
        if other.get("globalDefault") and other_name != name:
            raise errors.Forbidden(f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: PriorityClass '
                                   f"{other_name} is already marked as default. Only one default can exist",
                                   name=name, kind="priorityclasses", group="scheduling.k8s.io")


__all__ = ["admit_priority", "admit_priority_class"]
