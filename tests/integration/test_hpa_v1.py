"""autoscaling/v1 HorizontalPodAutoscaler through a real API server: served by conversion from
the stored v2 object, v2 stays the preferred version, and the v2-only fields survive a v1
round trip in annotations (as Kubernetes does)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.hpaconvert import METRICS, to_v1, to_v2

pytestmark = pytest.mark.integration
V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"


async def test_v1_is_served_by_conversion(api_client: ApiClient) -> None:
    group = await api_client.request("GET", "/apis/autoscaling")
    assert group["preferredVersion"]["version"] == "v2"
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]
    body: dict[str, Any] = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web1"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60}}
    with contextlib.suppress(errors.NotFound):
        await api_client.request("DELETE", f"{V2}/web1")
    created = await api_client.request("POST", V1, json=body)
    try:
        assert created["apiVersion"] == "autoscaling/v1" and created["spec"]["targetCPUUtilizationPercentage"] == 60
        v2 = await api_client.request("GET", f"{V2}/web1")
        assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
        # a v2-only metric added through v2 rides in a v1 annotation and survives a v1 update
        v2["spec"]["metrics"].append({"type": "Resource", "resource": {
            "name": "memory", "target": {"type": "AverageValue", "averageValue": "64Mi"}}})
        await api_client.request("PUT", f"{V2}/web1", json=v2)
        got = await api_client.request("GET", f"{V1}/web1")
        assert METRICS in got["metadata"]["annotations"] and "metrics" not in got["spec"]
        got["spec"]["maxReplicas"] = 5
        await api_client.request("PUT", f"{V1}/web1", json=got)
        again = await api_client.request("GET", f"{V2}/web1")
        assert again["spec"]["maxReplicas"] == 5 and len(again["spec"]["metrics"]) == 2
        assert METRICS not in (again["metadata"].get("annotations") or {})
        listed = await api_client.request("GET", V1)
        assert listed["apiVersion"] == "autoscaling/v1" and any(i["metadata"]["name"] == "web1" for i in listed["items"])
        with pytest.raises(errors.Invalid):
            await api_client.request("POST", V1, json={**body, "metadata": {"name": "bad"},
                                                       "spec": {**body["spec"], "maxReplicas": 0}})
        with pytest.raises(errors.MethodNotAllowed):
            await api_client.request("PATCH", f"{V1}/web1", json={"spec": {"maxReplicas": 3}},
                                     headers={"Content-Type": "application/merge-patch+json"})
    finally:
        await api_client.request("DELETE", f"{V1}/web1")


def test_conversion_round_trip_keeps_status() -> None:
    v2 = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
          "spec": {"maxReplicas": 3, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 5}},
                   "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                       "type": "Utilization", "averageUtilization": 50}}}]},
          "status": {"currentReplicas": 2, "desiredReplicas": 2,
                     "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                         "averageUtilization": 42}}}],
                     "conditions": [{"type": "AbleToScale", "status": "True"}]}}
    v1 = to_v1(v2)
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50 and v1["status"]["currentCPUUtilizationPercentage"] == 42
    assert "conditions" not in v1["status"] and "behavior" not in v1["spec"]
    assert to_v2(v1) == v2
