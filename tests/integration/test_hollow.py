"""Hollow nodes against the real API server: registration, lease renewal, running and
finishing pods bound to them (no scheduler involved: the test binds pods itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from machinery import errors
from machinery.client import ApiClient
from tests.support import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
COUNT = 4


def hollow_args() -> list[str]:
    main = ROOT / "kubelet" / "__main__.py"
    if main.exists() and "hollow" in main.read_text():
        return ["-m", "kubelet", "--hollow"]
    return ["-m", "kubelet.hollow"]


@pytest.fixture
def hollow(apiserver: Any, tmp_path: Path) -> Iterator[list[str]]:
    prefix = f"hl{uuid.uuid4().hex[:6]}-"
    args = [*hollow_args(), "--count", str(COUNT), "--prefix", prefix, "--run-delay-s", "0.3"]
    args += ["--lease-period-s", "1", "--cpu", "2", "--memory", "4Gi", "--pods", "10"]
    args += ["--kubeconfig", str(apiserver.kubeconfig), "--delete-on-exit"]
    with open(tmp_path / "hollow.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield [f"{prefix}{i}" for i in range(COUNT)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


async def _nodes(client: ApiClient, names: list[str]) -> dict[str, dict[str, Any]]:
    data = await client.request("GET", "/api/v1/nodes")
    return {n["metadata"]["name"]: n for n in data["items"] if n["metadata"]["name"] in names}


async def test_nodes_register_ready_and_renew_leases(hollow: list[str], api_client: ApiClient) -> None:
    async def all_ready() -> bool:
        nodes = await _nodes(api_client, hollow)
        return len(nodes) == COUNT and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
            for n in nodes.values()
        )

    await wait_until(all_ready, timeout_s=20, message="hollow nodes not Ready")
    node = (await _nodes(api_client, hollow))[hollow[0]]
    assert node["status"]["allocatable"]["cpu"] == "2" and node["status"]["allocatable"]["pods"] == "10"

    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{hollow[-1]}"

    async def lease() -> dict[str, Any]:
        result: dict[str, Any] = await api_client.request("GET", path)
        return result

    async def lease_exists() -> bool:
        try:
            await lease()
            return True
        except Exception:  # noqa: BLE001 - polled until the condition holds
            return False

    await wait_until(lease_exists, timeout_s=10)
    first = (await lease())["spec"]["renewTime"]
    assert (await lease())["spec"]["holderIdentity"] == hollow[-1]

    async def renewed() -> bool:
        return bool((await lease())["spec"]["renewTime"] != first)

    await wait_until(renewed, timeout_s=5, message="lease not renewed within 5 periods")


async def test_bound_pods_run_and_deleted_pods_finish(
    hollow: list[str], api_client: ApiClient, namespace: Any
) -> None:
    ns = namespace if isinstance(namespace, str) else str(getattr(namespace, "name", namespace))

    async def registered() -> bool:
        return len(await _nodes(api_client, hollow)) == COUNT

    await wait_until(registered, timeout_s=20)
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "run-me"},
        "spec": {
            "schedulerName": "nobody",  # no scheduler touches it: the test binds it
            "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
        },
    }
    await api_client.request("POST", f"/api/v1/namespaces/{ns}/pods", json=body)
    await api_client.bind(ns, "run-me", hollow[2])
    path = f"/api/v1/namespaces/{ns}/pods/run-me"

    async def running() -> bool:
        pod = await api_client.request("GET", path)
        return bool(pod.get("status", {}).get("phase") == "Running")

    await wait_until(running, timeout_s=10, message="pod never Running on its hollow node")
    pod = await api_client.request("GET", path)
    status = pod["status"]
    assert status["podIP"].startswith("10.244.2.")
    assert {c["type"] for c in status["conditions"] if c["status"] == "True"} >= {"Ready", "ContainersReady"}
    assert sorted(c["name"] for c in status["containerStatuses"]) == ["a", "b"]
    assert all("running" in c["state"] and c["ready"] for c in status["containerStatuses"])

    await api_client.request("DELETE", path, json={"gracePeriodSeconds": 30})

    async def gone() -> bool:
        try:
            await api_client.request("GET", path)
            return False
        except Exception as exc:  # noqa: BLE001 - NotFound once the hollow node finished the deletion
            return isinstance(exc, errors.NotFound)

    await wait_until(gone, timeout_s=10, message="hollow node did not finish the deletion")


async def test_pods_of_other_nodes_are_left_alone(hollow: list[str], api_client: ApiClient, namespace: Any) -> None:
    ns = namespace if isinstance(namespace, str) else str(getattr(namespace, "name", namespace))

    async def registered() -> bool:
        return len(await _nodes(api_client, hollow)) == COUNT

    await wait_until(registered, timeout_s=20)
    for name, node in (("elsewhere", "not-hollow-xyz"), ("marker", hollow[0])):
        spec = {"schedulerName": "nobody", "nodeName": node, "containers": [{"name": "a", "image": "x"}]}
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
        await api_client.request("POST", f"/api/v1/namespaces/{ns}/pods", json=body)

    async def marker_running() -> bool:
        pod = await api_client.request("GET", f"/api/v1/namespaces/{ns}/pods/marker")
        return bool(pod.get("status", {}).get("phase") == "Running")

    await wait_until(marker_running, timeout_s=10)  # the hollow nodes have processed pods by now
    pod = await api_client.request("GET", f"/api/v1/namespaces/{ns}/pods/elsewhere")
    assert pod.get("status", {}).get("phase") != "Running"
