"""Node update validation: a pod CIDR, once set, never changes (as Kubernetes' ValidateNodeUpdate)."""

from __future__ import annotations

from typing import Any

from apiserver.admission.validation import validate
from machinery.models import Node


def _node(spec: dict[str, Any]) -> Node:
    return Node.from_dict({"metadata": {"name": "n1"}, "spec": spec})


def test_pod_cidr_can_be_set_once() -> None:
    assert validate(_node({"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}), _node({})) == []


def test_pod_cidr_cannot_change_or_be_removed() -> None:
    old = _node({"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]})
    for new in ({"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24"]}, {}):
        causes = validate(_node(new), old)
        assert [(c["field"], c["reason"]) for c in causes] == [("spec.podCIDRs", "FieldValueForbidden")], causes


def test_unchanged_pod_cidr_and_other_spec_changes_are_fine() -> None:
    old = _node({"podCIDR": "10.244.1.0/24"})
    assert validate(_node({"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "unschedulable": True}),
                    old) == []
