"""Resource metrics and the HPA on a real cluster (real Docker, the metrics add-on as its own
process): `kubelite top` and the real `kubectl top` show CPU for a busy pod; an HPA scales a
CPU-burning Deployment from 1 to its max and back to 1 after a short stabilization window.

Short settings: kubelet stats every 1 s, add-on scrape every 2 s, HPA sync every 2 s with a
10 s downscale stabilization window. The burning pods are capped at 200m (limits) so three of
them take at most 0.6 of a core of this shared machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from machinery.client import ApiClient
from tests.e2e.conftest import ROOT, Cluster, Proc, _wait_http, run_cluster
from tests.support import free_port, session_pki, wait_until

pytestmark = pytest.mark.e2e
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
IMAGE = "kubelite/busybox:latest"


@pytest.fixture(scope="module")
def mcluster() -> Iterator[Cluster]:
    with run_cluster(control_plane=True, kubelet_args=("--stats-interval-s", "1"),
                     controller_args=("--horizontal-pod-autoscaler-sync-period", "2s",
                                      "--horizontal-pod-autoscaler-downscale-stabilization", "10s")) as c:
        proc = Proc([sys.executable, "-m", "addons.metrics", "--kubeconfig", str(c.kubeconfig_for("metrics-server")),
                     "--scrape-interval-s", "2", "--log-level", "warning"], c.tmp / "metrics.log")
        proc.start()
        try:
            yield c
        finally:
            proc.stop()


def _kubelite(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "--kubeconfig", str(c.kubeconfig), *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def _kubectl(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(c.kubeconfig), "HOME": str(c.tmp)}
    return subprocess.run([str(KUBECTL), "--cache-dir", str(c.tmp / "kubectl-cache"), *args],
                          capture_output=True, text=True, timeout=60, env=env)


def _burner(ctl_dir: Path) -> dict[str, Any]:
    """A container that burns CPU until ctl_dir/stop exists (request 10m, limit 200m)."""
    return {"name": "burn", "image": IMAGE, "command": ["sh", "-c", "while [ ! -e /ctl/stop ]; do :; done; sleep 3600"],
            "resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "200m"}},
            "volumeMounts": [{"name": "ctl", "mountPath": "/ctl"}]}


def _volumes(ctl_dir: Path) -> list[dict[str, Any]]:
    return [{"name": "ctl", "hostPath": {"path": str(ctl_dir), "type": "DirectoryOrCreate"}}]


def _millis(cell: str) -> int:
    assert cell.endswith("m"), cell
    return int(cell[:-1])


async def test_top_shows_cpu_of_a_busy_pod(mcluster: Cluster) -> None:
    ctl = mcluster.tmp / "ctl-top"
    ctl.mkdir()
    async with ApiClient.from_kubeconfig(str(mcluster.kubeconfig)) as api:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busy", "labels": {"app": "busy"}},
               "spec": {"containers": [_burner(ctl)], "volumes": _volumes(ctl), "terminationGracePeriodSeconds": 0}}
        await api.request("POST", "/api/v1/namespaces/default/pods", json=pod)
        last: list[str] = []

        def busy_row() -> bool:
            res = _kubelite(mcluster, "top", "pod", "-l", "app=busy")
            last[:] = [res.stdout, res.stderr]
            rows = [ln.split() for ln in res.stdout.splitlines()[1:] if ln.startswith("busy")]
            return res.returncode == 0 and bool(rows) and _millis(rows[0][1]) > 0

        await wait_until(lambda: asyncio.to_thread(busy_row), 90, 1.0,
                         message=f"kubelite top never showed CPU for the busy pod: {last}\n{mcluster.logs()}")
        res = _kubelite(mcluster, "top", "pod", "-A", "--containers", "--sort-by", "cpu")
        assert res.returncode == 0, res.stderr
        header, *rows = res.stdout.splitlines()
        assert header.split() == ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
        assert rows[0].split()[:3] == ["default", "busy", "burn"]
        nodes = _kubelite(mcluster, "top", "node")
        assert nodes.returncode == 0, nodes.stderr
        assert nodes.stdout.splitlines()[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
        assert nodes.stdout.splitlines()[1].split()[0] == mcluster.node
        if KUBECTL.exists():  # the real kubectl through the API server's metrics.k8s.io
            kp = _kubectl(mcluster, "top", "pod", "busy")
            assert kp.returncode == 0, kp.stderr
            assert kp.stdout.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
            assert _millis(kp.stdout.splitlines()[1].split()[1]) > 0, kp.stdout
            kn = _kubectl(mcluster, "top", "node")
            assert kn.returncode == 0 and mcluster.node in kn.stdout, kn.stderr
        # the history the dashboard charts, through the API server
        hist = await api.request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy/history")
        assert hist["kind"] == "MetricsHistory" and hist["points"] and hist["points"][-1]["cpuNanoCores"] >= 0
        (ctl / "stop").touch()
        await api.request("DELETE", "/api/v1/namespaces/default/pods/busy")


async def test_hpa_scales_a_cpu_burner_up_to_max_and_back(mcluster: Cluster) -> None:
    ctl = mcluster.tmp / "ctl-hpa"
    ctl.mkdir()
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burner"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "burner"}},
                       "template": {"metadata": {"labels": {"app": "burner"}},
                                    "spec": {"containers": [_burner(ctl)], "volumes": _volumes(ctl),
                                             "terminationGracePeriodSeconds": 0}}}}
    async with ApiClient.from_kubeconfig(str(mcluster.kubeconfig)) as api:
        await api.request("POST", "/apis/apps/v1/namespaces/default/deployments", json=deploy)
        res = _kubelite(mcluster, "autoscale", "deployment", "burner", "--min", "1", "--max", "3", "--cpu-percent", "50")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "horizontalpodautoscaler.autoscaling/burner autoscaled"
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def replicas(n: int) -> bool:
            d = await api.request("GET", "/apis/apps/v1/namespaces/default/deployments/burner")
            return int(d["spec"].get("replicas") or 0) == n

        await wait_until(lambda: replicas(3), 90, 1.0, message=f"never scaled up to 3\n{mcluster.logs()}")
        up_s = loop.time() - started
        hpa = await api.request("GET", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/burner")
        conds = {c["type"]: c for c in hpa["status"]["conditions"]}
        assert conds["ScalingActive"]["status"] == "True" and conds["ScalingActive"]["reason"] == "ValidMetricFound"
        assert conds["AbleToScale"]["status"] == "True"
        get = _kubelite(mcluster, "get", "hpa")
        assert get.stdout.splitlines()[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                                       "REPLICAS", "AGE"], get.stdout
        assert "Deployment/burner" in get.stdout and "cpu: " in get.stdout
        (ctl / "stop").touch()  # every burner (old and new pods) stops burning
        stopped = loop.time()
        await wait_until(lambda: replicas(1), 90, 1.0, message=f"never scaled back to 1\n{mcluster.logs()}")
        down_s = loop.time() - stopped
        messages: list[str] = []

        async def rescaled_back() -> bool:
            # Events are written in the background after the scale (best effort, as in Kubernetes):
            # the scale-down's Event may land a moment after the Deployment shows 1 replica.
            events = await api.request("GET", "/api/v1/namespaces/default/events",
                                       params={"fieldSelector": "involvedObject.name=burner,reason=SuccessfulRescale"})
            messages[:] = [e["message"] for e in events["items"] if e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"]
            return any(m == "New size: 1; reason: All metrics below target" for m in messages)

        try:
            await wait_until(rescaled_back, 10, 0.2)
        except AssertionError:
            raise AssertionError(f"no scale-down Event in 10 s: {messages}") from None
        assert any(m.startswith("New size: 3; reason: cpu resource utilization") for m in messages), messages
        # the stabilization window (10 s) holds the scale-down back
        assert down_s >= 10, f"scaled down after {down_s:.1f}s, inside the 10 s window"
        print(f"HPA e2e: up to 3 in {up_s:.1f}s, back to 1 in {down_s:.1f}s after the load stopped")
        await api.request("DELETE", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/burner")
        await api.request("DELETE", "/apis/apps/v1/namespaces/default/deployments/burner")


def test_metrics_group_is_in_discovery(mcluster: Cluster) -> None:
    """kubectl sees NodeMetrics and PodMetrics in metrics.k8s.io (what `kubectl top` checks first)."""
    _wait_http(f"{mcluster.server}/apis/metrics.k8s.io/v1beta1", 10, mcluster.apiserver)
    res = _kubectl(mcluster, "api-resources", "--api-group", "metrics.k8s.io") if KUBECTL.exists() else None
    if res is not None:
        assert res.returncode == 0 and "PodMetrics" in res.stdout and "NodeMetrics" in res.stdout, res.stderr


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed (deploy/bootstrap.sh installs it)")
async def test_prometheus_scrapes_the_cluster_and_answers_promql(mcluster: Cluster) -> None:
    """The shipped config (scrape and rule intervals shortened for the test) with targets from
    the generator: PromQL for the API server's request rate, the pod startup p99 from the
    kubelet, and a recording rule."""
    from urllib.parse import urlparse

    from cli.monitoring import write_targets

    mon, home = mcluster.tmp / "monitoring", mcluster.tmp / "home"
    (home / "run").mkdir(parents=True)
    shutil.copytree(session_pki().dir, home / "pki")  # the cluster's CA and admin certificate
    api_port = urlparse(mcluster.server).port
    (home / "run" / "metrics.json").write_text(json.dumps({"targets": {"apiserver": f"127.0.0.1:{api_port}"}}))
    config = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    mon.mkdir()
    (mon / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(ROOT / "deploy" / "monitoring" / "rules.yml", mon / "rules.yml")
    port = free_port()
    prom = Proc([str(PROMETHEUS), f"--config.file={mon / 'prometheus.yml'}", f"--storage.tsdb.path={mon / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"], mon / "prometheus.log")
    async with ApiClient.from_kubeconfig(str(mcluster.kubeconfig)) as api, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                                                     trust_env=False, timeout=10) as http:
        await write_targets(api, home, mon / "targets")
        prom.start()
        try:
            async def query(expr: str) -> list[dict[str, Any]]:
                try:
                    r = await http.get("/api/v1/query", params={"query": expr})
                except httpx.HTTPError:
                    return []
                return list(r.json()["data"]["result"]) if r.status_code == 200 else []

            async def has_value(expr: str) -> bool:
                res = await query(expr)
                return bool(res) and all(v["value"][1] not in ("NaN", "0") for v in res)

            await wait_until(lambda: has_value('sum(up{job=~"apiserver|kubelet"})'), 60, 1.0,
                             message=f"Prometheus never scraped:\n{prom.tail()}")
            assert len(await query('up{job="kubelet"} == 1')) == 1
            # a pod started now lands in this window of the kubelet's start latency histogram
            ctl = mcluster.tmp / "ctl-prom"
            ctl.mkdir()
            (ctl / "stop").touch()
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "prom-starter"},
                   "spec": {"containers": [_burner(ctl)], "volumes": _volumes(ctl), "terminationGracePeriodSeconds": 0}}
            await api.request("POST", "/api/v1/namespaces/default/pods", json=pod)
            await wait_until(lambda: has_value("sum(rate(apiserver_request_total[30s]))"), 60, 1.0,
                             message="no apiserver request rate")
            p99 = "histogram_quantile(0.99, sum by (le) (rate(kubelet_pod_start_duration_seconds_bucket[2m])))"
            await wait_until(lambda: has_value(p99), 90, 1.0, message=f"no pod startup p99:\n{prom.tail()}")
            seconds = float((await query(p99))[0]["value"][1])
            assert 0 < seconds < 120
            await wait_until(lambda: has_value("sum(apiserver:request:rate1m)"), 30, 1.0, message="no recording rule")
            rules = (await http.get("/api/v1/rules")).json()["data"]["groups"]
            alerts = {r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting"}
            assert alerts == {"KubeNodeNotReady", "KubePodCrashLooping", "KubeAPIErrorsHigh"}
            print(f"Prometheus e2e: pod startup p99 {seconds:.2f}s")
            await api.request("DELETE", "/api/v1/namespaces/default/pods/prom-starter")
        finally:
            prom.stop()
