"""Node IPAM against a real API server on a private etcd, with the real controller-manager
process: every node gets its own pod CIDR, never twice (also across a controller-manager
restart), released when the node is deleted; the kubelet's wait for its pod CIDR; the API
server forbids changing a pod CIDR once set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kubelet.main import wait_for_pod_cidr
from machinery import errors
from machinery.client import ApiClient
from machinery.models import Event, Node
from tests.integration.conftest import ApiServerProcess
from tests.integration.test_controllers import ControllerManagerProcess
from tests.support import EtcdProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# Four /24s only, so exhaustion and reuse are quick to reach.
CM_ARGS = ("--controllers", "nodeipam", "--cluster-cidr", "10.244.0.0/22", "--node-cidr-mask-size", "24")


@pytest.fixture
async def private_api(apiserver_factory: Callable[..., ApiServerProcess]) -> AsyncIterator[ApiServerProcess]:
    with EtcdProcess() as etcd:
        yield apiserver_factory(etcd.url)


def _node(name: str, cidr: str | None = None) -> Node:
    spec: dict[str, Any] = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return Node.from_dict({"metadata": {"name": name}, "spec": spec})


async def _cidrs(client: ApiClient) -> dict[str, str | None]:
    return {n.name: (n.spec.podCIDR if n.spec else None) for n in (await client.list(Node)).items}


async def test_ipam_assigns_unique_cidrs_survives_restart_and_releases(private_api: ApiServerProcess) -> None:
    async with ApiClient.from_kubeconfig(private_api.kubeconfig, timeout_s=20.0) as client:
        await client.create(_node("preset", "10.244.0.0/24"))  # e.g. a kubelet with --pod-cidr
        cm = ControllerManagerProcess(private_api.kubeconfig, *CM_ARGS).start()
        try:
            waiter = asyncio.create_task(wait_for_pod_cidr(client, "a", wait_s=60))
            await asyncio.sleep(0.3)
            await client.create(_node("a"))
            await client.create(_node("b"))
            assert await asyncio.wait_for(waiter, 30) in ("10.244.1.0/24", "10.244.2.0/24")

            async def all_set() -> bool:
                return None not in (await _cidrs(client)).values()

            await wait_until(all_set, 20, message=cm.log_text()[-3000:])
            got = await _cidrs(client)
            assert got["preset"] == "10.244.0.0/24"
            assert {got["a"], got["b"]} == {"10.244.1.0/24", "10.244.2.0/24"}

            cm.kill()  # restart: the allocation is rebuilt from the Node list
            cm.start()
            await client.create(_node("c"))
            await wait_until(all_set, 20, message=cm.log_text()[-3000:])
            assert (await _cidrs(client))["c"] == "10.244.3.0/24"

            await client.create(_node("d"))  # the range is full now

            async def warned() -> bool:
                evs = (await client.list(Event, namespace="default")).items
                return any(e.reason == "CIDRNotAvailable" and e.involvedObject.name == "d" for e in evs)

            await wait_until(warned, 20, message=cm.log_text()[-3000:])
            assert (await _cidrs(client))["d"] is None
            freed = got["a"]
            await client.delete(Node, "a")
            await wait_until(all_set, 20, message=cm.log_text()[-3000:])
            final = await _cidrs(client)
            assert final["d"] == freed
            assert len(set(final.values())) == len(final) == 4
        finally:
            cm.cleanup()


async def test_pod_cidr_is_immutable_once_set(private_api: ApiServerProcess) -> None:
    async with ApiClient.from_kubeconfig(private_api.kubeconfig, timeout_s=20.0) as client:
        await client.create(_node("n1"))
        await client.patch(Node, "n1", {"spec": {"podCIDR": "10.244.7.0/24", "podCIDRs": ["10.244.7.0/24"]}})
        with pytest.raises(errors.Invalid) as exc:
            await client.patch(Node, "n1", {"spec": {"podCIDR": "10.244.8.0/24", "podCIDRs": ["10.244.8.0/24"]}})
        assert "spec.podCIDRs" in str(exc.value.to_status())
        await client.patch(Node, "n1", {"spec": {"unschedulable": True}})  # other fields still change
        assert (await client.get(Node, "n1")).spec.podCIDR == "10.244.7.0/24"  # type: ignore[union-attr]


async def test_kubelet_wait_is_bounded_when_asked(private_api: ApiServerProcess) -> None:
    async with ApiClient.from_kubeconfig(private_api.kubeconfig, timeout_s=20.0) as client:
        await client.create(_node("lonely"))
        assert await wait_for_pod_cidr(client, "lonely", wait_s=1.5) is None
