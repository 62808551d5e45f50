"""DefaultTolerationSeconds admission: pods tolerate a not-ready or unreachable node for a while.

Contract (Kubernetes' plugin/pkg/admission/defaulttolerationseconds): on pod creation, a pod
that has no toleration for `node.kubernetes.io/not-ready` with effect NoExecute gets
`{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds:
not_ready_s}`, and likewise for `node.kubernetes.io/unreachable` with `unreachable_s` (both
300 s by default: --default-not-ready-toleration-seconds, --default-unreachable-toleration-
seconds). A toleration counts when its key is that key or empty (matches all keys) and its
effect is NoExecute or empty (all effects): such a pod keeps exactly what it asked for. Works
on the wire dict in place; no I/O.
"""

from __future__ import annotations

from typing import Any

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"


def _tolerates(tolerations: list[dict[str, Any]], key: str) -> bool:
    return any((t.get("key") or "") in ("", key) and (t.get("effect") or "") in ("", NO_EXECUTE)
               for t in tolerations)


def add_default_tolerations(pod: dict[str, Any], *, not_ready_s: int, unreachable_s: int) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations: list[dict[str, Any]] = list(spec.get("tolerations") or [])
    added = False
    for key, seconds in ((NOT_READY, not_ready_s), (UNREACHABLE, unreachable_s)):
        if not _tolerates(tolerations, key):
            tolerations.append({"key": key, "operator": "Exists", "effect": NO_EXECUTE,
                                "tolerationSeconds": seconds})
            added = True
    if added:
        spec["tolerations"] = tolerations
