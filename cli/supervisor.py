"""The local-cluster supervisor: starts etcd, the API server and the other components, and
restarts whichever dies.

Contract (`python -m cli.supervisor --home H --api-port P --etcd-port E [--cluster-name N]`):
- Writes its pid to H/run/supervisor.pid and the live state (component pids, log paths,
  restart counts, phase) atomically to H/run/state.json; logs to H/logs/supervisor.log.
- Start order: etcd (data in H/etcd, client port E, peer port E+1) until /health answers;
  `python -m apiserver --etcd-servers ... --bind-address 127.0.0.1 --port P` (HTTPS) until
  /readyz answers; then each of scheduler, controllers, kubelet, proxy, dns, metrics, logstore,
  logagent, dashboard whose package has a `__main__` (with --kubeconfig, and --node-name for
  kubelet/proxy/logagent; the log store keeps its SQLite file in H/logstore, the agent its
  offsets in H/logagent; the dashboard serves http://127.0.0.1:8100/).
- TLS and credentials: before etcd starts, the cluster PKI is ensured under H/pki
  (machinery/pki.py: kept across restarts), H/kubeconfig is the user's (cluster admin, client
  certificate kubernetes-admin in system:masters) and H/kubeconfigs/NAME.kubeconfig each
  daemon's own identity (scheduler: system:kube-scheduler, controllers:
  system:kube-controller-manager, kubelet: system:node:NODE, proxy: system:kube-proxy...).
- `--ha` (cli/ha.py): etcd-0..2 started together until every member is healthy, then
  apiserver-0..1 each until its /readyz answers, then HAProxy on --api-port until /readyz
  answers through it; the kubeconfig points at HAProxy; scheduler-0/1 and controllers-0/1
  run with --leader-elect.
- Join mode (`--server URL`, used by `kubelite join`): no etcd, no API server; H/kubeconfig
  (written by join) points at URL; only the listed components (kubelet, proxy, routeagent) run.
- `--backup-every-s S` (with `--backup-keep N`, `--backup-dir D`): an etcd backup every S
  seconds once the cluster runs (cli/backup.py), logged to supervisor.log.
- Prometheus: the controller-manager, scheduler and proxy get `--metrics-bind-address
  127.0.0.1:PORT` with ports picked once and kept in H/run/metrics.json (`targets`: component ->
  address, the API server's own port included) for `make monitoring`.
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
import importlib.util
import json
import math
import os
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from cli import ha
from machinery.backoff import Backoff

ETCD_BIN = os.environ.get("KUBELITE_ETCD_BIN", "/usr/bin/etcd")
OPTIONAL = ("scheduler", "controllers", "kubelet", "proxy", "dns", "metrics", "routeagent", "logstore", "logagent",
            "dashboard")
# Only when asked for by name (`kubelite join` runs it): a one-host cluster has nothing to route.
NOT_AUTO = ("routeagent",)
# Components that are not top-level packages: the add-ons live under addons/.
MODULES = {"dns": "addons.dns", "metrics": "addons.metrics", "logstore": "addons.logstore", "logagent": "addons.logagent",
           "dashboard": "addons.dashboard"}
# The one-node cluster's pod bridge gateway (node IPAM gives the first node 10.244.0.0/24; without
# a controller-manager the kubelet is given it): the DNS add-on listens there and publishes
# kube-system/kube-dns (10.96.0.10) pointing at it.
LONE_NODE_POD_CIDR = "10.244.0.0/24"
DNS_ADDRESS = "10.244.0.1"
DNS_SERVICE_IP = "10.96.0.10"
# The log store add-on listens beside the DNS add-on on the bridge gateway (an address the API
# server's service proxy accepts, unlike loopback) and publishes kube-system/logstore there.
LOGSTORE_PORT = 8428
# Where the kubelet writes container logs (its default --log-dir); the log agent tails it.
POD_LOG_DIR = "/var/log/pods"
# The web dashboard (loopback only, acting with the cluster's admin kubeconfig as kubectl proxy).
DASHBOARD_ADDRESS = "127.0.0.1:8100"
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of the service CIDR
GRACE_S = 10.0
BACKOFF_START_S, BACKOFF_MAX_S, HEALTHY_RESET_S = 1.0, 30.0, 60.0
READY_TIMEOUT_S = 60.0


@dataclass
class Layout:
    """Where a cluster keeps its files, from its home directory."""

    home: Path

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.run / "supervisor.pid"

    @property
    def state_file(self) -> Path:
        return self.run / "state.json"

    @property
    def config_file(self) -> Path:
        return self.home / "cluster.json"

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.home / "pki"

    def component_kubeconfig(self, component: str) -> Path:
        return self.home / "kubeconfigs" / f"{component}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


@dataclass
class Settings:
    home: Path
    api_port: int = 6443
    etcd_port: int = 2379
    cluster_name: str = "kubelite"
    node_name: str = field(default_factory=socket.gethostname)
    # Optional components to run; None = every one that has a __main__ (see available_components).
    components: list[str] | None = None
    # `kubelite join`: the API server of a cluster elsewhere (its kubeconfig is written by join);
    # no etcd and no API server are started here.
    server: str | None = None
    # With `server`: the cluster DNS address for the kubelet's ClusterFirst pods ("" = none).
    cluster_dns: str = ""
    # With `server`: the node's InternalIP ("" = the kubelet's default, the default route's source).
    node_ip: str = ""
    # Scheduled etcd backups (cli/backup.py) every this many seconds (0 = none), into
    # `backup_dir` ("" = HOME/backups), keeping the newest `backup_keep`.
    backup_every_s: float = 0.0
    backup_keep: int = 10
    backup_dir: str = ""
    # `kubelite up --ha`: 3 etcd members, 2 API servers behind HAProxy, 2 schedulers and 2
    # controller-managers (the layout is cli/ha.py).
    ha: bool = False

    # Components serving Prometheus /metrics on a port of their own (picked once per home, see
    # metrics_ports): the controller-manager, the scheduler and the proxy.
    metrics_ports: dict[str, int] = field(default_factory=dict)

    def planned(self) -> list[str]:
        found = available_components()
        if self.components is None:
            return [c for c in found if c not in NOT_AUTO]
        return [c for c in self.components if c in found]

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def etcd_urls(self) -> list[str]:
        """Every etcd member's client URL (one unless --ha)."""
        return ha.etcd_urls(self) if self.ha else [self.etcd_url]

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"


