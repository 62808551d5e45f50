"""Liveness, readiness and startup probes (exec, tcpSocket, httpGet).

Contract:
- `ProbeTracker` is the pure threshold logic: `observe(ok)` flips the result only after
  `successThreshold` consecutive successes or `failureThreshold` consecutive failures.
- Probes and containers are the typed machinery.models.Probe / Container.
- `run_handler(probe, runtime=, cid=, pod_ip=)` performs one probe attempt, bounded by
  `timeoutSeconds`, and returns (ok, message). httpGet succeeds on 200-399; the pod IP is
  reachable from the host through the pod bridge, so no helper container is needed.
- `ContainerProber` runs the probes of one container instance as tasks: startup first (it
  holds the others), then liveness and readiness each on its own period after
  `initialDelaySeconds`. It exposes `started`, `ready`, `liveness_failed` (also set when the
  startup probe gives up; `failed_probe` says which, a `ProbeKind`) and calls `on_change()`
  whenever one of them changes, so the pod worker re-syncs. A container without a readiness probe is ready once started.
- A restarted kubelet adopting a running container passes what the pod's status last said
  (`seed_ready`, `seed_started`): the prober starts from there and only a real probe result
  changes it, so adoption never flips Ready to False for a moment. A seeded `started` skips
  the startup probe (it already succeeded for this container instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx

from kubelet.runtime import Runtime
from machinery.models import Container, Probe

log = logging.getLogger(__name__)

PROBE_SECOND_S = 1.0
"""How long one second of a probe's initialDelaySeconds/periodSeconds lasts: unit tests shrink
it (the API's whole seconds would make them slow); timeouts are not scaled."""


class ProbeKind(StrEnum):
    STARTUP = "startup"
    LIVENESS = "liveness"
    READINESS = "readiness"


@dataclass(frozen=True)
class ProbeTiming:
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_probe(cls, probe: Probe) -> ProbeTiming:
        return cls(
            initial_delay_s=float(probe.initialDelaySeconds or 0) * PROBE_SECOND_S,
            period_s=float(probe.periodSeconds or 10) * PROBE_SECOND_S,
            timeout_s=float(probe.timeoutSeconds or 1),
            success_threshold=probe.successThreshold or 1,
            failure_threshold=probe.failureThreshold or 3,
        )


class ProbeTracker:
    """Consecutive-result thresholds. `result` starts at `initial`."""

    def __init__(self, *, success_threshold: int, failure_threshold: int, initial: bool) -> None:
        self.success_threshold = max(1, success_threshold)
        self.failure_threshold = max(1, failure_threshold)
        self.result = initial
        self._successes = 0
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures

    def observe(self, ok: bool) -> bool:
        if ok:
            self._successes += 1
            self._failures = 0
            if self._successes >= self.success_threshold:
                self.result = True
        else:
            self._failures += 1
            self._successes = 0
            if self._failures >= self.failure_threshold:
                self.result = False
        return self.result


def _port(value: int | str, container: Container | None) -> int:
    """Numeric port or the name of one of the container's ports."""
    if isinstance(value, int) or value.isdigit():
        return int(value)
    for p in (container.ports if container is not None else None) or []:
        if p.name == value:
            return p.containerPort
    raise ValueError(f"port {value!r} not found in the container's ports")


async def run_handler(probe: Probe, *, runtime: Runtime, cid: str, pod_ip: str | None,
                      container: Container | None = None) -> tuple[bool, str]:
    timeout_s = float(probe.timeoutSeconds or 1)
    try:
        if probe.exec is not None:
            res = await runtime.exec(cid, list(probe.exec.command or []), timeout_s)
            return res.exit_code == 0, (res.stdout + res.stderr).decode(errors="replace")[:200]
        if probe.tcpSocket is not None:
            tcp = probe.tcpSocket
            host = tcp.host or pod_ip
            if not host:
                return False, "no pod IP yet"
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, _port(tcp.port, container)), timeout_s)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True, ""
        if probe.httpGet is not None:
            hg = probe.httpGet
            host = hg.host or pod_ip
            if not host:
                return False, "no pod IP yet"
            scheme = (hg.scheme or "HTTP").lower()
            path = hg.path or "/"
            headers = {h.name: h.value for h in hg.httpHeaders or []}
            url = f"{scheme}://{host}:{_port(hg.port, container)}{path}"
            async with httpx.AsyncClient(timeout=timeout_s, verify=False, trust_env=False) as http:
                resp = await http.get(url, headers=headers)
            return 200 <= resp.status_code < 400, f"HTTP probe failed with statuscode: {resp.status_code}"
        return False, "probe has no handler"
    except TimeoutError:
        return False, f"probe timed out after {timeout_s:g}s"
    except (OSError, httpx.HTTPError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


class ContainerProber:
    def __init__(self, container: Container, *, runtime: Runtime, cid: str, pod_ip: str | None,
                 on_change: Callable[[], None], seed_ready: bool | None = None,
                 seed_started: bool | None = None, on_failure: Callable[[str], None] | None = None) -> None:
        self.container = container
        self.runtime = runtime
        self.cid = cid
        self.pod_ip = pod_ip
        self.on_change = on_change
        self.on_failure = on_failure  # each failed probe run: "Liveness probe failed: ..." (Unhealthy)
        self.startup = container.startupProbe
        self.liveness = container.livenessProbe
        self.readiness = container.readinessProbe
        self.started = self.startup is None or bool(seed_started)
        self.ready = self.readiness is None and self.started
        if seed_ready is not None and self.readiness is not None and self.started:
            self.ready = seed_ready  # the last published result stands until a probe says otherwise
        self.liveness_failed = False
        self.failed_probe: ProbeKind | None = None  # what set liveness_failed: LIVENESS or STARTUP (gave up)
        self.last_message = ""
        self._started_evt = asyncio.Event()
        if self.started:
            self._started_evt.set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self.startup is not None and not self.started:
            self._tasks.append(asyncio.create_task(self._loop(ProbeKind.STARTUP, self.startup)))
        if self.liveness is not None:
            self._tasks.append(asyncio.create_task(self._loop(ProbeKind.LIVENESS, self.liveness)))
        if self.readiness is not None:
            self._tasks.append(asyncio.create_task(self._loop(ProbeKind.READINESS, self.readiness)))
        elif self.startup is not None and not self.started:
            self._tasks.append(asyncio.create_task(self._ready_when_started()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def _ready_when_started(self) -> None:
        await self._started_evt.wait()
        self._set("ready", True)

    def _set(self, attr: str, value: bool) -> None:
        if getattr(self, attr) != value:
            setattr(self, attr, value)
            self.on_change()

    async def _loop(self, kind: ProbeKind, probe: Probe) -> None:
        timing = ProbeTiming.from_probe(probe)
        initial = {ProbeKind.STARTUP: False, ProbeKind.LIVENESS: True, ProbeKind.READINESS: self.ready}[kind]
        tracker = ProbeTracker(success_threshold=timing.success_threshold if kind is ProbeKind.READINESS else 1,
                               failure_threshold=timing.failure_threshold, initial=initial)
        if kind is not ProbeKind.STARTUP:
            await self._started_evt.wait()
        await asyncio.sleep(timing.initial_delay_s)
        while True:
            ok, msg = await run_handler(probe, runtime=self.runtime, cid=self.cid, pod_ip=self.pod_ip,
                                        container=self.container)
            if not ok:
                self.last_message = f"{kind.capitalize()} probe failed: {msg}"
                if self.on_failure is not None:
                    self.on_failure(self.last_message)
            result = tracker.observe(ok)
            if kind is ProbeKind.STARTUP:
                if result:
                    self._set("started", True)
                    self._started_evt.set()
                    return
                if tracker.failures >= tracker.failure_threshold:
                    self.failed_probe = kind
                    self._set("liveness_failed", True)  # startup gave up: kill like liveness
                    return
            elif kind is ProbeKind.LIVENESS:
                if not result:
                    self.failed_probe = kind
                    self._set("liveness_failed", True)
                    return
            else:
                self._set("ready", result)
            await asyncio.sleep(timing.period_s)
