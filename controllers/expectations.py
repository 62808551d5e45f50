"""Controller expectations: do not act again until the watch has shown our own writes.

Contract (client-go `controller_utils.go` ControllerExpectations):
- Before creating N pods for a controller key, `expect_creations(key, n)`; each pod-add seen
  by the informer calls `creation_observed(key)`; a create that failed calls it too (the pod
  will never be seen). Deletions are tracked by pod key (`expect_deletions(key, pod_keys)`,
  `deletion_observed(key, pod_key)`), so a pod seen deleted twice counts once.
- `satisfied(key)` is true when nothing is pending, when no expectations were ever set, or when
  they are older than `ttl_s` (5 min): a lost watch event must not wedge a controller forever.
- Why: a ReplicaSet whose pod creates have not reached its cache yet would otherwise count too
  few pods and create them again (double creation while the watch lags).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TTL_S = 300.0


@dataclass
class _Expectation:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    timestamp: float = 0.0

    def fulfilled(self) -> bool:
        return self.adds <= 0 and not self.deletes


class Expectations:
    """Pending creations/deletions per controller key (see module docstring)."""

    def __init__(self, *, ttl_s: float = EXPECTATIONS_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: dict[str, _Expectation] = {}

    def expect_creations(self, key: str, count: int) -> None:
        self._items[key] = _Expectation(adds=count, timestamp=self._clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        self._items[key] = _Expectation(deletes=set(pod_keys), timestamp=self._clock())

    def creation_observed(self, key: str) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.deletes.discard(pod_key)

    def satisfied(self, key: str) -> bool:
        exp = self._items.get(key)
        if exp is None or exp.fulfilled():
            return True
        return self._clock() - exp.timestamp > self.ttl_s

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still expected (for tests and logs)."""
        exp = self._items.get(key)
        return (0, 0) if exp is None else (max(exp.adds, 0), len(exp.deletes))

    def delete(self, key: str) -> None:
        self._items.pop(key, None)