def available_components() -> list[str]:
    """The optional components that exist in this checkout (`python -m NAME` would work)."""
    found = []
    for name in OPTIONAL:
        with contextlib.suppress(ImportError, ValueError):
            if importlib.util.find_spec(f"{MODULES.get(name, name)}.__main__") is not None:
                found.append(name)
    return found


def commands(s: Settings, components: list[str]) -> dict[str, list[str]]:
    lay = Layout(s.home)
    peer = f"http://127.0.0.1:{s.etcd_port + 1}"
    py = sys.executable
    cmds: dict[str, list[str]] = {
        "etcd": [ETCD_BIN, "--name", s.cluster_name, "--data-dir", str(s.home / "etcd"),
                 "--listen-client-urls", s.etcd_url, "--advertise-client-urls", s.etcd_url,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"{s.cluster_name}={peer}", "--initial-cluster-state", "new",
                 "--experimental-watch-progress-notify-interval", "5s", "--log-level", "warn"],
        "apiserver": [py, "-m", "apiserver", "--etcd-servers", s.etcd_url, "--bind-address", "127.0.0.1",
                      "--port", str(s.api_port), *apiserver_pki_args(lay.pki)],
    }
    for name in components:
        # Join mode: H/kubeconfig (written by join) is the node's credential for every daemon.
        kc = lay.kubeconfig if s.server else lay.component_kubeconfig(name)
        argv = [py, "-m", MODULES.get(name, name), "--kubeconfig", str(kc)]
        if name in ("kubelet", "proxy"):
            argv += ["--node-name", s.node_name]
        if name == "kubelet":
            argv += ["--cluster-name", s.cluster_name]
            if "dns" in components:  # ClusterFirst pods resolve through kube-dns
                argv += ["--cluster-dns", DNS_SERVICE_IP]
            elif s.server and s.cluster_dns:
                argv += ["--cluster-dns", s.cluster_dns]
            if "controllers" not in components and not s.server:  # no node IPAM to wait for
                argv += ["--pod-cidr", LONE_NODE_POD_CIDR]
            if s.node_ip:
                argv += ["--node-ip", s.node_ip]
        if name in s.metrics_ports:
            argv += ["--metrics-bind-address", f"127.0.0.1:{s.metrics_ports[name]}"]
        if name == "controllers":  # local-path volumes live with the cluster's other state
            argv += ["--local-path-dir", str(s.home / "local-path")]
        if name == "routeagent":
            argv += ["--node-name", s.node_name] + (["--node-ip", s.node_ip] if s.node_ip else [])
        if name == "dns":
            argv += ["--listen", f"{DNS_ADDRESS}:53", "--publish-ip", DNS_ADDRESS]
        if name == "logstore":
            argv += ["--listen", f"{DNS_ADDRESS}:{LOGSTORE_PORT}", "--publish-ip", DNS_ADDRESS,
                     "--db", str(s.home / "logstore" / "logs.db")]
        if name == "dashboard":
            argv += ["--listen", DASHBOARD_ADDRESS]
        if name == "logagent":
            argv += ["--node-name", s.node_name, "--log-dir", POD_LOG_DIR,
                     "--state-file", str(s.home / "logagent" / "offsets.json")]
        cmds[name] = argv
    return ha.ha_commands(s, cmds, ETCD_BIN) if s.ha else cmds


