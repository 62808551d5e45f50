"""Probe thresholds (pure) and the prober against a fake exec runtime and a loopback server."""

import asyncio
from typing import Any

import pytest

from kubelet.probes import ContainerProber, ProbeKind, ProbeTracker, run_handler
from kubelet.runtime import ExecResult
from machinery.models import Container, Probe


class ExecRuntime:
    """Only `exec` is used by probes; results are scripted."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.calls = 0

    async def exec(self, cid: str, command: list[str], timeout_s: float) -> ExecResult:
        code = self.codes[min(self.calls, len(self.codes) - 1)]
        self.calls += 1
        return ExecResult(code, b"", b"fail" if code else b"")


def test_tracker_thresholds() -> None:
    t = ProbeTracker(success_threshold=2, failure_threshold=3, initial=False)
    assert [t.observe(ok) for ok in (True, True, False, False, True, False, False, False)] == [
        False, True, True, True, True, True, True, False]


async def test_exec_and_tcp_and_http_handlers() -> None:
    rt: Any = ExecRuntime([0, 1])
    assert (await run_handler(Probe.model_validate({"exec": {"command": ["true"]}}), runtime=rt, cid="c", pod_ip=None))[0]
    assert not (await run_handler(Probe.model_validate({"exec": {"command": ["false"]}}), runtime=rt, cid="c", pod_ip=None))[0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = await reader.readuntil(b"\r\n\r\n")
        code = b"200 OK" if b"GET /ok " in req else b"500 Internal Server Error"
        writer.write(b"HTTP/1.1 " + code + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ok, _ = await run_handler(Probe.model_validate({"tcpSocket": {"port": port}}), runtime=rt, cid="c", pod_ip="127.0.0.1")
        assert ok
        ok, _ = await run_handler(Probe.model_validate({"httpGet": {"path": "/ok", "port": "web"}}), runtime=rt, cid="c",
                                  pod_ip="127.0.0.1", container=Container.model_validate({"name": "app", "ports": [{"name": "web", "containerPort": port}]}))
        assert ok
        ok, msg = await run_handler(Probe.model_validate({"httpGet": {"path": "/bad", "port": port}}), runtime=rt, cid="c", pod_ip="127.0.0.1")
        assert not ok and "500" in msg
    finally:
        server.close()
        await server.wait_closed()
    closed_port = port
    ok, msg = await run_handler(Probe.model_validate({"tcpSocket": {"port": closed_port}}), runtime=rt, cid="c", pod_ip="127.0.0.1")
    assert not ok and msg


@pytest.mark.usefixtures("fast_probes")
async def test_startup_holds_liveness_and_readiness_follows() -> None:
    # startup: fails twice then succeeds; readiness: exec succeeds; liveness: fails after that.
    changes = 0

    def on_change() -> None:
        nonlocal changes
        changes += 1

    container = Container.model_validate({
        "name": "app",
        "startupProbe": {"exec": {"command": ["s"]}, "periodSeconds": 2, "failureThreshold": 5},
        "readinessProbe": {"exec": {"command": ["r"]}, "periodSeconds": 2},
        "livenessProbe": {"exec": {"command": ["l"]}, "periodSeconds": 2, "failureThreshold": 2},
    })
    script = {"s": [1, 1, 0], "r": [0], "l": [1]}

    class ScriptRuntime:
        def __init__(self) -> None:
            self.calls: dict[str, int] = {}

        async def exec(self, cid: str, command: list[str], timeout_s: float) -> ExecResult:
            n = self.calls.get(command[0], 0)
            self.calls[command[0]] = n + 1
            codes = script[command[0]]
            return ExecResult(codes[min(n, len(codes) - 1)], b"", b"")

    rt: Any = ScriptRuntime()
    p = ContainerProber(container, runtime=rt, cid="c", pod_ip=None, on_change=on_change)
    assert not p.started and not p.ready
    p.start()
    try:
        for _ in range(100):
            if p.liveness_failed:
                break
            await asyncio.sleep(0.02)
        assert p.started
        assert rt.calls["s"] == 3  # liveness/readiness waited for startup
        assert p.liveness_failed and p.failed_probe is ProbeKind.LIVENESS
        assert rt.calls["l"] == 2
        assert changes >= 2
    finally:
        await p.stop()


@pytest.mark.usefixtures("fast_probes")
async def test_startup_giving_up_counts_as_liveness_failure() -> None:
    rt: Any = ExecRuntime([1])
    c = Container.model_validate({"name": "app", "startupProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1,
                                                                  "failureThreshold": 3}})
    p = ContainerProber(c,
                        runtime=rt, cid="c", pod_ip=None, on_change=lambda: None)
    p.start()
    try:
        for _ in range(100):
            if p.liveness_failed:
                break
            await asyncio.sleep(0.01)
        assert p.liveness_failed and not p.started and rt.calls == 3
        assert p.failed_probe is ProbeKind.STARTUP
    finally:
        await p.stop()
