"""The HPA's replica calculation and normalization (Kubernetes' replica_calculator_test.go and
horizontal_test.go cases), with a fake clock for the stabilization window and the policies."""

from __future__ import annotations

import pytest

from controllers.hpa.normalize import Normalizer, default_behavior, scale_down_limit, scale_up_limit
from controllers.hpa.replicas import MetricsError, PodInfo, raw_replicas, resource_replicas
from machinery.clock import FakeClock

NOW = 10_000.0


def pods(n: int, request: float = 100.0, **kw: object) -> list[PodInfo]:
    return [PodInfo(name=f"p{i}", requests={"c": request}, start_s=NOW - 600, ready_transition_s=NOW - 590,
                    **kw) for i in range(n)]  # type: ignore[arg-type]


def usage(*values: float) -> dict[str, dict[str, float]]:
    return {f"p{i}": {"c": v} for i, v in enumerate(values)}


def test_scale_up_to_ceil_of_ratio_times_ready_pods() -> None:
    rec = resource_replicas(3, 30, pods(3), usage(50, 50, 50), now_s=NOW)  # 50% of 30% -> x1.67
    assert (rec.replicas, rec.utilization) == (5, 50)


def test_within_tolerance_keeps_the_current_count() -> None:
    assert resource_replicas(3, 50, pods(3), usage(54, 54, 54), now_s=NOW).replicas == 3  # 1.08 <= 1.1
    assert resource_replicas(3, 50, pods(3), usage(56, 56, 56), now_s=NOW).replicas == 4  # 1.12 > 1.1
    assert resource_replicas(3, 50, pods(3), usage(56, 56, 56), now_s=NOW, tolerance=0.2).replicas == 3


def test_scale_down() -> None:
    assert resource_replicas(5, 50, pods(5), usage(10, 10, 10, 10, 10), now_s=NOW).replicas == 1


def test_missing_metrics_count_as_full_request_when_scaling_down() -> None:
    # 2 pods at 10%, 2 missing: at 100% they make 55% avg vs 50% target -> ratio 1.1 -> keep 4
    rec = resource_replicas(4, 50, pods(4), usage(10, 10), now_s=NOW)
    assert rec.replicas == 4


def test_missing_metrics_count_as_zero_when_scaling_up() -> None:
    # 2 pods at 150% of request, 2 missing (0): 75% vs 50% -> 1.5 x 4 = 6
    assert resource_replicas(4, 50, pods(4), usage(150, 150), now_s=NOW).replicas == 6


def test_unready_pods_count_as_zero_when_scaling_up() -> None:
    ps = pods(3)
    ps[2].ready = False
    ps[2].start_s = NOW - 10  # still in the cpu initialization period
    rec = resource_replicas(3, 50, ps, usage(100, 100, 100), now_s=NOW)
    assert rec.replicas == 4  # (100+100+0)/300 = 66% -> 1.33 x 3 = 4


def test_pending_and_deleted_pods_are_left_out() -> None:
    ps = pods(3)
    ps[1].phase = "Pending"
    ps[2].deleted = True
    # p0 at 200%; pending p1 counts as 0 on a scale up: (200 + 0) / 200 = 100% vs 50% -> 2 x 2 pods = 4
    assert resource_replicas(3, 50, ps, usage(200, 100, 100), now_s=NOW).replicas == 4


def test_missing_request_is_a_metrics_error() -> None:
    ps = pods(2)
    ps[0].requests = {"c": None}
    with pytest.raises(MetricsError, match="missing request for cpu in container c of Pod p0"):
        resource_replicas(2, 50, ps, usage(10, 10), now_s=NOW)


def test_no_pods_and_no_metrics_are_errors() -> None:
    with pytest.raises(MetricsError, match="no pods returned by selector"):
        resource_replicas(1, 50, [], {}, now_s=NOW)
    with pytest.raises(MetricsError, match="did not receive metrics"):
        resource_replicas(1, 50, pods(1, phase="Pending"), {}, now_s=NOW)


