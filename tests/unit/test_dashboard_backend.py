"""The dashboard backend on the one fake clientset: the UI files, the API relay (with its CSRF
header and loopback Host checks), errors as Status, and the chart history's fallbacks."""

from __future__ import annotations

from typing import Any

import httpx

from addons.dashboard.metrics import History, usage_point
from addons.dashboard.server import create_app, host_allowed
from machinery import errors
from machinery.models import Pod
from tests.unit.fake_client import FakeClient


def _pod(name: str) -> Pod:
    return Pod.from_dict({"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "app", "image": "busybox"}]}})


def _http(app: Any, host: str = "127.0.0.1:8100") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


def test_host_allowed() -> None:
    assert all(host_allowed(h) for h in ("127.0.0.1:8100", "localhost", "[::1]:80", "localhost:1"))
    assert not any(host_allowed(h) for h in ("evil.example:8100", "10.0.0.1", ""))


async def test_ui_and_api_relay() -> None:
    fake = FakeClient()
    fake.add(_pod("web-1"))
    app = create_app(fake, History(fake))
    async with _http(app) as http:
        r = await http.get("/")
        assert r.status_code == 200 and "kubelite dashboard" in r.text
        r = await http.get("/static/app.js")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        assert (await http.get("/static/..%2Fserver.py")).status_code == 404
        r = await http.get("/api/v1/namespaces/default/pods")
        assert [p["metadata"]["name"] for p in r.json()["items"]] == ["web-1"]
        r = await http.get("/api/v1/namespaces/default/pods/nope")
        assert r.status_code == 404 and r.json()["reason"] == "NotFound"
        r = await http.delete("/api/v1/namespaces/default/pods/web-1")
        assert r.status_code == 403  # no CSRF header: refused before reaching the API
        assert fake.stored(Pod, "web-1", "default") is not None
        r = await http.delete("/api/v1/namespaces/default/pods/web-1", headers={"X-Kubelite-Dashboard": "1"})
        assert r.status_code == 200
    async with _http(app, "rebound.example:8100") as http:
        assert (await http.get("/api/v1/namespaces/default/pods")).status_code == 403


class MetricsApi:
    """Answers like an API server with or without the metrics add-on (and its history)."""

    def __init__(self, *, history: bool, metrics: bool) -> None:
        self.history, self.metrics, self.calls = history, metrics, 0

    async def request(self, method: str, path: str, **_: Any) -> Any:
        self.calls += 1
        if path.endswith("/history"):
            if not self.history:
                raise errors.NotFound("the server could not find the requested resource")
            return {"points": [{"timestamp": "2024-05-01T10:00:00Z", "cpuNanoCores": 5, "memoryBytes": 7}]}
        if not self.metrics:
            raise errors.ServiceUnavailable("no endpoints available for service metrics-server")
        return {"timestamp": f"2024-05-01T10:00:0{self.calls % 10}Z",
                "containers": [{"usage": {"cpu": "25m", "memory": "2Mi"}}, {"usage": {"cpu": "5m", "memory": "1Mi"}}]}


async def test_history_sources() -> None:
    h = History(MetricsApi(history=True, metrics=True))
    got = await h.points("pod", "default", "web-1")
    assert got["source"] == "metrics-history" and got["points"][0]["cpuNanoCores"] == 5
    h = History(MetricsApi(history=False, metrics=True), sample_every_s=3600)
    got = await h.points("pod", "default", "web-1")
    assert got["source"] == "dashboard-sampler" and got["points"][0]["cpuNanoCores"] == 30_000_000
    assert got["points"][0]["memoryBytes"] == 3 * 1024 * 1024
    await h.close()
    h = History(MetricsApi(history=False, metrics=False), sample_every_s=3600)
    got = await h.points("node", "", "n1")
    assert got["source"] == "none" and got["points"] == [] and "no endpoints" in got["message"]
    await h.close()


def test_usage_point_of_node_metrics() -> None:
    p = usage_point({"timestamp": "t", "usage": {"cpu": "1500000n", "memory": "10Ki"}}, "now")
    assert p == {"timestamp": "t", "cpuNanoCores": 1_500_000, "memoryBytes": 10240}
