"""PriorityClass validation (Kubernetes' ValidatePriorityClass[Update]) and defaulting."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.admission.validation import parse_object, validate
from machinery.defaults import apply_defaults
from machinery.models import PriorityClass


def pc(name: str, value: int, **extra: Any) -> PriorityClass:
    body = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, **extra}
    model, causes = parse_object(PriorityClass, body)
    assert causes == [] and isinstance(model, PriorityClass)
    return apply_defaults(model)


def messages(obj: PriorityClass, old: PriorityClass | None = None) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in validate(obj, old)]


def test_preemption_policy_defaults_to_preempt_lower_priority() -> None:
    assert pc("high", 10).preemptionPolicy == "PreemptLowerPriority"
    assert pc("high", 10, preemptionPolicy="Never").preemptionPolicy == "Never"
    assert messages(pc("bad", 10, preemptionPolicy="Sometimes")) == [
        'preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"']


def test_system_prefix_is_reserved() -> None:
    assert messages(pc("system-node-critical", 2000001000)) == []
    assert messages(pc("system-cluster-critical", 2000000000)) == []
    prefix = "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: "
    assert messages(pc("system-mine", 5)) == [prefix + "system-mine is not a known system priority class"]
    assert messages(pc("system-node-critical", 5)) == [
        prefix + "value of system-node-critical PriorityClass must be 2000001000"]
    assert messages(pc("system-cluster-critical", 2000000000, globalDefault=True)) == [
        prefix + "globalDefault of system-cluster-critical PriorityClass must be false"]


@pytest.mark.parametrize(("value", "ok"), [(1_000_000_000, True), (1_000_000_001, False), (-5, True)])
def test_user_classes_are_at_most_one_billion(value: int, ok: bool) -> None:
    expected = [] if ok else ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
    assert messages(pc("user", value)) == expected


def test_value_and_preemption_policy_are_immutable() -> None:
    old = pc("user", 10)
    assert messages(pc("user", 10, description="changed", globalDefault=True), old) == []
    assert messages(pc("user", 11), old) == ["value: Forbidden: may not be changed in an update."]
    assert messages(pc("user", 10, preemptionPolicy="Never"), old) == [
        'preemptionPolicy: Invalid value: "Never": field is immutable']
    stored_before_defaulting = PriorityClass.model_validate({"metadata": {"name": "user"}, "value": 10})
    assert messages(pc("user", 10), stored_before_defaulting) == []
