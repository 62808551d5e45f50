"""The scheduler's Prometheus metrics, as kube-scheduler names them.

- `scheduler_schedule_attempts_total{result,profile}`: result scheduled | unschedulable | error.
- `scheduler_scheduling_attempt_duration_seconds{result,profile}`: one attempt (filter, score,
  assume; the binding runs afterwards in the background), Kubernetes' buckets (1 ms doubling).
- `scheduler_pending_pods{queue}`: active / backoff / unschedulable.
Served by `python -m scheduler --metrics-bind-address HOST:PORT` (machinery.prom.serve).
`attempt()` runs once per pod: the labelled series are looked up once per result, not per call
(prometheus_client's `labels()` was 6% of the scheduler's time at 60 pods/s).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

PROFILE = "default-scheduler"
ATTEMPTS = Counter("scheduler_schedule_attempts", "Number of attempts to schedule pods, by the result.",
                   ["result", "profile"])
ATTEMPT_DURATION = Histogram("scheduler_scheduling_attempt_duration_seconds",
                             "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
                             ["result", "profile"], buckets=tuple(0.001 * 2**i for i in range(15)))
PENDING = Gauge("scheduler_pending_pods", "Number of pending pods, by the queue type.", ["queue"])


_CHILDREN: dict[str, tuple[Any, Any]] = {}  # result -> its labelled series (labels() is slow)


def attempt(result: str, seconds: float) -> None:
    children = _CHILDREN.get(result)
    if children is None:
        children = _CHILDREN[result] = (ATTEMPTS.labels(result, PROFILE), ATTEMPT_DURATION.labels(result, PROFILE))
    children[0].inc()
    children[1].observe(seconds)
