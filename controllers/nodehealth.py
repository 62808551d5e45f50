"""Pure pieces of the node lifecycle controller: taint templates, conditions, zones, and the
rate-limited tainting queue (Kubernetes' pkg/controller/nodelifecycle and its scheduler/
rate_limited_queue.go).

Contract (no I/O; time comes in as float seconds of one monotonic clock):
- `NOT_READY`/`UNREACHABLE` are the keys of the NoExecute (and NoSchedule) taints the
  controller owns; `condition_taints(node)` is the NoSchedule taint set Kubernetes derives from
  conditions (Ready False -> not-ready, Ready Unknown -> unreachable, Memory/Disk/PID pressure
  True, NetworkUnavailable True) plus `node.kubernetes.io/unschedulable` for a cordoned node.
- `mark_unknown(conditions, now, creation)`: the node's conditions with Ready, MemoryPressure,
  DiskPressure and PIDPressure set to Unknown (reason NodeStatusUnknown, message "Kubelet
  stopped posting node status.", lastTransitionTime now; lastHeartbeatTime kept), missing ones
  added (reason NodeStatusNeverUpdated). Returns a new list; the input is not changed.
- `zone_key(labels)`: topology.kubernetes.io/region and /zone (or the beta failure-domain
  labels) as Kubernetes' GetZoneKey; "" when neither is set.
- `zone_state(ready_statuses, threshold)`: "FullDisruption" when no node is Ready (and some
  are not), "PartialDisruption" when more than 2 are not Ready and they are at least
  `threshold` of the zone, else "Normal".
- `TokenBucket(qps, burst=1)`: `try_accept(now_s)`; qps <= 0 never accepts.
- `TaintQueue`: a unique FIFO of node names with a swappable token bucket. `add(name)` is a
  no-op while the name is known (even after it was processed: only `remove(name)` forgets it,
  as Kubernetes' UniqueQueue); `take(now_s)` dequeues ready heads while the bucket has tokens
  (one token each); `retry(name, at_s)` puts a failed one back. `swap_rate(qps, now_s)` keeps a
  drained bucket drained (burst 1, as Kubernetes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"
DISRUPTION_EXCLUSION_LABEL = "node.kubernetes.io/exclude-disruption"

UNKNOWN_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

# condition type -> {status: taint key} (nodeConditionToTaintKeyStatusMap)
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
CONDITION_TAINT_KEYS = frozenset(k for m in CONDITION_TAINTS.values() for k in m.values())

FULL = "FullDisruption"
PARTIAL = "PartialDisruption"
NORMAL = "Normal"
INITIAL = "Initial"


def condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    for c in conditions or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def condition_taints(conditions: Iterable[Mapping[str, Any]] | None, unschedulable: bool) -> list[dict[str, str]]:
    taints = []
    for c in conditions or []:
        key = CONDITION_TAINTS.get(str(c.get("type")), {}).get(str(c.get("status")))
        if key:
            taints.append({"key": key, "effect": NO_SCHEDULE})
    if unschedulable:
        taints.append({"key": UNSCHEDULABLE, "effect": NO_SCHEDULE})
    return taints


def is_condition_taint(taint: Mapping[str, Any]) -> bool:
    """A NoSchedule taint this controller derives from conditions (or cordoning)."""
    return taint.get("effect") == NO_SCHEDULE and (taint.get("key") in CONDITION_TAINT_KEYS
                                                   or taint.get("key") == UNSCHEDULABLE)


def same_taint(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Kubernetes' Taint.MatchTaint: key and effect."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def mark_unknown(conditions: Iterable[Mapping[str, Any]] | None, *, now: str, creation: str | None
                 ) -> list[dict[str, Any]]:
    out = [dict(c) for c in conditions or []]
    for type_ in UNKNOWN_TYPES:
        cur = next((c for c in out if c.get("type") == type_), None)
        if cur is None:
            out.append({"type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                        "message": "Kubelet never posted node status.", "lastHeartbeatTime": creation,
                        "lastTransitionTime": now})
        elif cur.get("status") != "Unknown":
            cur.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                       lastTransitionTime=now)
    return out


def zone_key(labels: Mapping[str, str] | None) -> str:
    labels = labels or {}
    zone = labels.get("topology.kubernetes.io/zone", labels.get("failure-domain.beta.kubernetes.io/zone", ""))
    region = labels.get("topology.kubernetes.io/region", labels.get("failure-domain.beta.kubernetes.io/region", ""))
    if not zone and not region:
        return ""
    return f"{region}:\x00:{zone}"


def zone_state(ready_statuses: Iterable[str | None], threshold: float) -> tuple[int, str]:
    """(not-ready count, state) of one zone from its nodes' Ready statuses (None: no condition)."""
    statuses = list(ready_statuses)
    ready = sum(1 for s in statuses if s == "True")
    not_ready = len(statuses) - ready
    if ready == 0 and not_ready > 0:
        return not_ready, FULL
    if not_ready > 2 and not_ready / len(statuses) >= threshold:
        return not_ready, PARTIAL
    return not_ready, NORMAL


class TokenBucket:
    """client-go's token bucket rate limiter (flowcontrol), driven by an explicit clock value."""

    def __init__(self, qps: float, burst: int = 1, *, now_s: float) -> None:
        self.qps = qps
        self.burst = burst
        self.tokens = float(burst)
        self.last_s = now_s

    def try_accept(self, now_s: float) -> bool:
        if self.qps <= 0:
            return False
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now_s - self.last_s) * self.qps)
        self.last_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Timed:
    name: str
    process_at_s: float


class TaintQueue:
    """See module docstring (Kubernetes' RateLimitedTimedQueue over a UniqueQueue)."""

    def __init__(self, qps: float, *, now_s: float) -> None:
        self.limiter = TokenBucket(qps, now_s=now_s)
        self._queue: list[_Timed] = []
        self._known: set[str] = set()

    @property
    def qps(self) -> float:
        return self.limiter.qps

    def __contains__(self, name: str) -> bool:
        return any(t.name == name for t in self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, name: str, now_s: float) -> bool:
        if name in self._known:
            return False
        self._known.add(name)
        self._queue.append(_Timed(name, now_s))
        return True

    def remove(self, name: str) -> bool:
        """Forget `name` entirely (it may be added again); True if it was still queued."""
        self._known.discard(name)
        before = len(self._queue)
        self._queue = [t for t in self._queue if t.name != name]
        return len(self._queue) != before

    def swap_rate(self, qps: float, now_s: float) -> None:
        if qps == self.limiter.qps:
            return
        drained = not self.limiter.try_accept(now_s) if self.limiter.qps > 0 else False
        self.limiter = TokenBucket(qps, now_s=now_s)
        if drained:
            self.limiter.try_accept(now_s)

    def take(self, now_s: float) -> list[str]:
        """Dequeue the ready heads, one token each, while the bucket has tokens. They stay known
        (not added again) until `remove`; a failed one goes back with `retry`."""
        taken: list[str] = []
        while self._queue:
            head = min(self._queue, key=lambda t: t.process_at_s)
            if head.process_at_s > now_s or not self.limiter.try_accept(now_s):
                break
            self._queue.remove(head)
            taken.append(head.name)
        return taken

    def retry(self, name: str, at_s: float) -> None:
        if name in self._known and name not in self:
            self._queue.append(_Timed(name, at_s))
