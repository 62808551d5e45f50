"""kubelet.inspectcache.InspectCache, DockerRuntime's use of it (against a fake docker SDK client
that counts calls) and the Docker events routing that drops entries and wakes workers."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from kubelet.inspectcache import InspectCache
from kubelet.pods import PodManager
from kubelet.runtime import ContainerInfo, DockerRuntime
from kubelet.workerconfig import WorkerConfig
from tests.unit.test_kubelet_worker import Api, FakeRuntime


def info(cid: str, state: str = "running") -> ContainerInfo:
    return ContainerInfo(id=cid, name=cid, labels={"k": "v"}, state=state)


def test_disabled_cache_keeps_nothing() -> None:
    c: InspectCache[ContainerInfo] = InspectCache()
    c.put("a", info("a"), c.token())
    assert c.get("a") is None


def test_hit_until_changed() -> None:
    c: InspectCache[ContainerInfo] = InspectCache()
    c.enable()
    c.put("a", info("a"), c.token())
    got = c.get("a")
    assert got is not None and got.state == "running"
    got.ip, got.labels["k"] = "10.0.0.1", "edited"  # a copy: the caller may edit it
    again = c.get("a")
    assert again is not None and again.ip is None and again.labels == {"k": "v"}
    c.changed("a")
    assert c.get("a") is None
    assert (c.hits, c.misses) == (2, 1)


def test_change_during_an_inspection_wins() -> None:
    c: InspectCache[ContainerInfo] = InspectCache()
    c.enable()
    token = c.token()  # inspection begins
    c.changed("a")  # the container dies meanwhile
    c.put("a", info("a", "running"), token)  # the answer may predate the death: refused
    assert c.get("a") is None
    c.put("a", info("a", "exited"), c.token())
    got = c.get("a")
    assert got is not None and got.state == "exited"


def test_reset_refuses_inspections_begun_before() -> None:
    c: InspectCache[ContainerInfo] = InspectCache()
    c.enable()
    token = c.token()
    c.disable()
    c.enable()  # the events stream reconnected: changes in between were not seen
    c.put("a", info("a"), token)
    assert c.get("a") is None


def test_listing_that_disagrees_drops_the_entry() -> None:
    c: InspectCache[ContainerInfo] = InspectCache()
    c.enable()
    c.put("a", info("a", "running"), c.token())
    c.check("a", "running")
    assert c.get("a") is not None
    c.check("a", "exited")  # the event never came: the relist catches it
    assert c.get("a") is None


def test_keyed_by_full_id_only() -> None:
    c: InspectCache[ContainerInfo] = InspectCache()
    c.enable()
    c.put("short", info("full-id"), c.token())
    assert c.get("short") is None


class FakeApi:
    """The docker SDK's low-level APIClient, as much as DockerRuntime uses; counts calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.state: dict[str, str] = {"c1": "running", "c2": "exited"}
        self.lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def containers(self, all: bool, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self._count("containers")
        return [{"Id": cid, "State": st} for cid, st in self.state.items()]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self._count("inspect_container")
        return {"Id": cid, "Name": f"/{cid}", "State": {"Status": self.state[cid], "ExitCode": 0},
                "Config": {"Labels": {"io.kubernetes.container.name": cid}}}

    def start(self, cid: str) -> None:
        self._count("start")
        self.state[cid] = "running"


class FakeDocker:
    def __init__(self) -> None:
        self.api = FakeApi()


async def test_runtime_inspects_once_per_change() -> None:
    client = FakeDocker()
    rt = DockerRuntime(client, workers=2)
    try:
        await rt.list_containers({"k": "v"})
        assert client.api.calls["inspect_container"] == 2  # cache disabled: no events stream yet
        rt.inspect_cache.enable()
        for _ in range(3):
            found = await rt.list_containers({"k": "v"})
        assert {c.id: c.state for c in found} == {"c1": "running", "c2": "exited"}
        assert client.api.calls["inspect_container"] == 4  # filled once, then hits
        await rt.start("c2")  # the kubelet's own change drops the entry
        assert (await rt.inspect("c2")) is not None
        assert client.api.calls["inspect_container"] == 5
        client.api.state["c1"] = "exited"  # an event that never came: the listing shows it
        found = await rt.list_containers({"k": "v"})
        assert {c.id: c.state for c in found} == {"c1": "exited", "c2": "running"}
        assert client.api.calls["inspect_container"] == 6
    finally:
        rt.close()


def event(action: str, cid: str, uid: str) -> str:
    return json.dumps({"status": action, "id": cid, "Type": "container", "Action": action,
                       "Actor": {"ID": cid, "Attributes": {"io.kubernetes.pod.uid": uid}}})


@pytest.mark.parametrize(("action", "wakes"), [("die", True), ("start", True), ("create", False), ("pause", False)])
async def test_events_drop_entries_and_wake_workers(tmp_path: Path, action: str, wakes: bool) -> None:
    cfg = WorkerConfig(cluster="t", node="n1", node_ip="127.0.0.1", network="net", root_dir=str(tmp_path / "root"),
                       log_dir=str(tmp_path / "logs"))
    manager = PodManager(cfg, FakeRuntime(set()), Api(), docker_socket="/nonexistent.sock")
    woken: list[str] = []

    class Worker:
        def wake(self) -> None:
            woken.append("uid-1")

    manager.workers["uid-1"] = Worker()  # type: ignore[assignment]
    cache: InspectCache[ContainerInfo] = InspectCache()
    cache.enable()
    cache.put("c1", info("c1"), cache.token())
    manager._route_event(event(action, "c1", "uid-1"), cache)
    assert cache.get("c1") is None
    assert woken == (["uid-1"] if wakes else [])
    manager._route_event("not json", cache)
    manager._route_event("", cache)
    await asyncio.sleep(0)
