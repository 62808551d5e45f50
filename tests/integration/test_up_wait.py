"""`kubelite up`'s wait for Node Ready against a real API server: event-driven (a list, then a
watch from its resourceVersion), so a Node that turns Ready is seen within a moment, and a
Node that never does times out with False."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from pathlib import Path

from cli.cluster import wait_node_ready
from cli.clusterplan import Settings
from machinery.client import ApiClient
from tests.integration.conftest import ApiServerProcess


def _node(name: str, ready: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Test"}]}}


async def test_up_sees_the_node_turn_ready_by_watch(apiserver: ApiServerProcess, api_client: ApiClient,
                                                    tmp_path: Path) -> None:
    name = f"upwait-{uuid.uuid4().hex[:8]}"
    shutil.copy(apiserver.kubeconfig, tmp_path / "kubeconfig")
    s = Settings(tmp_path, node_name=name)
    try:
        assert await wait_node_ready(s, 1.0) is False  # no such Node: the deadline holds
        await api_client.request("POST", "/api/v1/nodes", json=_node(name, "False"))
        waiter = asyncio.create_task(wait_node_ready(s, 30.0))
        await asyncio.sleep(1.0)  # the waiter is watching by now (or will list the Ready node)
        assert not waiter.done()
        turned = time.monotonic()
        await api_client.request("PATCH", f"/api/v1/nodes/{name}/status",
                                 json={"status": {"conditions": [{"type": "Ready", "status": "True",
                                                                  "reason": "Test"}]}},
                                 headers={"Content-Type": "application/merge-patch+json"})
        assert await asyncio.wait_for(waiter, 30.0) is True
        assert time.monotonic() - turned < 5.0  # a watch event, not a slow poll
    finally:
        await api_client.request("DELETE", f"/api/v1/nodes/{name}")
