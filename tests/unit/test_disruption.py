"""PodDisruptionBudget arithmetic (machinery/disruption.py): status and eviction decisions."""

from __future__ import annotations

from typing import Any

from machinery import disruption

Obj = dict[str, Any]
NOW = "2026-01-01T00:00:00Z"


def _pod(name: str, *, ready: bool = True, app: str = "web") -> Obj:
    return {"metadata": {"name": name, "labels": {"app": app}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _pdb(**spec: Any) -> Obj:
    return {"metadata": {"name": "web", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def test_min_available_int_and_percent() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c", ready=False), _pod("x", app="other")]
    st = disruption.compute_status(_pdb(minAvailable=1), pods, None, now=NOW)
    assert (st["expectedPods"], st["currentHealthy"], st["desiredHealthy"], st["disruptionsAllowed"]) == (3, 2, 1, 1)
    assert st["conditions"][0]["reason"] == "SufficientPods"
    st = disruption.compute_status(_pdb(minAvailable="50%"), pods, 3, now=NOW)
    assert (st["desiredHealthy"], st["disruptionsAllowed"]) == (2, 0)  # 1.5 rounded up
    assert st["conditions"][0]["status"] == "False"


def test_max_unavailable() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c")]
    st = disruption.compute_status(_pdb(maxUnavailable=1), pods, 3, now=NOW)
    assert (st["desiredHealthy"], st["disruptionsAllowed"]) == (2, 1)
    st = disruption.compute_status(_pdb(maxUnavailable="34%"), pods, 3, now=NOW)
    assert (st["desiredHealthy"], st["disruptionsAllowed"]) == (1, 2)  # 34% of 3 rounds up to 2


def test_eviction_decisions() -> None:
    pdb = _pdb(minAvailable=2)
    pdb["status"] = {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2}
    assert disruption.eviction_refusal(pdb, _pod("a")) == (
        "The disruption budget web needs 2 healthy pods and has 2 currently", False)
    # An unhealthy pod may go while the budget is met (IfHealthyBudget), not charging it.
    assert disruption.eviction_refusal(pdb, _pod("c", ready=False)) == (None, False)
    pdb["status"].update(currentHealthy=1)
    assert disruption.eviction_refusal(pdb, _pod("c", ready=False))[0] is not None
    pdb["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    assert disruption.eviction_refusal(pdb, _pod("c", ready=False)) == (None, False)
    pdb["status"].update(disruptionsAllowed=1, currentHealthy=3)
    assert disruption.eviction_refusal(pdb, _pod("a")) == (None, True)
    pdb["metadata"]["generation"] = 2
    assert "still being processed" in (disruption.eviction_refusal(pdb, _pod("a"))[0] or "")
