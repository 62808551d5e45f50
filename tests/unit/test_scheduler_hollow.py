"""Hollow-node builders (pure) and the hollow node process logic with a fake client."""

from __future__ import annotations

import asyncio
import itertools
import re

from kubelet.hollow import parse_args
from kubelet.hollow_status import lease_body, node_body, node_ip, pod_ip, running_status
from scheduler.info import node_info
from tests.unit.fake_client import FakeClient


def test_node_body_is_ready_with_resources() -> None:
    body = node_body("hollow-7", 7, cpu="4", memory="32Gi", pods="110")
    info = node_info(body)
    assert info.ready and not info.unschedulable and info.known
    assert info.allocatable.milli_cpu == 4000 and info.allocatable.pods == 110
    assert info.allocatable.memory == 32 * 1024**3
    assert body["metadata"]["labels"]["kubernetes.io/hostname"] == "hollow-7"
    assert {"type": "InternalIP", "address": node_ip(7)} in body["status"]["addresses"]


def test_addresses_derive_from_node_index() -> None:
    assert pod_ip(3, 9) == "10.244.3.9"
    assert pod_ip(259, 2) == "10.244.3.2"
    assert node_ip(0) != node_ip(1)


def test_lease_body() -> None:
    body = lease_body("n1")
    assert body["metadata"] == {"name": "n1", "namespace": "kube-node-lease"}
    assert body["spec"]["holderIdentity"] == "n1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["spec"]["renewTime"])


def test_running_status_marks_every_container_running() -> None:
    p = {
        "metadata": {"uid": "u1"},
        "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
    }
    st = running_status(p, node_index=2, pod_ip="10.244.2.5")["status"]
    assert st["phase"] == "Running" and st["podIP"] == "10.244.2.5" and st["podIPs"] == [{"ip": "10.244.2.5"}]
    assert {c["type"] for c in st["conditions"] if c["status"] == "True"} == {
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    }
    assert [c["name"] for c in st["containerStatuses"]] == ["a", "b"]
    assert all(c["ready"] and "running" in c["state"] for c in st["containerStatuses"])


def test_parse_args_accepts_the_kubelet_delegation_flag() -> None:
    cfg, _ = parse_args(["--hollow", "--count", "5", "--prefix", "x-", "--run-delay-s", "0.5", "--cpu", "8"])
    assert (cfg.count, cfg.prefix, cfg.run_delay_s, cfg.cpu, cfg.memory, cfg.pods) == (5, "x-", 0.5, "8", "32Gi", "110")


# ---- hollow node process logic with a fake client ------------------------------------------
async def test_lease_renewals_are_spread_over_the_period() -> None:
    from kubelet.hollow import HollowConfig, HollowNodes

    client = FakeClient()
    nodes = HollowNodes(client, HollowConfig(count=10, lease_period_s=0.5))
    await nodes.register_all()
    client.calls.clear()
    task = asyncio.create_task(nodes.lease_loop())
    await asyncio.sleep(1.4)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    renewals = [(c.at, c.name) for c in client.calls_of("request", "PATCH")]
    assert 15 <= len(renewals) <= 20  # every node once per period (first one after a period)
    times = [t for t, _ in renewals]
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    # ~period/N = 0.05 s apart: a steady stream, not a burst of 10 every period.
    assert 0.035 < gaps[len(gaps) // 2] < 0.08
    assert renewals[0][1].endswith("/kube-node-lease/leases/hollow-0")


async def test_register_creates_node_and_lease() -> None:
    from kubelet.hollow import HollowConfig, HollowNodes

    client = FakeClient()
    nodes = HollowNodes(client, HollowConfig(count=2, prefix="x-"))
    await nodes.register_all()
    posts = sorted(c.name + ":" + c.body["metadata"]["name"] for c in client.calls_of("request", "POST"))
    assert posts == [
        "/api/v1/nodes:x-0",
        "/api/v1/nodes:x-1",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases:x-0",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases:x-1",
    ]
    assert not client.calls_of("request", "PATCH")  # the create kept the status


async def test_writes_go_through_the_writer_and_the_informer_sees_bound_pods_only() -> None:
    from kubelet.hollow import HollowConfig, HollowNodes

    watches, writer = FakeClient(), FakeClient()
    nodes = HollowNodes(watches, HollowConfig(count=2, prefix="x-"), writer=writer)
    assert nodes.pods.field_selector == "spec.nodeName!="  # unscheduled pods never reach us
    await nodes.register_all()
    await nodes._renew("x-1")
    assert len(writer.calls_of("request", "POST")) == 4 and len(writer.calls_of("request", "PATCH")) == 1
    assert not watches.calls  # the watch client only watches
