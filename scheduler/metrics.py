"""The scheduler's Prometheus metrics, as kube-scheduler names them.

- `scheduler_schedule_attempts_total{result,profile}`: result scheduled | unschedulable | error.
- `scheduler_scheduling_attempt_duration_seconds{result,profile}`: one attempt (filter, score,
  assume; the binding runs afterwards in the background), Kubernetes' buckets (1 ms doubling).
- `scheduler_pending_pods{queue}`: active / backoff / unschedulable.
Served by `python -m scheduler --metrics-bind-address HOST:PORT` (machinery.prom.serve).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PROFILE = "default-scheduler"
ATTEMPTS = Counter("scheduler_schedule_attempts", "Number of attempts to schedule pods, by the result.",
                   ["result", "profile"])
ATTEMPT_DURATION = Histogram("scheduler_scheduling_attempt_duration_seconds",
                             "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
                             ["result", "profile"], buckets=tuple(0.001 * 2**i for i in range(15)))
PENDING = Gauge("scheduler_pending_pods", "Number of pending pods, by the queue type.", ["queue"])


def attempt(result: str, seconds: float) -> None:
    ATTEMPTS.labels(result, PROFILE).inc()
    ATTEMPT_DURATION.labels(result, PROFILE).observe(seconds)