def control_plane(s: Settings) -> list[str]:
    """The names `commands` gives the local control plane's daemons, in start order."""
    if s.server is not None:
        return []
    if not s.ha:
        return ["etcd", "apiserver"]
    return ([f"etcd-{i}" for i in range(ha.ETCD_MEMBERS)] + [f"apiserver-{i}" for i in range(ha.API_SERVERS)]
            + ["haproxy"])


METRICS_COMPONENTS = ("controllers", "scheduler", "proxy")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metrics_ports(lay: Layout, s: Settings, components: list[str]) -> dict[str, int]:
    """The /metrics ports of this cluster's components, kept in H/run/metrics.json across
    restarts (Prometheus' targets, see deploy/monitoring): picked free once, reused after."""
    path = lay.run / "metrics.json"
    try:
        known = {k: int(v.rsplit(":", 1)[1]) for k, v in json.loads(path.read_text())["targets"].items()
                 if k in METRICS_COMPONENTS}
    except (OSError, ValueError, KeyError, IndexError, AttributeError):
        known = {}
    ports = {c: known.get(c) or _free_port() for c in components if c in METRICS_COMPONENTS}
    targets = {c: f"127.0.0.1:{p}" for c, p in ports.items()}
    if s.server is None:
        targets["apiserver"] = f"127.0.0.1:{s.api_port}"
    write_json(path, {"targets": targets})
    return ports


def apiserver_pki_args(pki_dir: Path) -> list[str]:
    """The API server's TLS and authentication flags for the PKI under `pki_dir`."""
    from machinery.pki import ClusterPki

    pki = ClusterPki(pki_dir)
    return ["--tls-cert-file", str(pki.cert("apiserver")), "--tls-private-key-file", str(pki.key("apiserver")),
            "--client-ca-file", str(pki.ca_cert), "--service-account-signing-key-file", str(pki.sa_key)]


def write_credentials(s: Settings, components: list[str]) -> None:
    """The cluster PKI (kept when present) and the kubeconfigs of the user and of each daemon."""
    from machinery.kubeconfig import write_kubeconfig
    from machinery.pki import COMPONENT_CERTS, ensure_cluster_pki

    lay = Layout(s.home)
    pki = ensure_cluster_pki(lay.pki, dns_sans=[socket.gethostname()],
                             ip_sans=[KUBERNETES_SERVICE_IP], nodes=[s.node_name])
    stems = {name: COMPONENT_CERTS.get(name, f"node-{s.node_name}" if name == "kubelet" else "admin")
             for name in components}
    for name, stem in [("admin", "admin"), *stems.items()]:
        path = lay.kubeconfig if name == "admin" else lay.component_kubeconfig(name)
        write_kubeconfig(path, s.api_url, cluster_name=s.cluster_name, user=stem, ca_file=str(pki.ca_cert),
                         cert_file=str(pki.cert(stem)), key_file=str(pki.key(stem)))


def ca_file(s: Settings) -> str | None:
    path = Layout(s.home).pki / "ca.crt"
    return str(path) if path.exists() else None


