"""kubelet.startgate.StartGate (FIFO admission, limit, cancellation) and the pod worker's use of
it: a pass takes a slot before its first create and gives it back before the status write."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubelet.runtime import ContainerSpec
from kubelet.startgate import StartGate
from kubelet.workerconfig import WorkerConfig
from tests.unit.test_kubelet_worker import Api, FakeRuntime, make_pod, worker


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_limit_and_first_come_first_served() -> None:
    gate = StartGate(2)
    order: list[int] = []
    release = asyncio.Event()

    async def pod(i: int) -> None:
        await gate.acquire()
        order.append(i)
        await release.wait()
        gate.release()

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(pod(i)))
        await _settle()  # arrival order = creation order
    assert order == [0, 1]
    assert (gate.holding, gate.waiting) == (2, 4)
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5]
    assert (gate.holding, gate.waiting) == (0, 0)


async def test_a_newcomer_does_not_overtake_waiters() -> None:
    gate = StartGate(1)
    await gate.acquire()
    got: list[str] = []

    async def take(name: str) -> None:
        await gate.acquire()
        got.append(name)

    first = asyncio.create_task(take("first"))
    await _settle()
    gate.release()  # hands the slot to "first" before a newcomer can run
    late = asyncio.create_task(take("late"))
    await _settle()
    assert got == ["first"]
    gate.release()
    await asyncio.gather(first, late)
    assert got == ["first", "late"]


async def test_cancelled_waiter_gives_its_place_up() -> None:
    gate = StartGate(1)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    behind = asyncio.create_task(gate.acquire())
    await _settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release()
    await asyncio.wait_for(behind, timeout=5)
    assert (gate.holding, gate.waiting) == (1, 0)


async def test_zero_means_no_limit() -> None:
    gate = StartGate(0)
    for _ in range(100):
        await asyncio.wait_for(gate.acquire(), timeout=1)
    assert gate.holding == 100


async def test_worker_waits_for_a_slot_before_creating(tmp_path: Path) -> None:
    rt = FakeRuntime({"kubelite/busybox:latest", "kubelite/pause:latest"})
    api = Api()
    cfg = WorkerConfig(cluster="t", node="n1", node_ip="127.0.0.1", network="net", root_dir=str(tmp_path / "root"),
                       log_dir=str(tmp_path / "logs"))
    gate = StartGate(1)
    await gate.acquire()  # another pod is starting
    w = worker(make_pod(), (rt, api, cfg))
    w._gate = gate
    sync = asyncio.create_task(w.sync())
    await _settle()
    assert not sync.done()
    assert rt.containers == {}  # nothing created while the slot is taken
    assert gate.waiting == 1
    gate.release()
    assert await asyncio.wait_for(sync, timeout=5) is False
    assert sorted(c.container for c in rt.containers.values()) == ["POD", "app"]
    assert all(c.running for c in rt.containers.values())
    assert api.statuses[-1]["phase"] == "Running"
    assert (gate.holding, gate.waiting) == (0, 0)  # given back after the pass
    assert await w.sync() is False  # a pass with nothing to start takes no slot
    assert gate.holding == 0


async def test_slot_given_back_when_the_pass_fails(tmp_path: Path) -> None:
    class Broken(FakeRuntime):
        async def create(self, spec: ContainerSpec) -> str:
            raise RuntimeError("docker create failed")

    rt = Broken({"kubelite/busybox:latest", "kubelite/pause:latest"})
    cfg = WorkerConfig(cluster="t", node="n1", node_ip="127.0.0.1", network="net", root_dir=str(tmp_path / "root"),
                       log_dir=str(tmp_path / "logs"))
    gate = StartGate(1)
    w = worker(make_pod(), (rt, Api(), cfg))
    w._gate = gate
    with pytest.raises(RuntimeError, match="create failed"):
        await w.sync()  # run() logs it and retries in 2 s: the slot must not stay taken meanwhile
    assert gate.holding == 0
