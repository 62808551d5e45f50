"""Pod-failure backoff of a Job (Kubernetes' job controller `backoffRecord`).

Contract:
- `BackoffRecord` per Job key: `failures_after_last_success` and `last_failure_s` (epoch
  seconds of the newest counted failure).
- `record.update(new_succeeded_finish_s, new_failed_finish_s)` folds in the pods newly counted
  by one sync (their finish times): no new pods leaves it alone; only failures add to the
  count; a success resets it and then counts only the failures that finished after the last
  success.
- `record.remaining_s(now_s)`: how long to wait before creating replacement pods: 0 without
  failures, else `BASE_S * 2**(failures-1)` capped at `MAX_S`, minus the time since the last
  failure (never negative). 10 s doubling, capped at 6 minutes, as Kubernetes documents.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_S = 10.0
MAX_S = 360.0


@dataclass
class BackoffRecord:
    failures_after_last_success: int = 0
    last_failure_s: float | None = None

    def update(self, succeeded_finish_s: list[float], failed_finish_s: list[float]) -> None:
        failed = sorted(failed_finish_s)
        if not succeeded_finish_s:
            if failed:
                self.failures_after_last_success += len(failed)
                self.last_failure_s = failed[-1]
            return
        self.failures_after_last_success = 0
        self.last_failure_s = None
        last_success = max(succeeded_finish_s)
        for t in reversed(failed):
            if t <= last_success:
                break
            if self.last_failure_s is None:
                self.last_failure_s = t
            self.failures_after_last_success += 1

    def delay_s(self) -> float:
        if self.failures_after_last_success <= 0:
            return 0.0
        return min(BASE_S * 2.0 ** (self.failures_after_last_success - 1), MAX_S)

    def remaining_s(self, now_s: float) -> float:
        if self.failures_after_last_success <= 0 or self.last_failure_s is None:
            return 0.0
        return max(0.0, self.delay_s() - (now_s - self.last_failure_s))


__all__ = ["BASE_S", "MAX_S", "BackoffRecord"]