def http_ok(url: str, timeout_s: float = 1.0, *, ca: str | None = None) -> bool:
    try:
        r = httpx.get(url, timeout=timeout_s, verify=ssl.create_default_context(cafile=ca) if ca else True)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def etcd_member_healthy(url: str) -> bool:
    """etcd's /health: true only when the member answers and its cluster has a leader."""
    try:
        r = httpx.get(f"{url}/health", timeout=1.0)
        return r.status_code == 200 and r.json().get("health") == "true"
    except (httpx.HTTPError, ValueError):
        return False


def etcd_healthy(s: Settings) -> bool:
    """A member answers with a leader elected (with --ha: the cluster has a quorum)."""
    return any(etcd_member_healthy(url) for url in s.etcd_urls)


def apiserver_ready(s: Settings) -> bool:
    return http_ok(f"{s.api_url}/readyz", ca=ca_file(s))


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; /proc tells us it is dead.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def open_log(path: Path) -> BinaryIO:
    return open(path, "ab")


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


class Supervisor:
    def __init__(self, s: Settings, *, echo: bool = False) -> None:
        self.s = s
        self.lay = Layout(s.home)
        self.echo = echo
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.state: dict[str, Any] = {"phase": "starting", "components": {}, "supervisor_pid": os.getpid()}
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def log(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}"
        with open(self.lay.log("supervisor"), "a") as f:
            f.write(line + "\n")
        if self.echo:
            print(message, flush=True)

    def save(self) -> None:
        write_json(self.lay.state_file, self.state)

    async def spawn(self, name: str, argv: list[str]) -> asyncio.subprocess.Process:
        env = dict(os.environ, PYTHONUNBUFFERED="1", KUBELITE_HOME=str(self.s.home))
        log = open_log(self.lay.log(name))
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL,
                                                        start_new_session=True, env=env, cwd=str(self.s.home))
        finally:
            log.close()  # the child keeps its own copy of the descriptor
        self.procs[name] = proc
        entry = self.state["components"].setdefault(name, {"restarts": -1})
        entry.update(pid=proc.pid, log=str(self.lay.log(name)), command=argv, started_at=time.time())
        entry["restarts"] += 1
        self.save()
        self.log(f"started {name} (pid {proc.pid}), log {self.lay.log(name)}")
        return proc

    async def keep_running(self, name: str, argv: list[str], first: asyncio.subprocess.Process) -> None:
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
        try:
            if local_control_plane:
                await asyncio.to_thread(write_credentials, self.s, components)
                started = await (self.start_ha(cmds) if self.s.ha else self.start_single(cmds))
                if started is not None:
                    return await self.fail(started)
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
            await self.stop_all()
        return 0

    async def backups(self) -> None:
        """`--backup-every`: an etcd snapshot per interval while the cluster runs."""
        from cli.backup import run_schedule

        directory = Path(self.s.backup_dir) if self.s.backup_dir else self.s.home / "backups"
        self.log(f"backing up etcd every {self.s.backup_every_s:.0f}s into {directory} (keeping {self.s.backup_keep})")
        await run_schedule(self.s.home, directory, self.s.backup_keep, self.s.backup_every_s, self.stopping,
                           echo=self.log)

    async def start_single(self, cmds: dict[str, list[str]]) -> str | None:
        """etcd, then the API server; None, or what failed."""
        if not await self.start_and_wait("etcd", cmds["etcd"], etcd_healthy, "etcd"):
            return "etcd did not start"
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
        self.state["phase"] = "stopped"
        self.save()
        with contextlib.suppress(FileNotFoundError):
            self.lay.pid_file.unlink()


async def stop_process_group(pid: int, grace_s: float, proc: asyncio.subprocess.Process | None = None) -> None:
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


def parse_components(text: str) -> list[str] | None:
    """"auto" -> None (all available); "" or "none" -> []; "scheduler,kubelet" -> that list."""
    if text == "auto":
        return None
    names = [c.strip() for c in text.split(",") if c.strip() and c.strip() != "none"]
    unknown = [c for c in names if c not in OPTIONAL]
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(OPTIONAL)}")
    return names


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    raise SystemExit(asyncio.run(Supervisor(settings).run()))


if __name__ == "__main__":
    main()
