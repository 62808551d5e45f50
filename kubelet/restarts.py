"""Restart policy with CrashLoopBackOff, as a pure function (Nomad's restarts.go shape).

`decide(...)` looks at one exited container and returns a `Decision`:

| container | restartPolicy | exit code | decision |
|---|---|---|---|
| app  | Always    | any   | RESTART (after backoff) |
| app  | OnFailure | 0     | DONE (reason Completed) |
| app  | OnFailure | != 0  | RESTART (after backoff) |
| app  | Never     | any   | DONE (Completed / Error) |
| init | Never     | != 0  | FAIL_POD (Init:Error) |
| init | any       | 0     | DONE |
| init | Always/OnFailure | != 0 | RESTART (after backoff) |

Backoff: the first restart of a run of crashes is immediate; after that 10 s doubling up to
300 s (`backoff_steps` counts consecutive short runs). A container that ran at least 10 min
before exiting resets the count (Kubernetes' "reset after 10 min running"). While the delay
has not elapsed the decision is WAIT with reason CrashLoopBackOff and the remaining seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

BASE_BACKOFF_S = 10.0
MAX_BACKOFF_S = 300.0
RESET_AFTER_S = 600.0


class Action(enum.Enum):
    RESTART = "restart"
    WAIT = "wait"
    DONE = "done"
    FAIL_POD = "fail_pod"


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float
    reason: str
    next_backoff_steps: int  # to store on the container that is started next


def backoff_delay_s(steps: int) -> float:
    """Delay before restart number `steps` of a crash run: 0, 10, 20, 40, ... capped at 300."""
    if steps <= 0:
        return 0.0
    return min(BASE_BACKOFF_S * (2.0 ** (steps - 1)), MAX_BACKOFF_S)


def decide(*, policy: str, exit_code: int, is_init: bool, backoff_steps: int, ran_s: float,
           since_exit_s: float) -> Decision:
    """Decide what to do with a container that exited with `exit_code`.

    `backoff_steps`: the steps recorded on the exited instance; `ran_s`: how long it ran;
    `since_exit_s`: seconds since it exited (for the remaining delay).
    """
    policy = policy or "Always"
    ok = exit_code == 0
    if is_init:
        if ok:
            return Decision(Action.DONE, 0.0, "Completed", 0)
        if policy == "Never":
            return Decision(Action.FAIL_POD, 0.0, "Init:Error", backoff_steps)
    elif policy == "Never" or (policy == "OnFailure" and ok):
        return Decision(Action.DONE, 0.0, "Completed" if ok else "Error", backoff_steps)
    steps = 0 if ran_s >= RESET_AFTER_S else backoff_steps
    delay = backoff_delay_s(steps)
    remaining = max(0.0, delay - max(0.0, since_exit_s))
    if remaining > 0:
        return Decision(Action.WAIT, remaining, "CrashLoopBackOff", steps)
    return Decision(Action.RESTART, 0.0, "", steps + 1)
