"""LimitRanger admission logic (apiserver/admission/limitranger.py): defaults and messages."""

from __future__ import annotations

from typing import Any

from apiserver.admission import limitranger
from machinery.defaults import apply_defaults
from machinery.models import LimitRange

Obj = dict[str, Any]


def _lr(*items: Obj) -> Obj:
    """A LimitRange as the API server stores it (API defaults applied)."""
    lr = LimitRange.from_dict({"metadata": {"name": "lr"}, "spec": {"limits": list(items)}})
    return apply_defaults(lr).to_dict()


def _pod(*containers: Obj) -> Obj:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers)}}


def test_limit_range_api_defaults() -> None:
    lr = _lr({"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "64Mi"}})
    item = lr["spec"]["limits"][0]
    assert item["default"] == {"cpu": "1"}
    assert item["defaultRequest"] == {"cpu": "1", "memory": "64Mi"}


def test_defaults_fill_missing_resources_and_annotate() -> None:
    lr = _lr({"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
              "defaultRequest": {"cpu": "100m", "memory": "128Mi"}})
    pod = _pod({"name": "a"}, {"name": "b", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}})
    assert limitranger.default_pod(pod, [lr])
    a, b = pod["spec"]["containers"]
    assert a["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert b["resources"] == {"requests": {"cpu": "2", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "256Mi"}}
    assert pod["metadata"]["annotations"][limitranger.ANNOTATION] == (
        "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; "
        "memory request for container b; memory limit for container b")


def test_no_defaults_leave_pod_untouched() -> None:
    pod = _pod({"name": "a"})
    assert not limitranger.default_pod(pod, [_lr({"type": "Pod", "max": {"cpu": "1"}})])
    assert "annotations" not in pod["metadata"]


def test_min_max_messages_as_kubernetes() -> None:
    lr = _lr({"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}})
    low = _pod({"name": "a", "resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "512Mi"}}})
    assert limitranger.forbidden_message("Pod", low, [lr]) == \
        "minimum cpu usage per Container is 100m, but request is 50m"
    both = _pod({"name": "a", "resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "2Gi"}}})
    assert limitranger.forbidden_message("Pod", both, [lr]) == (
        "[minimum cpu usage per Container is 100m, but request is 50m, "
        "maximum memory usage per Container is 1Gi, but limit is 2Gi]")
    missing = _pod({"name": "a", "resources": {"requests": {"cpu": "200m"}}})
    assert limitranger.forbidden_message("Pod", missing, [lr]) == \
        "maximum memory usage per Container is 1Gi.  No limit is specified"
    ok = _pod({"name": "a", "resources": {"requests": {"cpu": "0.2"}, "limits": {"memory": "1Gi"}}})
    assert limitranger.forbidden_message("Pod", ok, [lr]) is None


def test_ratio_message() -> None:
    lr = _lr({"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}})
    pod = _pod({"name": "a", "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "300m"}}})
    assert limitranger.forbidden_message("Pod", pod, [lr]) == \
        "cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000"
    unset = _pod({"name": "a", "resources": {"limits": {"memory": "1Gi"}}})
    assert limitranger.forbidden_message("Pod", unset, [lr]) == \
        "cpu max limit to request ratio per Container is 2, but no request is specified or request is 0"


def test_pod_type_sums_containers() -> None:
    lr = _lr({"type": "Pod", "max": {"cpu": "1"}})
    two = _pod({"name": "a", "resources": {"limits": {"cpu": "600m"}}},
               {"name": "b", "resources": {"limits": {"cpu": "600m"}}})
    assert limitranger.forbidden_message("Pod", two, [lr]) == \
        "maximum cpu usage per Pod is 1, but limit is 1200m"
    one = _pod({"name": "a", "resources": {"limits": {"cpu": "600m"}}})
    assert limitranger.forbidden_message("Pod", one, [lr]) is None


def test_pvc_storage_min_max() -> None:
    lr = _lr({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})
    small = {"spec": {"resources": {"requests": {"storage": "500Mi"}}}}
    big = {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    fine = {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}
    assert limitranger.forbidden_message("PersistentVolumeClaim", small, [lr]) == \
        "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"
    assert limitranger.forbidden_message("PersistentVolumeClaim", big, [lr]) == \
        "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"
    assert limitranger.forbidden_message("PersistentVolumeClaim", fine, [lr]) is None
