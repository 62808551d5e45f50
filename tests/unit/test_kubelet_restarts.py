"""The pure restart policy: decision table and CrashLoopBackOff arithmetic."""

import pytest

from kubelet.restarts import Action, backoff_delay_s, decide


def test_backoff_sequence_doubles_and_caps() -> None:
    assert [backoff_delay_s(n) for n in range(8)] == [0, 10, 20, 40, 80, 160, 300, 300]


@pytest.mark.parametrize(
    ("policy", "code", "action", "reason"),
    [
        ("Always", 0, Action.RESTART, ""),
        ("Always", 1, Action.RESTART, ""),
        ("OnFailure", 0, Action.DONE, "Completed"),
        ("OnFailure", 2, Action.RESTART, ""),
        ("Never", 0, Action.DONE, "Completed"),
        ("Never", 3, Action.DONE, "Error"),
    ],
)
def test_app_container_table(policy: str, code: int, action: Action, reason: str) -> None:
    d = decide(policy=policy, exit_code=code, is_init=False, backoff_steps=0, ran_s=1, since_exit_s=0)
    assert (d.action, d.reason) == (action, reason)


def test_init_container_table() -> None:
    ok = decide(policy="Never", exit_code=0, is_init=True, backoff_steps=0, ran_s=1, since_exit_s=0)
    assert ok.action is Action.DONE
    fail_never = decide(policy="Never", exit_code=1, is_init=True, backoff_steps=0, ran_s=1, since_exit_s=0)
    assert (fail_never.action, fail_never.reason) == (Action.FAIL_POD, "Init:Error")
    fail_always = decide(policy="Always", exit_code=1, is_init=True, backoff_steps=0, ran_s=1, since_exit_s=0)
    assert fail_always.action is Action.RESTART


def test_first_crash_restarts_at_once_then_backs_off() -> None:
    first = decide(policy="Always", exit_code=1, is_init=False, backoff_steps=0, ran_s=1, since_exit_s=0)
    assert first.action is Action.RESTART and first.next_backoff_steps == 1
    second = decide(policy="Always", exit_code=1, is_init=False, backoff_steps=1, ran_s=1, since_exit_s=3)
    assert (second.action, second.reason) == (Action.WAIT, "CrashLoopBackOff")
    assert second.delay_s == pytest.approx(7)
    later = decide(policy="Always", exit_code=1, is_init=False, backoff_steps=1, ran_s=1, since_exit_s=10.5)
    assert later.action is Action.RESTART and later.next_backoff_steps == 2
    capped = decide(policy="Always", exit_code=1, is_init=False, backoff_steps=9, ran_s=1, since_exit_s=0)
    assert capped.delay_s == 300


def test_long_run_resets_backoff() -> None:
    d = decide(policy="Always", exit_code=1, is_init=False, backoff_steps=6, ran_s=601, since_exit_s=0)
    assert d.action is Action.RESTART and d.next_backoff_steps == 1
