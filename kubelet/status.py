"""Pure pod status computation: what the worker observed -> `pod.status` (a wire dict).

State table (per container, from `ContainerView`):

| observed | state | lastState |
|---|---|---|
| waiting_reason set (image missing, CrashLoopBackOff, ...) | waiting{reason,message} | the latest exited instance |
| current instance running | running{startedAt} | previous exited instance |
| current instance exited, no restart pending (terminal) | terminated{exitCode,reason,...} | previous |
| nothing created yet | waiting ContainerCreating (PodInitializing for apps behind inits) | - |

Pod phase: Failed when an init container failed for good or every app container is terminal
with at least one failure; Succeeded when every app container is terminal with exit 0;
Running when all app containers exist and one is running; Pending otherwise.
Conditions PodScheduled, Initialized, ContainersReady, Ready keep their lastTransitionTime
while their status does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubelet.runtime import ContainerInfo
from machinery.clock import parse_time
from machinery.qos import pod_qos_class


class Outcome(StrEnum):
    """Where one container stands after a reconcile pass, for the pod worker's ordering.

    PENDING: not started (waiting for the sandbox, an init container, an image, a config, or a
    crash-loop back-off); RUNNING: its current instance runs; DONE: exited and will not run
    again (a finished init container, or restartPolicy says so); FAILED: exited and fails the
    pod (an init container under restartPolicy Never). Init containers run one at a time: the
    next starts only after the previous one is DONE; FAILED stops the pod.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class ContainerView:
    name: str
    image: str
    current: ContainerInfo | None = None
    previous: ContainerInfo | None = None
    restart_count: int = 0
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminal: bool = False  # exited and will not be restarted
    ready: bool = False
    started: bool | None = None


@dataclass
class PodView:
    host_ip: str
    pod_ip: str | None
    start_time: str | None
    init: list[ContainerView]
    apps: list[ContainerView]
    init_failed: bool = False
    message: str | None = None
    qos_class: str = "BestEffort"


def qos_class(spec: dict[str, Any]) -> str:
    """The pod's QoS class (the one implementation: `machinery.qos.pod_qos_class`)."""
    return pod_qos_class(spec)


def _terminated(c: ContainerInfo) -> dict[str, Any]:
    code = c.exit_code if c.exit_code is not None else -1
    reason = "OOMKilled" if c.oom_killed else ("Completed" if code == 0 else "Error")
    out: dict[str, Any] = {"exitCode": code, "reason": reason, "containerID": f"docker://{c.id}"}
    if c.started_at:
        out["startedAt"] = _rfc3339(c.started_at)
    if c.finished_at:
        out["finishedAt"] = _rfc3339(c.finished_at)
    if c.error:
        out["message"] = c.error
    return {"terminated": out}


def _rfc3339(docker_time: str) -> str:
    """Docker's nanosecond times -> seconds precision RFC 3339 (Kubernetes' Time)."""
    return docker_time[:19] + "Z" if len(docker_time) >= 19 else docker_time


def container_status(v: ContainerView, *, behind_init: bool = False) -> dict[str, Any]:
    st: dict[str, Any] = {"name": v.name, "image": v.image, "restartCount": v.restart_count,
                          "ready": v.ready}
    if v.started is not None:
        st["started"] = v.started
    last: ContainerInfo | None = v.previous
    cur = v.current
    if cur is not None:
        st["containerID"] = f"docker://{cur.id}"
        st["imageID"] = cur.image_id
    if v.waiting_reason:
        st["state"] = {"waiting": {"reason": v.waiting_reason, **({"message": v.waiting_message} if v.waiting_message else {})}}
        if cur is not None and not cur.running and cur.exit_code is not None:
            last = cur
    elif cur is not None and cur.running:
        st["state"] = {"running": {"startedAt": _rfc3339(cur.started_at or cur.created_at or "")}}
    elif cur is not None and cur.exit_code is not None:
        st["state"] = _terminated(cur)
    else:
        st["state"] = {"waiting": {"reason": "PodInitializing" if behind_init else "ContainerCreating"}}
    st["lastState"] = _terminated(last) if last is not None and last.exit_code is not None else {}
    return st


def _phase(view: PodView) -> str:
    if view.init_failed:
        return "Failed"
    apps = view.apps
    if apps and all(a.terminal for a in apps):
        failed = any(a.current is not None and (a.current.exit_code or 0) != 0 for a in apps)
        return "Failed" if failed else "Succeeded"
    if apps and all(a.current is not None for a in apps) and any(
        (a.current is not None and a.current.running) or a.waiting_reason == "CrashLoopBackOff" or a.terminal
        for a in apps
    ):
        return "Running"
    return "Pending"


def _condition(kind: str, ok: bool, old: dict[str, dict[str, Any]], now: str, reason: str | None = None) -> dict[str, Any]:
    status = "True" if ok else "False"
    prev = old.get(kind)
    ltt = prev.get("lastTransitionTime") if prev and prev.get("status") == status else None
    cond: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": ltt or now}
    if not ok and reason:
        cond["reason"] = reason
    return cond


def compute_pod_status(view: PodView, *, old_status: dict[str, Any] | None, now: str) -> dict[str, Any]:
    old_conds = {c.get("type", ""): c for c in (old_status or {}).get("conditions") or []}
    inits_done = all(v.terminal and v.current is not None and v.current.exit_code == 0 for v in view.init)
    phase = _phase(view)
    ready = inits_done and bool(view.apps) and all(a.ready for a in view.apps) and phase == "Running"
    not_ready_names = [a.name for a in view.apps if not a.ready]
    conds = [
        _condition("PodScheduled", True, old_conds, now),
        _condition("Initialized", inits_done, old_conds, now, "ContainersNotInitialized"),
        _condition("ContainersReady", ready, old_conds, now, "ContainersNotReady"),
        _condition("Ready", ready, old_conds, now, "ContainersNotReady"),
    ]
    for c in conds[2:]:
        if not ready and not_ready_names:
            c["message"] = f"containers with unready status: [{' '.join(not_ready_names)}]"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{k: v for k, v in c.items() if v is not None} for c in conds],
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "containerStatuses": [container_status(a, behind_init=not inits_done) for a in view.apps],
        "qosClass": view.qos_class,
    }
    if view.init:
        status["initContainerStatuses"] = [container_status(v) for v in view.init]
    if view.pod_ip:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    if view.start_time:
        status["startTime"] = view.start_time
    if view.message:
        status["message"] = view.message
    return status


def status_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """True when a field we own differs (fields others set, e.g. nominatedNodeName, are kept).

    Timestamps only move on real transitions, so plain equality of our fields works."""
    old = old or {}
    return any(old.get(k) != v for k, v in new.items())


def published_container_status(pod: dict[str, Any], container: str, cid: str) -> dict[str, Any]:
    """The containerStatuses entry the API has for this very instance ({} if none): what an
    adopting kubelet starts its probes from (a new instance must earn readiness afresh)."""
    for st in (pod.get("status") or {}).get("containerStatuses") or []:
        if st.get("name") == container and st.get("containerID") == f"docker://{cid}":
            return dict(st)
    return {}


def ts_seconds(s: str | None) -> float | None:
    """Docker's RFC 3339 timestamp (nanoseconds, "Z") as epoch seconds; None for None/""."""
    if not s:
        return None
    parsed = parse_time(s)
    return None if parsed is None else float(int(parsed.timestamp()))  # whole seconds, as before
