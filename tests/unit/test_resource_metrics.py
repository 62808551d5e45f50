"""The resource metrics pipeline without daemons: cgroup files -> kubelet Summary -> the add-on's
NodeMetrics/PodMetrics (rates, history, selectors) -> `kubelite top` cells; HPA validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from addons.metrics.server import create_app
from addons.metrics.store import MetricsStore
from apiserver.admission.validation import validate
from apiserver.aggregator import backend_url
from cli.top import cpu_millis_up, fmt_cpu, fmt_mem
from kubelet import cgroups
from kubelet.runtime import ContainerInfo
from kubelet.stats import ContainerSample, StatsSampler, build_summary, usage_from_docker
from machinery.defaults import apply_defaults
from machinery.models import HorizontalPodAutoscaler


def _v1_tree(root: Path, cid: str, cpu_ns: int, usage: int) -> None:
    cpu, mem = root / "cpuacct" / "docker" / cid, root / "memory" / "docker" / cid
    cpu.mkdir(parents=True, exist_ok=True)
    mem.mkdir(parents=True, exist_ok=True)
    (cpu / "cpuacct.usage").write_text(f"{cpu_ns}\n")
    (mem / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (mem / "memory.stat").write_text("total_inactive_file 1000\ntotal_rss 4096\n")


def test_cgroup_v1_and_v2_counters(tmp_path: Path) -> None:
    _v1_tree(tmp_path / "v1", "abc", 5_000_000, 11_000)
    got = cgroups.CgroupFS(str(tmp_path / "v1"), proc=str(tmp_path)).container("abc")
    assert got == cgroups.Usage(cpu_ns=5_000_000, memory_bytes=11_000, working_set_bytes=10_000, rss_bytes=4096)
    v2 = tmp_path / "v2"
    d = v2 / "system.slice" / "docker-def.scope"
    d.mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    (d / "cpu.stat").write_text("usage_usec 250\nuser_usec 200\n")
    (d / "memory.current").write_text("8192\n")
    (d / "memory.stat").write_text("anon 2048\ninactive_file 4096\n")
    got2 = cgroups.CgroupFS(str(v2), proc=str(tmp_path)).container("def")
    assert got2 == cgroups.Usage(cpu_ns=250_000, memory_bytes=8192, working_set_bytes=4096, rss_bytes=2048)
    assert cgroups.CgroupFS(str(v2), proc=str(tmp_path)).container("nope") is None


def test_cgroup_found_through_proc_pid_cgroup_of_a_nested_engine(tmp_path: Path) -> None:
    _v1_tree(tmp_path / "sys", "inner", 7, 1000)  # /sys/fs/cgroup of the node shows docker/inner
    proc = tmp_path / "proc" / "42"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text("3:cpuacct:/docker/outer/docker/inner\n0::/\n")
    got = cgroups.CgroupFS(str(tmp_path / "sys"), proc=str(tmp_path / "proc")).container("xyz", 42)
    assert got is not None and got.cpu_ns == 7


def test_net_dev_and_node_usage(tmp_path: Path) -> None:
    (tmp_path / "7" / "net").mkdir(parents=True)
    (tmp_path / "7" / "net" / "dev").write_text(
        "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
        "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
        "  eth0: 2000 5 0 0 0 0 0 0 3000 6 0 0 0 0 0 0\n")
    assert cgroups.net_dev(7, str(tmp_path)) == (2000, 3000)
    (tmp_path / "stat").write_text("cpu  100 0 50 1000 10 0 0 0 0 0\n")
    (tmp_path / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 200 kB\nMemAvailable: 600 kB\nAnonPages: 100 kB\n")
    u = cgroups.node_usage(str(tmp_path))
    assert u.cpu_ns == 150 * 1_000_000_000 // cgroups.USER_HZ
    assert (u.memory_bytes, u.working_set_bytes) == (800 * 1024, 400 * 1024)


class _FakeRuntime:
    def __init__(self, infos: list[ContainerInfo]) -> None:
        self.infos = infos
        self.stats_calls = 0

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return self.infos

    async def stats(self, cid: str) -> dict[str, Any]:
        self.stats_calls += 1
        return {"cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}},
                "memory_stats": {"usage": 5000, "stats": {"inactive_file": 1000, "anon": 3000}}}


def _info(cid: str, name: str, pid: int = 0) -> ContainerInfo:
    return ContainerInfo(id=cid, name=cid, state="running", pid=pid, started_at="2026-01-01T00:00:00Z", labels={
        "io.kubernetes.pod.uid": "u1", "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.container.name": name})


async def test_sampler_rates_from_two_samples_and_docker_fallback(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    _v1_tree(root, "app1", 1_000_000_000, 2_000_000)
    runtime = _FakeRuntime([_info("app1", "app"), _info("side1", "side")])
    clock = iter([100.0, 100.0, 102.0])
    sampler = StatsSampler(runtime, cluster="c", node="n", log_dir=str(tmp_path / "logs"), proc=str(tmp_path),
                           cgroup_fs=cgroups.CgroupFS(str(root), proc=str(tmp_path)), wall=lambda: next(clock))
    await sampler.sample()
    _v1_tree(root, "app1", 1_500_000_000, 2_000_000)  # 0.5 s of CPU in 2 s: 250m
    await sampler.sample()
    summary = await sampler.summary()
    pod = summary["pods"][0]
    app = next(c for c in pod["containers"] if c["name"] == "app")
    assert app["cpu"]["usageNanoCores"] == 250_000_000
    assert app["memory"]["workingSetBytes"] == 2_000_000 - 1000
    side = next(c for c in pod["containers"] if c["name"] == "side")
    assert side["cpu"]["usageCoreNanoSeconds"] == 3_000_000_000  # from Docker's one-shot stats
    assert runtime.stats_calls == 2 and sampler.docker_fallbacks == 2
    assert pod["podRef"] == {"name": "web", "namespace": "default", "uid": "u1"}


def test_build_summary_sums_containers_and_skips_sandbox_as_container() -> None:
    u = cgroups.Usage(cpu_ns=10, memory_bytes=100, working_set_bytes=80, rss_bytes=50)

    def mk(name: str, cores: int | None) -> ContainerSample:
        return ContainerSample(namespace="ns", pod="p", uid="u", name=name, cid=name, started_at="t", at_s=1.0,
                               usage=u, nano_cores=cores)

    sandbox = mk("POD", None)
    sandbox.rx_bytes, sandbox.tx_bytes = 7, 9
    doc = build_summary("n", 0.0, None, [sandbox, mk("a", 5), mk("b", 6)])
    pod = doc["pods"][0]
    assert [c["name"] for c in pod["containers"]] == ["a", "b"]
    assert pod["cpu"]["usageNanoCores"] == 11 and pod["memory"]["workingSetBytes"] == 160
    assert pod["network"]["rxBytes"] == 7 and pod["network"]["txBytes"] == 9


def test_usage_from_docker_v2_stats() -> None:
    u = usage_from_docker({"cpu_stats": {"cpu_usage": {"total_usage": 9}},
                           "memory_stats": {"usage": 100, "stats": {"inactive_file": 30, "anon": 40}}})
    assert u == cgroups.Usage(cpu_ns=9, memory_bytes=100, working_set_bytes=70, rss_bytes=40)


def _pod_summary(cpu_ns: int, ws: int, cores: int | None = None) -> dict[str, Any]:
    cpu: dict[str, Any] = {"usageCoreNanoSeconds": cpu_ns}
    if cores is not None:
        cpu["usageNanoCores"] = cores
    return {"containers": [{"name": "c", "cpu": cpu, "memory": {"workingSetBytes": ws}}]}


def test_store_rates_history_and_retain() -> None:
    s = MetricsStore(history_s=10)
    s.update_pod("ns", "p", {"app": "x"}, _pod_summary(0, 1024 * 1024), 100.0)
    assert s.pod_metrics("ns", "p") is None  # no rate yet, and no kubelet figure
    s.update_pod("ns", "p", {"app": "x"}, _pod_summary(2_000_000_000, 2 * 1024 * 1024), 102.0)
    m = s.pod_metrics("ns", "p")
    assert m is not None and m["containers"] == [{"name": "c", "usage": {"cpu": "1000000000n", "memory": "2048Ki"}}]
    assert m["window"] == "2s" and m["metadata"]["labels"] == {"app": "x"}
    s.update_pod("ns", "q", {}, _pod_summary(5, 10, cores=7), 102.0)  # first scrape: the kubelet's own figure
    assert s.pod_metrics("ns", "q") is not None
    for t in range(103, 120):
        s.update_pod("ns", "p", {}, _pod_summary(2_000_000_000 + t, 0), float(t))
    hist = s.history_of("pod", "ns", "p")
    assert hist is not None and 9 <= len(hist) <= 11 and set(hist[0]) == {"timestamp", "cpuNanoCores", "memoryBytes"}
    s.retain(set(), {("ns", "q")})
    assert s.pod_metrics("ns", "p") is None and s.pod_metrics("ns", "q") is not None


async def test_add_on_serves_lists_selectors_404_and_history() -> None:
    s = MetricsStore()
    s.update_node("n1", {"role": "a"}, {"cpu": {"usageCoreNanoSeconds": 1, "usageNanoCores": 5_000_000},
                                        "memory": {"workingSetBytes": 1 << 20}}, 1.0)
    s.update_pod("ns", "p", {"app": "x"}, _pod_summary(1, 1, cores=1_000_000), 1.0)
    s.update_pod("other", "q", {"app": "y"}, _pod_summary(1, 1, cores=1_000_000), 1.0)
    transport = httpx.ASGITransport(app=create_app(s))
    async with httpx.AsyncClient(transport=transport, base_url="http://m") as http:
        base = "/apis/metrics.k8s.io/v1beta1"
        nodes = (await http.get(f"{base}/nodes", params={"labelSelector": "role=a"})).json()
        assert nodes["kind"] == "NodeMetricsList" and nodes["items"][0]["usage"]["cpu"] == "5000000n"
        assert (await http.get(f"{base}/nodes", params={"labelSelector": "role=b"})).json()["items"] == []
        assert len((await http.get(f"{base}/pods")).json()["items"]) == 2
        ns = (await http.get(f"{base}/namespaces/ns/pods", params={"labelSelector": "app=x"})).json()
        assert [i["metadata"]["name"] for i in ns["items"]] == ["p"]
        missing = await http.get(f"{base}/namespaces/ns/pods/nope")
        assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
        bad = await http.get(f"{base}/pods", params={"labelSelector": "a in (b"})
        assert bad.status_code == 400
        hist = (await http.get(f"{base}/namespaces/ns/pods/p/history")).json()
        assert hist["kind"] == "MetricsHistory" and len(hist["points"]) == 1
        assert (await http.get(f"{base}/nodes/n1/history")).json()["points"][0]["memoryBytes"] == 1 << 20


def test_aggregator_backend_url() -> None:
    ep = {"subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 4443}]}]}
    assert backend_url(ep) == "http://127.0.0.1:4443"
    assert backend_url({"subsets": [{"notReadyAddresses": [{"ip": "1.2.3.4"}], "ports": [{"port": 1}]}]}) is None


def test_top_cells_as_kubectl() -> None:
    assert fmt_cpu("1500000n") == "2m"  # rounded up, as Quantity.MilliValue
    assert fmt_cpu("0") == "0m" and cpu_millis_up("250m") == 250
    assert fmt_mem("2048Ki") == "2Mi"


def _hpa(spec: dict[str, Any]) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler.from_dict({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                              "metadata": {"name": "h", "namespace": "default"}, "spec": spec})


def test_hpa_defaults_as_kubernetes() -> None:
    hpa = apply_defaults(_hpa({"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3,
                               "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}))
    d = hpa.to_dict()
    assert d["spec"]["minReplicas"] == 1
    assert d["spec"]["metrics"][0]["resource"] == {"name": "cpu", "target": {"type": "Utilization",
                                                                              "averageUtilization": 80}}
    assert d["spec"]["behavior"]["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}
    assert d["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert d["status"] == {"currentReplicas": 0, "desiredReplicas": 0}


@pytest.mark.parametrize(("spec", "field"), [
    ({"maxReplicas": 3}, "spec.scaleTargetRef.kind"),
    ({"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 0}, "spec.maxReplicas"),
    ({"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "minReplicas": 4, "maxReplicas": 3}, "spec.maxReplicas"),
    ({"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "minReplicas": 0, "maxReplicas": 3}, "spec.minReplicas"),
    ({"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}]},
     "spec.metrics[0].resource.target.averageUtilization"),
    ({"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3, "metrics": [{"type": "External"}]},
     "spec.metrics[0].type"),
    ({"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3, "behavior": {"scaleUp": {
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}}},
     "spec.behavior.scaleUp.policies[0].periodSeconds"),
])
def test_hpa_validation_names_the_field(spec: dict[str, Any], field: str) -> None:
    causes = validate(_hpa(spec))
    assert field in [c["field"] for c in causes], causes


def test_get_hpa_columns_as_kubectl() -> None:
    from datetime import UTC, datetime

    from machinery.tables import table

    hpa = {"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 3,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 50}}},
                                {"type": "Resource", "resource": {"name": "memory", "target": {
                                    "type": "AverageValue", "averageValue": "64Mi"}}}]},
           "status": {"currentReplicas": 2, "currentMetrics": [
               {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42}}}]}}
    headers, rows = table("HorizontalPodAutoscaler", [hpa], at=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert headers == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert rows == [["web", "Deployment/web", "cpu: 42%/50%, memory: <unknown>/64Mi", "1", "3", "2", "5m"]]
