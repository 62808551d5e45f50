"""Turning a recommendation into the replica count to set (Kubernetes' horizontal.go
normalizeDesiredReplicas and normalizeDesiredReplicasWithBehaviors), with the state it needs.

Contract:
- `Normalizer(downscale_stabilization_s=300.0, clock=REAL_CLOCK)` keeps, per HPA key, the
  recent recommendations and scale events (monotonic time from the clock, so tests drive it
  with a FakeClock).
- `normalize(key, behavior, *, current, desired, min_replicas, max_replicas) -> Normalized`:
  * without `behavior` (dict, None): the highest recommendation of the downscale
    stabilization window wins, scale-up is limited to max(2 x current, 4) per sync, then min/max;
  * with `behavior` (autoscaling/v2 HorizontalPodAutoscalerBehavior as a dict, defaulted by the
    API server): the scale-up window takes the lowest recent recommendation, the scale-down
    window the highest (scaleDown.stabilizationWindowSeconds unset: the controller's
    `downscale_stabilization_s`); then the policies (Pods / Percent per periodSeconds, over the
    scale events recorded in the period; selectPolicy Max/Min/Disabled) bound the change.
  `Normalized.replicas`, and the AbleToScale (`able_reason`, `able_message`) and ScalingLimited
  (`limited`, `limited_reason`, `limited_message`) condition fields, worded as Kubernetes.
- `record_scale(key, behavior, old, new)` stores a scale event (behaviors' rate limits);
  `forget(key)` drops an HPA's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from machinery.clock import REAL_CLOCK, Clock
from machinery.models.autoscaling import HPA_SCALE_DOWN, HPA_SCALE_UP

WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
READY = ("ReadyForNewScale", "recommended size matches current size")
DOWN_STABILIZED = ("ScaleDownStabilized",
                   "recent recommendations were higher than current one, applying the highest recent recommendation")
UP_STABILIZED = ("ScaleUpStabilized",
                 "recent recommendations were lower than current one, applying the lowest recent recommendation")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")

DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN = HPA_SCALE_UP, HPA_SCALE_DOWN


@dataclass
class Normalized:
    replicas: int
    able_reason: str
    able_message: str
    limited_reason: str
    limited_message: str

    @property
    def limited(self) -> bool:
        return self.limited_reason != WITHIN_RANGE[0]


@dataclass
class _State:
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)


def default_behavior(behavior: dict[str, Any] | None) -> dict[str, Any] | None:
    """Kubernetes' SetDefaults_HorizontalPodAutoscalerBehavior: only a given behavior is filled."""
    if behavior is None:
        return None
    out = dict(behavior)
    for key, dflt in (("scaleUp", DEFAULT_SCALE_UP), ("scaleDown", DEFAULT_SCALE_DOWN)):
        rules = dict(out.get(key) or {})
        for k, v in dflt.items():
            if rules.get(k) is None:
                rules[k] = v
        out[key] = rules
    return out


def _period_change(events: list[tuple[float, int]], period_s: float, now_s: float) -> int:
    return sum(change for at, change in events if at > now_s - period_s)


