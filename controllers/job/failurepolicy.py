"""Job `spec.podFailurePolicy`: which rule a failed pod matches (Kubernetes' matchPodFailurePolicy).

Contract: `match(policy, pod) -> (action, message)` for a pod in phase Failed. Rules are tried in
order; the first that matches decides. `onExitCodes` matches when a container (init or app;
only `containerName` if given) terminated with a NON-ZERO exit code that is In / NotIn the
values; `onPodConditions` matches when the pod has a condition of that type with that status
(default "True"). The action is FailJob, Ignore, Count or FailIndex; no matching rule gives
(None, ""), meaning "count it", as Kubernetes. The message of a FailJob is Kubernetes' wording.
"""

from __future__ import annotations

from typing import Any

from machinery.models import Pod


def _exit_code_match(rule: dict[str, Any], index: int, pod: Pod) -> str | None:
    req = rule.get("onExitCodes") or {}
    values = set(req.get("values") or [])
    name = req.get("containerName")
    statuses = [*(pod.status.initContainerStatuses or []), *(pod.status.containerStatuses or [])] if pod.status else []
    for cs in statuses:
        term = cs.state.terminated if cs.state else None
        if term is None or term.exitCode == 0 or (name and cs.name != name):
            continue
        inside = term.exitCode in values
        if inside == (req.get("operator") == "In"):
            return (f"Container {cs.name} for pod {pod.namespace}/{pod.name} failed with exit code "
                    f"{term.exitCode} matching {rule.get('action')} rule at index {index}")
    return None


def _condition_match(rule: dict[str, Any], index: int, pod: Pod) -> str | None:
    for pattern in rule.get("onPodConditions") or []:
        want = pattern.get("status") or "True"
        for cond in (pod.status.conditions or []) if pod.status else []:
            if cond.type == pattern.get("type") and cond.status == want:
                return (f"Pod {pod.namespace}/{pod.name} has condition {cond.type} matching "
                        f"{rule.get('action')} rule at index {index}")
    return None


def match(policy: dict[str, Any] | None, pod: Pod) -> tuple[str | None, str]:
    for index, rule in enumerate((policy or {}).get("rules") or []):
        message = _exit_code_match(rule, index, pod) if rule.get("onExitCodes") else _condition_match(rule, index, pod)
        if message is not None:
            return str(rule.get("action")), message
    return None, ""


__all__ = ["match"]