def test_container_resource_counts_one_container() -> None:
    ps = [PodInfo(name="p0", requests={"app": 100.0, "sidecar": 100.0}, start_s=NOW - 600, ready_transition_s=NOW - 590)]
    u = {"p0": {"app": 100.0, "sidecar": 0.0}}
    assert resource_replicas(1, 50, ps, u, container="app", now_s=NOW).replicas == 2
    assert resource_replicas(1, 50, ps, u, now_s=NOW).replicas == 1  # 50% of both: on target


def test_average_value_target() -> None:
    mib = 1024.0 * 1024
    assert raw_replicas(2, 64 * mib, pods(2), usage(128 * mib, 128 * mib), now_s=NOW).replicas == 4
    assert raw_replicas(2, 64 * mib, pods(2), usage(66 * mib, 60 * mib), now_s=NOW).replicas == 2


def test_downscale_waits_for_the_stabilization_window() -> None:
    clock = FakeClock(start_s=NOW)
    n = Normalizer(downscale_stabilization_s=300, clock=clock)
    first = n.normalize("ns/h", None, current=5, desired=5, min_replicas=1, max_replicas=10)
    assert (first.replicas, first.able_reason) == (5, "ReadyForNewScale")
    clock.advance(60)
    held = n.normalize("ns/h", None, current=5, desired=1, min_replicas=1, max_replicas=10)
    assert (held.replicas, held.able_reason) == (5, "ScaleDownStabilized")
    clock.advance(241)  # the recommendation of 5 is now older than the window
    down = n.normalize("ns/h", None, current=5, desired=1, min_replicas=1, max_replicas=10)
    assert down.replicas == 1 and not down.limited


def test_scale_up_limit_and_min_max_without_behavior() -> None:
    n = Normalizer(clock=FakeClock(start_s=NOW))
    up = n.normalize("k", None, current=1, desired=10, min_replicas=1, max_replicas=20)
    assert (up.replicas, up.limited_reason) == (4, "ScaleUpLimit")  # max(2*1, 4)
    capped = n.normalize("k2", None, current=2, desired=10, min_replicas=1, max_replicas=3)
    assert (capped.replicas, capped.limited_reason) == (3, "TooManyReplicas")
    low = n.normalize("k3", None, current=2, desired=0, min_replicas=2, max_replicas=3)
    assert (low.replicas, low.limited_reason) == (2, "TooFewReplicas")


def test_behavior_policies_bound_the_rate() -> None:
    clock = FakeClock(start_s=NOW)
    n = Normalizer(downscale_stabilization_s=0, clock=clock)
    behavior = default_behavior({"scaleDown": {"stabilizationWindowSeconds": 0,
                                               "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}})
    first = n.normalize("k", behavior, current=5, desired=1, min_replicas=1, max_replicas=10)
    assert (first.replicas, first.limited_reason) == (4, "ScaleDownLimit")
    n.record_scale("k", behavior, 5, 4)
    clock.advance(30)
    again = n.normalize("k", behavior, current=4, desired=1, min_replicas=1, max_replicas=10)
    assert again.replicas == 4  # one pod already removed in this 60 s period
    clock.advance(31)
    assert n.normalize("k", behavior, current=4, desired=1, min_replicas=1, max_replicas=10).replicas == 3


def test_behavior_scale_up_stabilization_takes_the_lowest() -> None:
    clock = FakeClock(start_s=NOW)
    n = Normalizer(clock=clock)
    behavior = default_behavior({"scaleUp": {"stabilizationWindowSeconds": 60}})
    n.normalize("k", behavior, current=2, desired=2, min_replicas=1, max_replicas=10)
    clock.advance(10)
    held = n.normalize("k", behavior, current=2, desired=6, min_replicas=1, max_replicas=10)
    assert (held.replicas, held.able_reason) == (2, "ScaleUpStabilized")


def test_policy_limits() -> None:
    up = {"selectPolicy": "Max", "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                              {"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert scale_up_limit(10, [], up, NOW) == 20
    assert scale_up_limit(2, [], up, NOW) == 6
    assert scale_up_limit(10, [], {**up, "selectPolicy": "Min"}, NOW) == 14
    assert scale_up_limit(10, [], {**up, "selectPolicy": "Disabled"}, NOW) == 10
    down = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}
    assert scale_down_limit(10, [], down, NOW) == 5
    assert scale_down_limit(10, [(NOW - 10, 5)], down, NOW) == 7  # period started at 15
