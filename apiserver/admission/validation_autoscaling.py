"""Validation of autoscaling/v2 HorizontalPodAutoscaler (pkg/apis/autoscaling/validation).

Contract: `validate_hpa(errs, hpa)` adds causes for: scaleTargetRef kind and name required;
minReplicas >= 1; maxReplicas >= 1 and >= minReplicas; each metric of a known type with its
source (Resource, ContainerResource: name and, for the latter, container required; Pods,
Object, External are refused: kubelite has no custom/external metrics API); a target of type
Utilization (averageUtilization > 0) or AverageValue/Value (a quantity > 0); behavior:
stabilizationWindowSeconds 0..3600, selectPolicy Max/Min/Disabled, every policy Pods or
Percent with value > 0 and periodSeconds 1..1800. Messages as Kubernetes'.
"""

from __future__ import annotations

from apiserver.admission.validation_common import Errs
from machinery.models import HorizontalPodAutoscaler, HPAScalingRules, MetricSpec
from machinery.quantity import parse_quantity

METRIC_TYPES = ("Resource", "ContainerResource", "Pods", "Object", "External")
SERVED_METRIC_TYPES = ("Resource", "ContainerResource")
TARGET_TYPES = ("Utilization", "Value", "AverageValue")
SELECT_POLICIES = ("Max", "Min", "Disabled")
POLICY_TYPES = ("Pods", "Percent")
MAX_PERIOD_S, MAX_WINDOW_S = 1800, 3600


def _metric(errs: Errs, path: str, m: MetricSpec) -> None:
    errs.enum(f"{path}.type", m.type, METRIC_TYPES, required=True)
    if m.type and m.type in METRIC_TYPES and m.type not in SERVED_METRIC_TYPES:
        errs.not_supported(f"{path}.type", m.type, SERVED_METRIC_TYPES)
        return
    src = m.containerResource if m.type == "ContainerResource" else m.resource
    field = "containerResource" if m.type == "ContainerResource" else "resource"
    if src is None:
        if m.type in SERVED_METRIC_TYPES:
            errs.required(f"{path}.{field}", "must populate information for the given metric source")
        return
    if not src.name:
        errs.required(f"{path}.{field}.name", "resource name is required")
    if m.type == "ContainerResource" and not getattr(src, "container", ""):
        errs.required(f"{path}.{field}.container", "container name is required")
    t = src.target
    if t is None:
        errs.required(f"{path}.{field}.target", "must set target")
        return
    errs.enum(f"{path}.{field}.target.type", t.type, TARGET_TYPES, required=True)
    if t.type == "Utilization":
        if t.averageUtilization is None:
            errs.required(f"{path}.{field}.target.averageUtilization", "must set averageUtilization")
        elif t.averageUtilization <= 0:
            errs.invalid(f"{path}.{field}.target.averageUtilization", t.averageUtilization, "must be greater than 0")
    elif t.type in ("Value", "AverageValue"):
        value = t.averageValue if t.type == "AverageValue" else t.value
        key = "averageValue" if t.type == "AverageValue" else "value"
        if value is None:
            errs.required(f"{path}.{field}.target.{key}", f"must set {key}")
            return
        try:
            ok = parse_quantity(value) > 0
        except (ValueError, ArithmeticError):
            ok = False
        if not ok:
            errs.invalid(f"{path}.{field}.target.{key}", value, "must be positive")


def _rules(errs: Errs, path: str, rules: HPAScalingRules | None) -> None:
    if rules is None:
        return
    w = rules.stabilizationWindowSeconds
    if w is not None and not 0 <= w <= MAX_WINDOW_S:
        errs.invalid(f"{path}.stabilizationWindowSeconds", w, f"must be less than or equal to {MAX_WINDOW_S}"
                     if w > 0 else "must be greater than or equal to zero")
    errs.enum(f"{path}.selectPolicy", rules.selectPolicy, SELECT_POLICIES)
    if rules.policies is not None and not rules.policies and rules.selectPolicy != "Disabled":
        errs.required(f"{path}.policies", "must specify at least one Policy")
    for i, p in enumerate(rules.policies or []):
        ppath = f"{path}.policies[{i}]"
        errs.enum(f"{ppath}.type", p.type, POLICY_TYPES, required=True)
        if p.value <= 0:
            errs.invalid(f"{ppath}.value", p.value, "must be greater than zero")
        if p.periodSeconds <= 0:
            errs.invalid(f"{ppath}.periodSeconds", p.periodSeconds, "must be greater than zero")
        elif p.periodSeconds > MAX_PERIOD_S:
            errs.invalid(f"{ppath}.periodSeconds", p.periodSeconds, f"must be less than or equal to {MAX_PERIOD_S}")


def validate_hpa(errs: Errs, hpa: HorizontalPodAutoscaler) -> None:
    spec = hpa.spec
    if spec is None:
        errs.required("spec", "")
        return
    ref = spec.scaleTargetRef
    if ref is None or not ref.kind:
        errs.required("spec.scaleTargetRef.kind", "")
    if ref is None or not ref.name:
        errs.required("spec.scaleTargetRef.name", "")
    if spec.minReplicas is not None and spec.minReplicas < 1:
        errs.invalid("spec.minReplicas", spec.minReplicas, "must be greater than or equal to 1")
    if spec.maxReplicas < 1:
        errs.invalid("spec.maxReplicas", spec.maxReplicas, "must be greater than 0")
    elif spec.minReplicas is not None and spec.maxReplicas < spec.minReplicas:
        errs.invalid("spec.maxReplicas", spec.maxReplicas, "must be greater than or equal to `minReplicas`")
    for i, m in enumerate(spec.metrics or []):
        _metric(errs, f"spec.metrics[{i}]", m)
    if spec.behavior is not None:
        _rules(errs, "spec.behavior.scaleUp", spec.behavior.scaleUp)
        _rules(errs, "spec.behavior.scaleDown", spec.behavior.scaleDown)
