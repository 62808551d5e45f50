"""The fork server (cli/forkserver.py) with real processes: a forked daemon runs as
`python -m MODULE ARGS` would (argv, cwd, environment, its own session, its log), its exit
code reaches the supervisor, a killed one reports the signal, and the supervisor falls back to
starting daemons itself when the fork server is gone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cli import clusterplan as plan
from cli import supervisor as sup
from cli.forkserver import ForkServer

ROOT = Path(__file__).resolve().parents[2]
CHILD = "tests.unit.forkserver_child"


@pytest.fixture
async def fs(tmp_path: Path) -> AsyncIterator[ForkServer]:
    server = await ForkServer.start(dict(os.environ), tmp_path / "forkserver.log", ROOT)
    try:
        yield server
    finally:
        await server.close()


def _first_line(log: Path, timeout_s: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and (text := log.read_text()).strip():
            line: dict[str, object] = json.loads(text.splitlines()[0])
            return line
        time.sleep(0.05)
    raise AssertionError(f"nothing in {log}")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def test_a_forked_daemon_runs_as_python_dash_m(fs: ForkServer, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    env = {**os.environ, "FORKSERVER_TEST": "yes"}
    child = await fs.spawn(CHILD, ["3", "0.2"], log=log, cwd=tmp_path, env=env)
    assert await asyncio.wait_for(child.wait(), 20) == 3
    seen = await asyncio.to_thread(_first_line, log)
    assert seen["argv"] == [str(ROOT / "tests" / "unit" / "forkserver_child.py"), "3", "0.2"]
    assert seen["cwd"] == str(tmp_path) and seen["marker"] == "yes" and seen["name"] == "__main__"
    assert seen["sid"] == seen["pid"] == child.pid  # its own session, as start_new_session
    assert seen["preloaded"] is True  # the common imports came with the fork
    assert seen["comm"] == "tests"  # /proc/PID/comm names the daemon (its package)


async def test_a_killed_daemon_reports_the_signal(fs: ForkServer, tmp_path: Path) -> None:
    child = await fs.spawn(CHILD, ["0", "60"], log=tmp_path / "child.log", cwd=tmp_path, env=dict(os.environ))
    await asyncio.to_thread(_first_line, tmp_path / "child.log")
    os.kill(child.pid, signal.SIGKILL)
    assert await asyncio.wait_for(child.wait(), 20) == -signal.SIGKILL
    assert child.returncode == -signal.SIGKILL


async def test_supervisor_forks_restarts_and_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup, "BACKOFF_START_S", 0.05)
    monkeypatch.setattr(sup, "BACKOFF_MAX_S", 0.2)
    # The daemons run in the cluster home (sys.path[0] of `python -m`): the test module is found
    # through PYTHONPATH, which the fork server inherits as any daemon would.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (tmp_path / "run").mkdir()
    (tmp_path / "logs").mkdir()
    supervisor = sup.Supervisor(plan.Settings(tmp_path))
    await supervisor.start_forkserver()
    fs = supervisor.forkserver
    assert fs is not None and fs.alive
    try:
        argv = [sys.executable, "-m", CHILD, "7", "0.1"]
        first = await supervisor.spawn("crasher", argv)
        assert _parent(first.pid) == fs.proc.pid
        task = asyncio.create_task(supervisor.keep_running("crasher", argv, first))
        deadline = time.monotonic() + 20
        while supervisor.state["components"]["crasher"]["restarts"] < 2:
            assert time.monotonic() < deadline, "not restarted twice"
            await asyncio.sleep(0.05)
        supervisor.stopping.set()
        await asyncio.wait_for(task, 10)
        assert "exited with code 7; restarting in" in (tmp_path / "logs" / "supervisor.log").read_text()
        # The fork server gone: daemons are started as their own interpreter, and stop as before.
        await fs.close()
        assert not fs.alive
        alone = await supervisor.spawn("alone", [sys.executable, "-m", CHILD, "0", "60"])
        assert _parent(alone.pid) == os.getpid()
        await sup.stop_process_group(alone.pid, 5.0, alone)
        assert alone.returncode == -signal.SIGTERM
    finally:
        supervisor.forkserver = None
        await fs.close()