def scale_up_limit(current: int, events: list[tuple[float, int]], rules: dict[str, Any], now_s: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for pol in rules.get("policies") or []:
        start = current - _period_change(events, float(pol.get("periodSeconds") or 0), now_s)
        if pol.get("type") == "Pods":
            proposals.append(start + int(pol.get("value") or 0))
        else:
            proposals.append(math.ceil(start * (1 + int(pol.get("value") or 0) / 100)))
    if not proposals:
        return current
    return min(proposals) if select == "Min" else max(proposals)


def scale_down_limit(current: int, events: list[tuple[float, int]], rules: dict[str, Any], now_s: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for pol in rules.get("policies") or []:
        start = current + _period_change(events, float(pol.get("periodSeconds") or 0), now_s)
        if pol.get("type") == "Pods":
            proposals.append(start - int(pol.get("value") or 0))
        else:
            proposals.append(int(start * (1 - int(pol.get("value") or 0) / 100)))
    if not proposals:
        return current
    # "Max" picks the policy that allows the biggest change: the lowest bound.
    return max(proposals) if select == "Min" else min(proposals)


class Normalizer:
    def __init__(self, downscale_stabilization_s: float = 300.0, clock: Clock = REAL_CLOCK) -> None:
        self.window_s = downscale_stabilization_s
        self.clock = clock
        self._state: dict[str, _State] = {}

    def forget(self, key: str) -> None:
        self._state.pop(key, None)

    def _keep(self, st: _State, now_s: float, horizon_s: float, desired: int) -> None:
        st.recommendations = [(at, r) for at, r in st.recommendations if at > now_s - horizon_s]
        st.recommendations.append((now_s, desired))

    def normalize(self, key: str, behavior: dict[str, Any] | None, *, current: int, desired: int,
                  min_replicas: int, max_replicas: int) -> Normalized:
        st = self._state.setdefault(key, _State())
        now_s = self.clock.monotonic()
        if behavior is None:
            stabilized = max([desired] + [r for at, r in st.recommendations if at > now_s - self.window_s])
            self._keep(st, now_s, self.window_s, desired)
            able = DOWN_STABILIZED if stabilized != desired else READY
            limit_up = max(2 * current, 4)
            allowed_max = min(max_replicas, limit_up)
            if stabilized < min_replicas:
                return Normalized(min_replicas, *able, *TOO_FEW)
            if stabilized > allowed_max:
                return Normalized(allowed_max, *able, *(TOO_MANY if max_replicas < limit_up else UP_LIMIT))
            return Normalized(stabilized, *able, *WITHIN_RANGE)
        up = behavior.get("scaleUp") or DEFAULT_SCALE_UP
        down = behavior.get("scaleDown") or DEFAULT_SCALE_DOWN
        up_window = float(up.get("stabilizationWindowSeconds") or 0)
        down_w = down.get("stabilizationWindowSeconds")
        down_window = self.window_s if down_w is None else float(down_w)
        up_rec = min([desired] + [r for at, r in st.recommendations if at > now_s - up_window])
        down_rec = max([desired] + [r for at, r in st.recommendations if at > now_s - down_window])
        self._keep(st, now_s, max(up_window, down_window), desired)
        stabilized = min(max(current, up_rec), down_rec)
        able = READY if stabilized == desired else DOWN_STABILIZED if stabilized > desired else UP_STABILIZED
        if stabilized > current:
            limit = max(current, scale_up_limit(current, st.up_events, up, now_s))
            allowed, reason = (limit, UP_LIMIT) if max_replicas > limit else (max_replicas, TOO_MANY)
            if stabilized > allowed:
                return Normalized(allowed, *able, *reason)
        elif stabilized < current:
            limit = min(current, scale_down_limit(current, st.down_events, down, now_s))
            allowed, reason = (limit, DOWN_LIMIT) if min_replicas < limit else (min_replicas, TOO_FEW)
            if stabilized < allowed:
                return Normalized(allowed, *able, *reason)
        if stabilized < min_replicas:
            return Normalized(min_replicas, *able, *TOO_FEW)
        if stabilized > max_replicas:
            return Normalized(max_replicas, *able, *TOO_MANY)
        return Normalized(stabilized, *able, *WITHIN_RANGE)

    def record_scale(self, key: str, behavior: dict[str, Any] | None, old: int, new: int) -> None:
        if behavior is None or old == new:
            return
        st = self._state.setdefault(key, _State())
        now_s = self.clock.monotonic()
        longest = max([float(p.get("periodSeconds") or 0) for rules in (behavior.get("scaleUp") or {},
                                                                       behavior.get("scaleDown") or {})
                       for p in rules.get("policies") or []] + [0.0])
        if new > old:
            st.up_events = [e for e in st.up_events if e[0] > now_s - longest] + [(now_s, new - old)]
        else:
            st.down_events = [e for e in st.down_events if e[0] > now_s - longest] + [(now_s, old - new)]
