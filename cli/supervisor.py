"""The local-cluster supervisor: starts etcd, the API server and the other components, and
restarts whichever dies. What runs, with which flags, and the PKI/kubeconfigs are the plan
(cli/clusterplan.py); readiness checks are cli/probes.py.

Contract (`python -m cli.supervisor --home H --api-port P --etcd-port E [--cluster-name N]`):
- Writes its pid to H/run/supervisor.pid and the live state (component pids, log paths,
  restart counts, phase) atomically to H/run/state.json; logs to H/logs/supervisor.log.
- Start order: etcd (data in H/etcd, client port E, peer port E+1) until /health answers;
  `python -m apiserver --etcd-servers ... --bind-address 127.0.0.1 --port P` (HTTPS) until
  /readyz answers; then each of scheduler, controllers, kubelet, proxy, dns, metrics, logstore,
  logagent, dashboard whose package has a `__main__` (with --kubeconfig, and --node-name for
  kubelet/proxy/logagent; the log store keeps its SQLite file in H/logstore, the agent its
  offsets in H/logagent; the dashboard serves http://127.0.0.1:8100/).
- TLS and credentials: before the API server starts, the cluster PKI is ensured under H/pki
  (machinery/pki.py: kept across restarts), H/kubeconfig is the user's (cluster admin, client
  certificate kubernetes-admin in system:masters) and H/kubeconfigs/NAME.kubeconfig each
  daemon's own identity (scheduler: system:kube-scheduler, controllers:
  system:kube-controller-manager, kubelet: system:node:NODE, proxy: system:kube-proxy...).
- `--ha` (cli/ha.py): etcd-0..2 started together until every member is healthy, then
  apiserver-0..1 each until its /readyz answers, then HAProxy on --api-port until /readyz
  answers through it; the kubeconfig points at HAProxy; scheduler-0/1 and controllers-0/1
  run with --leader-elect.
- Join mode (`--server URL`, used by `kubelite join`): no etcd, no API server; H/kubeconfig
  (written by join: the join token) points at URL; only the listed components (kubelet, proxy,
  routeagent) run, each with H/kubeconfigs/NAME.kubeconfig (join wrote the proxy's and route
  agent's; the kubelet writes its own by TLS bootstrap with `--bootstrap-kubeconfig H/kubeconfig`).
- `--backup-every-s S` (with `--backup-keep N`, `--backup-dir D`): an etcd backup every S
  seconds once the cluster runs (cli/backup.py), logged to supervisor.log.
- Prometheus: the controller-manager, scheduler and proxy get `--metrics-bind-address
  127.0.0.1:PORT` with ports picked once and kept in H/run/metrics.json (`targets`: component ->
  address, the API server's own port included) for `make monitoring`.
- The Python daemons (`python -m MODULE ...` command lines) are forked from a fork server
  (cli/forkserver.py, started at once, beside etcd) that imported their common modules once:
  they start without re-importing them and share those pages (PSS); its pid is `forkserver_pid`
  in state.json. KUBELITE_FORKSERVER=0, or a fork server that failed or died, starts each as
  its own interpreter as before. The PKI/kubeconfigs are written by a child process
  (`python -m cli.clusterplan write-credentials`) while etcd starts. Daemons get
  MALLOC_ARENA_MAX=2 unless the environment sets it.
- Each component runs in its own process group with its own log file H/logs/<name>.log. A
  component that exits is restarted after a backoff of 1 s doubling to 30 s (reset after it
  ran for a minute), and the event is logged.
- SIGTERM/SIGINT: stop components in reverse start order (SIGTERM to the group, SIGKILL after
  `GRACE_S`), remove the pid file, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cli import ha
from cli.clusterplan import (
    Layout,
    Settings,
    ca_file,
    commands,
    control_plane,
    credentials_argv,
    metrics_ports,
    parse_components,
    write_json,
)
from cli.forkserver import ForkServer
from cli.probes import apiserver_ready, etcd_healthy, etcd_member_healthy, http_ok, pid_alive
from machinery.backoff import Backoff

GRACE_S = 10.0
BACKOFF_START_S, BACKOFF_MAX_S, HEALTHY_RESET_S = 1.0, 30.0, 60.0
READY_TIMEOUT_S = 60.0
MALLOC_ARENAS = 2


class Child(Protocol):
    """A started component: an asyncio subprocess, or a daemon forked by the fork server."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


