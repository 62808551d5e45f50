"""The log agent wakes on the kubelet's writes (real inotify on a temp dir) instead of scanning
on a timer: directories created later are watched, a write wakes an idle agent at once, and a
quiet agent does not scan."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from addons.logagent.main import Agent, PodLabels
from addons.logagent.notify import TreeWatch
from addons.logagent.tailer import Tailer
from kubelet.logs import RotatingWriter, container_log_path
from machinery.logwire import Stream

UID = "0a1b2c3d-uid"


async def changed_within(watch: TreeWatch, timeout_s: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(watch.changed.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


async def test_writes_in_directories_created_later_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "pods"
    watch = TreeWatch.open(root)
    assert watch is not None
    try:
        assert watch.watched == 1  # the (created) log dir alone
        assert not await changed_within(watch, 0.2)  # nothing happened: no wake-up
        path = container_log_path(str(root), "default", "web-1", UID, "app", 0)
        w = RotatingWriter(path)  # creates the pod and container directories, then the file
        assert await changed_within(watch)
        await asyncio.sleep(0.1)  # the creations reported: their directories are watched now
        assert watch.watched == 3
        watch.changed.clear()
        w.write("2024-05-01T10:00:00.000000000Z", "stdout", b"hello")
        w.flush()
        assert await changed_within(watch)  # a write two levels down
        watch.changed.clear()
        assert not await changed_within(watch, 0.2)
    finally:
        watch.close()


async def test_directories_present_at_start_are_watched(tmp_path: Path) -> None:
    root = tmp_path / "pods"
    path = container_log_path(str(root), "default", "web-1", UID, "app", 0)
    w = RotatingWriter(path)
    watch = TreeWatch.open(root)
    assert watch is not None
    try:
        assert watch.watched == 3
        w.write("2024-05-01T10:00:00.000000000Z", "stdout", b"hello")
        w.flush()
        assert await changed_within(watch)
    finally:
        watch.close()


class Shipped(Agent):
    """The real run loop; pushes recorded instead of sent, scans counted."""

    def __init__(self, tailer: Tailer, watch: TreeWatch | None, rescan_s: float) -> None:
        super().__init__(tailer, store_url="http://127.0.0.1:1", client=None, poll_s=0.5, watch=watch,
                         rescan_s=rescan_s)
        self.lines: list[str] = []
        self.scans = 0
        self.got = asyncio.Event()

    async def step(self) -> int:
        self.scans += 1
        return await super().step()

    async def _push(self, streams: list[Stream]) -> None:
        self.lines += [e.line for s in streams for e in s.entries]
        self.got.set()


@pytest.mark.parametrize("rescan_s", [30.0])
async def test_an_idle_agent_ships_a_new_line_at_once_and_does_not_scan_meanwhile(tmp_path: Path,
                                                                                    rescan_s: float) -> None:
    root = tmp_path / "pods"
    tailer = Tailer(root, tmp_path / "offsets.json", node="n1", labels=PodLabels(), max_lines=100)
    watch = TreeWatch.open(root)
    agent = Shipped(tailer, watch, rescan_s)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await asyncio.sleep(1.0)
        assert agent.scans == 1  # at rest: one scan, then waiting (rescan_s is 30 s)
        w = RotatingWriter(container_log_path(str(root), "default", "web-1", UID, "app", 0))
        loop = asyncio.get_running_loop()
        written = loop.time()
        w.write("2024-05-01T10:00:00.000000000Z", "stdout", b"last words")
        w.flush()
        await asyncio.wait_for(agent.got.wait(), 5.0)
        assert agent.lines == ["last words"]
        assert loop.time() - written < 2.0  # woken by the write, not by the 30 s rescan
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        await agent.aclose()
