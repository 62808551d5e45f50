"""Start-up step 3 of the kubelet (`PodManager.follow`): routing starts after the orphans are
removed and no pod is lost on the way, even one bound to the node during that removal (a lab
kubelet once never started such a pod)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kubelet.pods import PodManager
from kubelet.podworker import WorkerConfig
from machinery.informer import Informer
from machinery.models import Pod
from tests.unit.fake_client import FakeClient
from tests.unit.test_kubelet_worker import Api, FakeRuntime


class Routing(PodManager):
    """The real `follow`; routing and orphan removal recorded (no pod workers)."""

    def __init__(self, tmp_path: Path, api: FakeClient, during_removal: During) -> None:
        cfg = WorkerConfig(cluster="t", node="n1", node_ip="127.0.0.1", network="net",
                           root_dir=str(tmp_path / "root"), log_dir=str(tmp_path / "logs"))
        super().__init__(cfg, FakeRuntime(set()), Api(), docker_socket="/nonexistent.sock")
        self.fake_api, self.during_removal = api, during_removal
        self.known: set[str] | None = None
        self.routed: list[str] = []
        self.routed_during_removal: list[str] | None = None

    async def remove_orphans(self, known_uids: set[str]) -> int:
        self.known = set(known_uids)
        await self.during_removal(self.fake_api)
        await asyncio.sleep(0.05)  # the informer's watch delivers what happened meanwhile
        self.routed_during_removal = list(self.routed)
        return 0

    def on_pod(self, pod: dict[str, Any]) -> None:
        self.routed.append(pod["metadata"]["name"])


During = Callable[[FakeClient], Awaitable[None]]


def pod(name: str, node: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


async def follow(tmp_path: Path, during: During) -> Routing:
    api = FakeClient()
    api.store(pod("before", node="n1"))
    api.store(pod("elsewhere", node="n2"))
    informer: Informer[Pod] = Informer(api, Pod, field_selector="spec.nodeName=n1")
    manager = Routing(tmp_path, api, during)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(manager.follow(informer), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return manager


async def test_a_pod_bound_while_orphans_are_removed_is_routed(tmp_path: Path) -> None:
    async def bind_one(api: FakeClient) -> None:
        api.store(pod("late"))  # created unbound: not this node's yet
        await api.bind("default", "late", "n1")

    manager = await follow(tmp_path, bind_one)
    assert manager.known == {"uid-before"}  # orphans judged on what was listed
    assert manager.routed_during_removal == []  # nothing routed before the orphans are gone
    assert sorted(manager.routed) == ["before", "late"]  # then each pod once, the late one too


async def test_only_this_nodes_pods_are_routed(tmp_path: Path) -> None:
    async def nothing(_api: FakeClient) -> None:
        return None

    manager = await follow(tmp_path, nothing)
    assert manager.known == {"uid-before"}
    assert manager.routed_during_removal == []
    assert manager.routed == ["before"]
