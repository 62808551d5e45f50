"""metrics.k8s.io through a real API server: advertised in discovery, 503 with Kubernetes'
message while no add-on has registered, relayed to the add-on once its Endpoints exist."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import uvicorn

from addons.metrics.server import create_app
from addons.metrics.store import MetricsStore
from machinery import errors
from machinery.client import ApiClient
from tests.support import free_port

pytestmark = pytest.mark.integration
BASE = "/apis/metrics.k8s.io/v1beta1"


async def test_discovery_503_then_relay(api_client: ApiClient) -> None:
    group = await api_client.request("GET", "/apis/metrics.k8s.io")
    assert group["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"
    resources = await api_client.request("GET", BASE)
    kinds = {r["name"]: (r["kind"], r["verbs"]) for r in resources["resources"]}
    assert kinds == {"nodes": ("NodeMetrics", ["get", "list"]), "pods": ("PodMetrics", ["get", "list"])}
    with contextlib.suppress(errors.NotFound):
        await api_client.request("DELETE", "/api/v1/namespaces/kube-system/endpoints/metrics-server")
    with pytest.raises(errors.ServiceUnavailable, match=r"unable to handle the request \(get pods.metrics.k8s.io\)"):
        await api_client.request("GET", f"{BASE}/namespaces/default/pods")

    store = MetricsStore()
    store.update_pod("default", "p", {"app": "x"}, {"containers": [{
        "name": "c", "cpu": {"usageCoreNanoSeconds": 1, "usageNanoCores": 3_000_000},
        "memory": {"workingSetBytes": 4 << 20}}]}, 1.0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await api_client.request("POST", "/api/v1/namespaces/kube-system/endpoints", json={
            "metadata": {"name": "metrics-server"},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]})
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        listed = await api_client.request("GET", f"{BASE}/namespaces/default/pods", params={"labelSelector": "app=x"})
        assert listed["kind"] == "PodMetricsList"
        assert listed["items"][0]["containers"][0]["usage"] == {"cpu": "3000000n", "memory": "4096Ki"}
        with pytest.raises(errors.NotFound):
            await api_client.request("GET", f"{BASE}/namespaces/default/pods/nope")
        with pytest.raises(errors.MethodNotAllowed):
            await api_client.request("DELETE", f"{BASE}/namespaces/default/pods/p")
    finally:
        server.should_exit = True
        await task
        await api_client.request("DELETE", "/api/v1/namespaces/kube-system/endpoints/metrics-server")
