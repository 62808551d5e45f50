"""The kubelet's node agent against the real API server: the node's Lease exists before anyone
can see the Node (Ready), and gets the Node as its owner (issue 10 item 6)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest

from kubelet.api import ClientApi
from kubelet.node import LEASE_NS, NodeAgent
from machinery import errors
from machinery.client import ApiClient
from machinery.models import Lease, Node

pytestmark = pytest.mark.integration


async def test_lease_exists_when_the_node_appears(api_client: ApiClient, tmp_path: Path) -> None:
    name = f"lease-{uuid.uuid4().hex[:8]}"
    nodes = await api_client.list(Node)
    lease_when_seen: list[Lease | None] = []

    async def watch_node() -> None:
        async for ev in api_client.watch(Node, resource_version=nodes.resource_version, timeout_s=20,
                                         field_selector=f"metadata.name={name}"):
            ready = [c for c in (ev.object.status.conditions or []) if c.type == "Ready"]  # type: ignore[union-attr]
            try:
                lease_when_seen.append(await api_client.get(Lease, name, namespace=LEASE_NS))
            except errors.NotFound:
                lease_when_seen.append(None)
            assert ready and ready[0].status == "True"
            return

    watcher = asyncio.create_task(watch_node())
    agent = NodeAgent(ClientApi(api_client), node=name, node_ip="127.0.0.1", port=10250,
                      root_dir=str(tmp_path), docker_version="test", pod_cidr=None)
    try:
        await agent.register()
        await asyncio.wait_for(watcher, 20)
        assert lease_when_seen and lease_when_seen[0] is not None, "the Node was seen before its Lease"
        lease = await api_client.get(Lease, name, namespace=LEASE_NS)
        assert lease.spec is not None and lease.spec.holderIdentity == name and lease.spec.renewTime
        assert [(o.kind, o.name, o.uid) for o in lease.metadata.ownerReferences or []] == [
            ("Node", name, agent.uid)]
    finally:
        watcher.cancel()
        for cls, ns in ((Node, None), (Lease, LEASE_NS)):
            with contextlib.suppress(errors.NotFound):
                await api_client.delete(cls, name, namespace=ns)