def use_forkserver() -> bool:
    """KUBELITE_FORKSERVER=0 runs each daemon as its own `python -m` (no shared pre-imports)."""
    return os.environ.get("KUBELITE_FORKSERVER", "1") != "0"


def daemon_env(home: Path) -> dict[str, str]:
    """The environment of every daemon: unbuffered output, the cluster home and at most
    `MALLOC_ARENAS` glibc malloc arenas (the default, 8 per core, lets each thread of a
    daemon's pool grow its own heap; a user's own MALLOC_ARENA_MAX wins)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", KUBELITE_HOME=str(home))
    env.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENAS))
    return env


def open_log(path: Path) -> BinaryIO:
    return open(path, "ab")


class Supervisor:
    def __init__(self, s: Settings, *, echo: bool = False) -> None:
        self.s = s
        self.lay = Layout(s.home)
        self.echo = echo
        self.procs: dict[str, Child] = {}
        self.forkserver: ForkServer | None = None
        self.state: dict[str, Any] = {"phase": "starting", "components": {}, "supervisor_pid": os.getpid()}
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.prepared: asyncio.Task[None] | None = None  # prepare(), started by run()

    def log(self, message: str) -> None:
        now = time.time()
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d} {message}"
        with open(self.lay.log("supervisor"), "a") as f:
            f.write(line + "\n")
        if self.echo:
            print(message, flush=True)

    def save(self) -> None:
        write_json(self.lay.state_file, self.state)

    async def start_forkserver(self) -> None:
        """The fork server the Python daemons are forked from (their common imports done once)."""
        if not use_forkserver():
            return
        try:
            self.forkserver = await ForkServer.start(daemon_env(self.s.home), self.lay.log("forkserver"), self.s.home)
        except OSError as exc:
            self.log(f"{exc}; starting each daemon as its own interpreter")
            return
        self.state["forkserver_pid"] = self.forkserver.proc.pid
        self.log(f"started the fork server (pid {self.forkserver.proc.pid})")

    async def spawn(self, name: str, argv: list[str]) -> Child:
        env = daemon_env(self.s.home)
        proc: Child | None = None
        if self.forkserver is not None and argv[:2] == [sys.executable, "-m"] and len(argv) > 2:
            try:
                proc = await self.forkserver.spawn(argv[2], argv[3:], log=self.lay.log(name), cwd=self.s.home, env=env)
            except OSError as exc:
                self.log(f"{exc}; starting {name} as its own interpreter")
        if proc is None:
            log = open_log(self.lay.log(name))
            try:
                proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log,
                                                            stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
                                                            env=env, cwd=str(self.s.home))
            finally:
                log.close()  # the child keeps its own copy of the descriptor
        self.procs[name] = proc
        entry = self.state["components"].setdefault(name, {"restarts": -1})
        entry.update(pid=proc.pid, log=str(self.lay.log(name)), command=argv, started_at=time.time())
        entry["restarts"] += 1
        self.save()
        self.log(f"started {name} (pid {proc.pid}), log {self.lay.log(name)}")
        return proc

    async def keep_running(self, name: str, argv: list[str], first: Child) -> None:
        """Restart `name` whenever it exits, with exponential backoff, until stopping."""
        proc = first
        backoff = Backoff(BACKOFF_START_S, BACKOFF_MAX_S, jitter=0.0, reset_after_s=math.inf)  # reset: below
        while True:
            started = time.monotonic()
            code = await proc.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started > HEALTHY_RESET_S:
                backoff.reset()
            delay_s = backoff.next()
            self.log(f"{name} (pid {proc.pid}) exited with code {code}; restarting in {delay_s:.0f}s")
            self.state["components"][name]["pid"] = None
            self.save()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay_s)
                return
            proc = await self.spawn(name, argv)

    async def start_and_wait(self, name: str, argv: list[str], ready: Any, what: str) -> bool:
        proc = await self.spawn(name, argv)
        self.tasks.append(asyncio.create_task(self.keep_running(name, argv, proc)))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not self.stopping.is_set():
            if await asyncio.to_thread(ready, self.s):
                self.log(f"{what} ready")
                return True
            await asyncio.sleep(0.1)
        self.log(f"{what} did not become ready in {READY_TIMEOUT_S:.0f}s; see {self.lay.log(name)}")
        return False

    async def run(self) -> int:
        for d in (self.lay.run, self.lay.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.lay.pid_file.write_text(str(os.getpid()))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        components = self.s.planned()
        self.s.metrics_ports = metrics_ports(self.lay, self.s, components)
        cmds = commands(self.s, components)
        local_control_plane = self.s.server is None
        core = control_plane(self.s)
        # commands() always lists etcd and apiserver; join mode runs neither.
        others = [n for n in cmds if n not in core and n not in ("etcd", "apiserver")]
        self.state.update(components_planned=core + others, ha=self.s.ha)
        # While etcd starts: the PKI and kubeconfigs (only the API server and the daemons need
        # them; etcd listens on plain loopback) and the fork server's imports.
        self.prepared = asyncio.create_task(self.prepare(components))
        try:
            if local_control_plane:
                started = await (self.start_ha(cmds) if self.s.ha else self.start_single(cmds))
                if started is not None:
                    return await self.fail(started)
            await self.wait_prepared()
            for name in others:
                proc = await self.spawn(name, cmds[name])
                self.tasks.append(asyncio.create_task(self.keep_running(name, cmds[name], proc)))
            self.state["phase"] = "running"
            self.save()
            self.log("cluster running")
            if local_control_plane and self.s.backup_every_s > 0:
                self.tasks.append(asyncio.create_task(self.backups()))
            await self.stopping.wait()
        finally:
            if not self.prepared.done():
                self.prepared.cancel()
                with contextlib.suppress(BaseException):
                    await self.prepared
            await self.stop_all()
        return 0

    async def wait_prepared(self) -> None:
        if self.prepared is not None:
            await self.prepared

    async def prepare(self, components: list[str]) -> None:
        """The credentials (local control plane) and the fork server, concurrently."""
        jobs: list[Any] = [self.start_forkserver()]
        if self.s.server is None:
            jobs.append(self.write_credentials(components))
        await asyncio.gather(*jobs)

    async def write_credentials(self, components: list[str]) -> None:
        """clusterplan.write_credentials in a child process (RuntimeError if it fails)."""
        proc = await asyncio.create_subprocess_exec(*credentials_argv(self.s, components), stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT, cwd=str(self.s.home))
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"writing the cluster PKI and kubeconfigs failed:\n{out.decode(errors='replace')}")
        self.log("PKI and kubeconfigs written")

    async def backups(self) -> None:
        """`--backup-every`: an etcd snapshot per interval while the cluster runs."""
        from cli.backup import run_schedule  # only with --backup-every: not in every supervisor

        directory = Path(self.s.backup_dir) if self.s.backup_dir else self.s.home / "backups"
        self.log(f"backing up etcd every {self.s.backup_every_s:.0f}s into {directory} (keeping {self.s.backup_keep})")
        await run_schedule(self.s.home, directory, self.s.backup_keep, self.s.backup_every_s, self.stopping,
                           echo=self.log)

    async def start_single(self, cmds: dict[str, list[str]]) -> str | None:
        """etcd, then the API server; None, or what failed."""
        if not await self.start_and_wait("etcd", cmds["etcd"], etcd_healthy, "etcd"):
            return "etcd did not start"
        await self.wait_prepared()
        if not await self.start_and_wait("apiserver", cmds["apiserver"], apiserver_ready, "apiserver"):
            return "apiserver did not start"
        return None

    async def start_ha(self, cmds: dict[str, list[str]]) -> str | None:
        """The etcd members together (each waits for a quorum), the API servers, HAProxy."""
        members = [n for n in cmds if n.startswith("etcd-")]
        for name in members:
            await self.start_supervised(name, cmds[name])
        urls = ha.etcd_urls(self.s)
        if not await self.wait_ready(lambda: all(etcd_member_healthy(u) for u in urls), "etcd cluster", "etcd-0"):
            return "the etcd cluster did not form"
        names = [f"apiserver-{i}" for i in range(ha.API_SERVERS)]
        await self.wait_prepared()
        for name in names:  # together: each takes seconds to start on a busy machine
            await self.start_supervised(name, cmds[name])
        readyz = [f"https://127.0.0.1:{ha.apiserver_port(self.s, i)}/readyz" for i in range(ha.API_SERVERS)]
        if not await self.wait_ready(lambda: all(http_ok(u, ca=ca_file(self.s)) for u in readyz), "API servers",
                                     names[0]):
            return "the API servers did not start"
        (self.s.home / "haproxy.cfg").write_text(ha.haproxy_config(self.s))
        if not await self.start_and_wait("haproxy", cmds["haproxy"], apiserver_ready, "haproxy"):
            return "haproxy did not start"
        return None

    async def start_supervised(self, name: str, argv: list[str]) -> None:
        proc = await self.spawn(name, argv)
        self.tasks.append(asyncio.create_task(self.keep_running(name, argv, proc)))

    async def wait_ready(self, ready: Any, what: str, log_of: str) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not self.stopping.is_set():
            if await asyncio.to_thread(ready):
                self.log(f"{what} ready")
                return True
            await asyncio.sleep(0.1)
        self.log(f"{what} did not become ready in {READY_TIMEOUT_S:.0f}s; see {self.lay.log(log_of)}")
        return False

    async def fail(self, message: str) -> int:
        self.state.update(phase="failed", message=message)
        self.save()
        return 1

    async def stop_all(self) -> None:
        self.stopping.set()
        for name in reversed(list(self.procs)):
            await stop_process_group(self.procs[name].pid, GRACE_S, self.procs[name])
            self.log(f"stopped {name}")
            self.state["components"].get(name, {})["pid"] = None
        for task in self.tasks:
            task.cancel()
        if self.forkserver is not None:
            await self.forkserver.close()
            self.log("stopped the fork server")
        self.state["phase"] = "stopped"
        self.save()
        with contextlib.suppress(FileNotFoundError):
            self.lay.pid_file.unlink()


async def stop_process_group(pid: int, grace_s: float, proc: Child | None = None) -> None:
    """SIGTERM the process group led by `pid`; SIGKILL it if it lingers past `grace_s`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc is not None and proc.returncode is not None:
            break
        if proc is None and not pid_alive(pid):
            break
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m cli.supervisor")
    p.add_argument("--home", required=True)
    p.add_argument("--api-port", type=int, default=6443)
    p.add_argument("--etcd-port", type=int, default=2379)
    p.add_argument("--cluster-name", default="kubelite")
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument("--components", default="auto", help="comma list of optional components, or auto")
    p.add_argument("--server", default=None, help="join mode: the cluster's API server (no local etcd/apiserver)")
    p.add_argument("--cluster-dns", default="", help="join mode: cluster DNS IP for the kubelet")
    p.add_argument("--node-ip", default="", help="join mode: the node's InternalIP")
    p.add_argument("--backup-every-s", type=float, default=0.0, help="etcd backup interval (0: none)")
    p.add_argument("--backup-keep", type=int, default=10)
    p.add_argument("--backup-dir", default="")
    p.add_argument("--ha", action="store_true", help="3 etcd members, 2 API servers behind HAProxy, 2 of each leader")
    a = p.parse_args(argv)
    return Settings(Path(a.home), a.api_port, a.etcd_port, a.cluster_name, a.node_name, parse_components(a.components),
                    server=a.server, cluster_dns=a.cluster_dns, node_ip=a.node_ip, backup_every_s=a.backup_every_s,
                    backup_keep=a.backup_keep, backup_dir=a.backup_dir, ha=a.ha)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    raise SystemExit(asyncio.run(Supervisor(settings).run()))


if __name__ == "__main__":
    main()
