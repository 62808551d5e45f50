"""The READY, STATUS and RESTARTS columns of a pod, derived exactly as kubectl's printPod does.

Contract: `pod_columns(pod, at)` -> (ready "1/2", status, restarts "3 (2m ago)") from the pod's
JSON dict. STATUS order of precedence (kubectl): status.reason over phase; the first init
container not finished gives `Init:N/M`, `Init:<waiting reason>`, `Init:<terminated reason>` or
`Init:ExitCode:N`; then the app containers (last one wins) give their waiting reason
(CrashLoopBackOff, ImagePullBackOff...), terminated reason (Completed, Error) or ExitCode:N;
`Completed` with a container still running is shown as Running/NotReady; a deletionTimestamp on a
non-terminal pod shows `Terminating`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cli.printers import human_duration, parse_ts


def _terminated_label(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _condition_true(status: dict[str, Any], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in status.get("conditions") or [])


def pod_columns(pod: dict[str, Any], at: datetime) -> tuple[str, str, str]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    total = len(spec.get("containers") or [])
    reason = str(status.get("reason") or status.get("phase") or "")
    restarts = 0
    ready = 0
    last_restart: datetime | None = None

    def note_restart(cs: dict[str, Any]) -> None:
        nonlocal last_restart
        finished = parse_ts(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished

    init_specs = spec.get("initContainers") or []
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        note_restart(cs)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if term is not None:
            reason = _terminated_label(term, "Init:")
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts = 0
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            note_restart(cs)
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif term is not None:
                reason = _terminated_label(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    phase = status.get("phase")
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((at - last_restart).total_seconds())} ago)"
    return f"{ready}/{total}", reason or "Unknown", restarts_text
