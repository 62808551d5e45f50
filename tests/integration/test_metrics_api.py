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


async def test_apiserver_metrics_count_requests_watchers_and_etcd(api_client: ApiClient) -> None:
    await api_client.request("GET", "/api/v1/namespaces/default/configmaps")
    await api_client.request("POST", "/api/v1/namespaces/default/configmaps",
                             json={"metadata": {"name": "prom-cm"}, "data": {"a": "1"}})
    with pytest.raises(errors.NotFound):
        await api_client.request("GET", "/api/v1/namespaces/default/configmaps/nope")

    async def watch() -> None:
        async for _ in api_client.stream_lines("/api/v1/namespaces/default/configmaps",
                                               params={"watch": "1", "timeoutSeconds": "30"}, timeout_s=30):
            pass

    task = asyncio.create_task(watch())
    try:
        async def watched() -> bool:
            text = str(await api_client.request("GET", "/metrics"))
            return 'apiserver_registered_watchers{group="",kind="ConfigMap",version="v1"} 1.0' in text

        for _ in range(100):
            if await watched():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the open watch never showed in apiserver_registered_watchers")
        text = str(await api_client.request("GET", "/metrics"))
        lines = text.splitlines()

        def has(prefix: str, *parts: str) -> bool:
            return any(ln.startswith(prefix) and all(p in ln for p in parts) for ln in lines)

        assert has("apiserver_request_total{", 'verb="LIST"', 'resource="configmaps"', 'code="200"')
        assert has("apiserver_request_total{", 'verb="POST"', 'resource="configmaps"', 'code="201"')
        assert has("apiserver_request_total{", 'verb="GET"', 'resource="configmaps"', 'code="404"')
        assert has("apiserver_request_duration_seconds_bucket{", 'verb="POST"', 'resource="configmaps"', 'le="+Inf"')
        assert has("etcd_request_duration_seconds_count{", 'operation="create"', 'type="configmaps"')
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api_client.request("DELETE", "/api/v1/namespaces/default/configmaps/prom-cm")
