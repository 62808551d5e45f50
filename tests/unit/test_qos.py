"""machinery.qos: the one pod QoS implementation (defaulting and the kubelet both use it)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelet.status import qos_class as kubelet_qos_class
from machinery.defaults import apply_defaults
from machinery.models import Pod, PodSpec
from machinery.qos import pod_qos_class


def _spec(*resources: dict[str, Any] | None, init: dict[str, Any] | None = None) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": "x", **({"resources": r} if r is not None else {})}
                  for i, r in enumerate(resources)]
    spec: dict[str, Any] = {"containers": containers}
    if init is not None:
        spec["initContainers"] = [{"name": "init", "image": "x", "resources": init}]
    return spec


CASES = [
    (_spec(None), "BestEffort"),
    (_spec({"requests": {"ephemeral-storage": "1Gi"}}), "BestEffort"),  # only cpu/memory count
    (_spec({"limits": {"cpu": "1", "memory": "1Gi"}}), "Guaranteed"),  # requests from limits
    # the case: equal by value, not by spelling
    (_spec({"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
     "Guaranteed"),
    (_spec({"requests": {"cpu": "1", "memory": "1073741824"}, "limits": {"cpu": "1000m", "memory": "1Gi"}}),
     "Guaranteed"),
    (_spec({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
     "Burstable"),
    (_spec({"limits": {"cpu": "1"}}), "Burstable"),  # memory not limited
    (_spec({"requests": {"cpu": "100m"}}), "Burstable"),
    (_spec({"limits": {"cpu": "1", "memory": "1Gi"}}, None), "Burstable"),  # one container without
    (_spec({"requests": {"cpu": "0"}, "limits": {"cpu": "0"}}), "BestEffort"),  # zero does not count
    (_spec({"limits": {"cpu": "1", "memory": "1Gi"}}, init={"limits": {"cpu": "2", "memory": "2Gi"}}),
     "Guaranteed"),
    (_spec({"limits": {"cpu": "1", "memory": "1Gi"}}, init={"requests": {"cpu": "1"}}), "Burstable"),
]


@pytest.mark.parametrize(("spec", "expected"), CASES)
def test_one_qos_for_dicts_models_defaulting_and_kubelet(spec: dict[str, Any], expected: str) -> None:
    assert pod_qos_class(spec) == expected
    assert pod_qos_class(PodSpec.model_validate(spec)) == expected
    assert kubelet_qos_class(spec) == expected
    pod = apply_defaults(Pod.model_validate({"metadata": {"name": "p"}, "spec": spec}))
    assert pod.status is not None and pod.status.qosClass == expected
    # the kubelet sees the defaulted spec (requests filled from limits): same answer
    assert kubelet_qos_class(pod.to_dict()["spec"]) == expected


def test_a_malformed_quantity_never_raises() -> None:
    assert pod_qos_class(_spec({"limits": {"cpu": "lots", "memory": "1Gi"}})) == "Guaranteed"
    assert pod_qos_class(_spec({"requests": {"cpu": "lots"}})) == "Burstable"
