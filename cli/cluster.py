"""`kubelite up | down | status | version`: the local one-node cluster.

Contract:
- `up [--api-port 6443] [--etcd-port 2379] [--home DIR] [--foreground] [--wait-node-s 60]`:
  idempotent. If the supervisor of that home is alive it says so and exits 0. Otherwise it
  records the settings in HOME/cluster.json, starts `python -m cli.supervisor` detached (its own
  session; --foreground runs it in this process until Ctrl-C), prints progress (etcd ready,
  apiserver ready, Node Ready when a kubelet runs: up to --wait-node-s), then a summary with
  pids, log paths, the kubeconfig and next commands. Fails (exit 1, with the log tail) if the
  supervisor gives up.
- `up --backup-every 30m [--backup-keep N]`: the supervisor also takes an etcd backup per
  interval into HOME/backups (cli/backup.py; `kubelite backup list` shows them).
- `up --ha`: the HA layout of cli/ha.py (3 etcd members, 2 API servers behind HAProxy on
  --api-port, two leader-elected schedulers and controller-managers).
- `down [--home] [--purge]`: SIGTERM to the supervisor (which stops components in reverse
  order), SIGKILL of anything left after a grace period, removal of the cluster's Docker
  containers (label io.kubelite.cluster=<name>; skipped when Docker is absent); --purge also
  deletes HOME.
- `status [--home]`: one row per component (process alive, etcd /health, apiserver /readyz,
  nodes Ready); exit 1 if anything is down.
HOME is --home, else $KUBELITE_HOME, else ~/.kubelite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer

from cli import ha
from cli.backup import parse_every
from cli.clusterplan import (
    DASHBOARD_ADDRESS,
    VERSION,
    Layout,
    Settings,
    ca_file,
    load_settings,
    parse_components,
    read_json,
    write_json,
)
from cli.errors import CliError, ExitCode, run
from cli.printers import render_table
from cli.probes import apiserver_ready, etcd_healthy, etcd_member_healthy, http_ok, pid_alive
from cli.session import Globals, open_client
from cli.supervisor import (
    GRACE_S,
    Supervisor,
    stop_process_group,
)
from machinery.models.node import Node


def resolve_home(home: str | None) -> Path:
    return Path(home or os.environ.get("KUBELITE_HOME") or Path.home() / ".kubelite").expanduser().resolve()


def supervisor_pid(lay: Layout) -> int | None:
    try:
        pid = int(lay.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    # A stale pid file may name a pid the system reused for something else.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"cli.supervisor" in cmdline or b"kubelite" in cmdline else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _is_ready(node: dict[str, Any], s: Settings, count: int) -> bool:
    """The Node of this cluster (by name, or the only one) has Ready=True."""
    if (node.get("metadata") or {}).get("name") != s.node_name and count != 1:
        return False
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


async def _node_ready(s: Settings) -> bool:
    client, _ = open_client(Globals(kubeconfig=str(Layout(s.home).kubeconfig)))
    async with client:
        body = await client.request("GET", "/api/v1/nodes")
    items = body.get("items") or []
    return any(_is_ready(n, s, len(items)) for n in items)


async def wait_node_ready(s: Settings, timeout_s: float) -> bool:
    """Event-driven: list the Nodes, then watch them from that resourceVersion until this
    cluster's Node is Ready (re-listing after a watch that ends or fails); False at the deadline."""
    deadline = time.monotonic() + timeout_s
    client, _ = open_client(Globals(kubeconfig=str(Layout(s.home).kubeconfig)))
    async with client:
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                body = await client.request("GET", "/api/v1/nodes")
                items = body.get("items") or []
                if any(_is_ready(n, s, len(items)) for n in items):
                    return True
                rv = (body.get("metadata") or {}).get("resourceVersion")
                names = {(n.get("metadata") or {}).get("name") for n in items}
                left_s = max(1.0, deadline - time.monotonic())
                async with asyncio.timeout(left_s):
                    async for event in client.watch(Node, resource_version=rv, timeout_s=left_s):
                        obj = event.raw.get("object") or {}
                        names.add((obj.get("metadata") or {}).get("name"))
                        if event.type in ("ADDED", "MODIFIED") and _is_ready(obj, s, len(names)):
                            return True
            await asyncio.sleep(0.2)
    return False


async def wait_progress(s: Settings, sup_pid: int | None, wait_node_s: float) -> None:
    lay = Layout(s.home)
    steps = [("etcd", lambda: etcd_healthy(s), 60.0), ("apiserver", lambda: apiserver_ready(s), 60.0),
             ("kubeconfig", lambda: lay.kubeconfig.exists() and read_json(lay.state_file).get("phase") == "running", 30.0)]
    for what, check, timeout_s in steps:
        deadline = time.monotonic() + timeout_s
        while not await asyncio.to_thread(check):
            state = read_json(lay.state_file)
            if state.get("phase") == "failed" or (sup_pid is not None and not pid_alive(sup_pid)):
                raise CliError(f"the cluster failed to start ({state.get('message', 'supervisor exited')}); "
                               f"last lines of {lay.log('supervisor')}:\n{_tail(lay.log('supervisor'))}")
            if time.monotonic() > deadline:
                raise CliError(f"{what} not ready after {timeout_s:.0f}s; see {lay.logs}")
            await asyncio.sleep(0.2)
        print(f"✓ {what} ready" if what != "kubeconfig" else f"✓ kubeconfig written to {lay.kubeconfig}", flush=True)
    if "kubelet" in read_json(lay.state_file).get("components", {}):
        print(f"… waiting up to {wait_node_s:.0f}s for node {s.node_name} to be Ready", flush=True)
        if await wait_node_ready(s, wait_node_s):
            print(f"✓ node {s.node_name} Ready", flush=True)
        else:
            print(f"! node {s.node_name} not Ready yet; see {lay.log('kubelet')}", flush=True)


def summary(s: Settings) -> str:
    lay = Layout(s.home)
    state = read_json(lay.state_file)
    rows = [[name, str(c.get("pid") or "-"), c.get("log", "")] for name, c in (state.get("components") or {}).items()]
    default_home = s.home == (Path.home() / ".kubelite").resolve()
    home_flag = "" if default_home else f" --home {s.home}"
    lines = [render_table(["COMPONENT", "PID", "LOG"], rows), "",
             f"API server:  {s.api_url}", f"kubeconfig:  {lay.kubeconfig}", f"home:        {s.home}"]
    if "dashboard" in (state.get("components") or {}):
        lines.append(f"dashboard:   http://{DASHBOARD_ADDRESS}/")
    lines += ["", "Next:"]
    if not default_home:
        lines.append(f"  export KUBECONFIG={lay.kubeconfig}")
    lines += ["  kubelite get nodes", "  kubelite create namespace demo",
              "  kubelite apply -f my-app.yaml && kubelite get pods -w",
              f"  kubelite status{home_flag}", f"  kubelite down{home_flag}"]
    return "\n".join(lines)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def spawn_supervisor(s: Settings) -> int:
    """Start the supervisor detached (own session, so it outlives this command); its pid."""
    argv = [sys.executable, "-m", "cli.supervisor", "--home", str(s.home), "--api-port", str(s.api_port),
            "--etcd-port", str(s.etcd_port), "--cluster-name", s.cluster_name, "--node-name", s.node_name,
            "--components", "auto" if s.components is None else ",".join(s.components) or "none"]
    if s.server:
        argv += ["--server", s.server, "--cluster-dns", s.cluster_dns, "--node-ip", s.node_ip]
    if s.ha:
        argv.append("--ha")
    if s.backup_every_s > 0:
        argv += ["--backup-every-s", str(s.backup_every_s), "--backup-keep", str(s.backup_keep),
                 "--backup-dir", s.backup_dir]
    with open(Layout(s.home).log("supervisor"), "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=str(s.home))
    return proc.pid


def wait_exit(pid: int, timeout_s: float) -> bool:
    """Block until `pid` is gone or the timeout passes; True when it is gone."""
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


async def up(home: Path, api_port: int, etcd_port: int, cluster_name: str, foreground: bool, wait_node_s: float,
             components: str = "auto", backup_every: str = "", backup_keep: int = 10, ha_mode: bool = False) -> int:
    lay = Layout(home)
    pid = supervisor_pid(lay)
    if pid is not None:
        s = load_settings(home)
        print(f"kubelite is already running (supervisor pid {pid}, home {home})")
        print(summary(s))
        return 0
    try:
        s = Settings(home, api_port, etcd_port, cluster_name, components=parse_components(components),
                     backup_every_s=parse_every(backup_every) if backup_every else 0.0, backup_keep=backup_keep,
                     ha=ha_mode)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    wanted = ha.ports(s) if ha_mode else [("apiserver", api_port), ("etcd", etcd_port), ("etcd peer", etcd_port + 1)]
    busy = [f"{what} port {port}" for what, port in wanted if port_in_use(port)]
    if busy:
        raise CliError(f"{', '.join(busy)} already in use on 127.0.0.1; pick others with --api-port/--etcd-port "
                       "(another cluster may be running with a different --home)")
    for d in (lay.run, lay.logs):
        d.mkdir(parents=True, exist_ok=True)
    write_json(lay.config_file, {"api_port": api_port, "etcd_port": etcd_port, "cluster_name": cluster_name,
                                 "node_name": s.node_name, "components": s.components,
                                 "backup_every_s": s.backup_every_s, "backup_keep": s.backup_keep, "ha": ha_mode})
    with contextlib.suppress(FileNotFoundError):
        lay.state_file.unlink()
    if ha_mode:
        print(f"Starting kubelite HA in {home} (HAProxy :{api_port} -> apiservers "
              f"{', '.join(str(ha.apiserver_port(s, i)) for i in range(ha.API_SERVERS))}; etcd members "
              f"{', '.join(u.rsplit(':', 1)[1] for u in s.etcd_urls)}); components: "
              f"{', '.join(s.planned()) or '(no others)'} (scheduler and controllers twice, leader-elected)", flush=True)
    else:
        print(f"Starting kubelite in {home} (apiserver :{api_port}, etcd :{etcd_port}); "
              f"components: etcd, apiserver, {', '.join(s.planned()) or '(no others)'}", flush=True)
    if foreground:
        sup = Supervisor(s, echo=True)
        return await sup.run()
    await wait_progress(s, spawn_supervisor(s), wait_node_s)
    print(summary(s))
    return 0


def remove_containers(cluster_name: str) -> int:
    """Remove the cluster's Docker containers, then its networks (the kubelet's pod bridge);
    returns how many containers went. Docker absent or unreachable: nothing to do."""
    docker = shutil.which("docker")
    if docker is None:
        return 0
    label = f"label=io.kubelite.cluster={cluster_name}"
    try:
        ids = subprocess.run([docker, "ps", "-aq", "--filter", label],
                             capture_output=True, text=True, timeout=30).stdout.split()
        if ids:
            subprocess.run([docker, "rm", "-f", *ids], capture_output=True, timeout=120)
        nets = subprocess.run([docker, "network", "ls", "-q", "--filter", label],
                              capture_output=True, text=True, timeout=30).stdout.split()
        if nets:
            subprocess.run([docker, "network", "rm", *nets], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return 0
    return len(ids)


async def down(home: Path, purge: bool) -> int:
    lay = Layout(home)
    s = load_settings(home)
    pid = supervisor_pid(lay)
    if pid is not None:
        print(f"Stopping kubelite (supervisor pid {pid})", flush=True)
        os.kill(pid, signal.SIGTERM)
        if not await asyncio.to_thread(wait_exit, pid, GRACE_S * 2 + 5):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    else:
        print(f"kubelite is not running (home {home})")
    # Whatever the supervisor could not stop (it was killed, or crashed) goes now.
    for name, comp in (read_json(lay.state_file).get("components") or {}).items():
        if pid_alive(comp.get("pid")):
            print(f"stopping leftover {name} (pid {comp['pid']})")
            await stop_process_group(int(comp["pid"]), GRACE_S)
    removed = remove_containers(s.cluster_name)
    if removed:
        print(f"removed {removed} container(s) of cluster {s.cluster_name}")
    with contextlib.suppress(FileNotFoundError):
        lay.pid_file.unlink()
    if purge:
        shutil.rmtree(home, ignore_errors=True)
        print(f"purged {home}")
    print("kubelite is down")
    return 0


async def status(home: Path) -> int:
    lay = Layout(home)
    if not lay.config_file.exists():
        raise CliError(f"no kubelite cluster in {home} (run `kubelite up`)")
    s = load_settings(home)
    state = read_json(lay.state_file)
    rows: list[list[str]] = []
    sup = supervisor_pid(lay)
    rows.append(["supervisor", "Running" if sup else "Down", str(sup or "-"), str(lay.log("supervisor"))])
    holders = await _lease_holders(s) if s.ha else {}
    for name, comp in (state.get("components") or {}).items():
        alive = pid_alive(comp.get("pid"))
        detail = f"restarts {comp.get('restarts', 0)}"
        healthy = alive
        if s.ha and name.split("-")[0] in ("etcd", "apiserver", "haproxy", "scheduler", "controllers"):
            healthy, role = await asyncio.to_thread(_ha_health, s, name, comp, holders) if alive else (False, "")
            rows.append([name, "Running" if healthy else "Down", str(comp.get("pid") or "-"), f"{role}; {detail}"])
            continue
        if name == "etcd":
            healthy = alive and await asyncio.to_thread(etcd_healthy, s)
            detail = f"{s.etcd_url}/health {'ok' if healthy else 'failing'}; {detail}"
        elif name == "apiserver":
            healthy = alive and await asyncio.to_thread(apiserver_ready, s)
            detail = f"{s.api_url}/readyz {'ok' if healthy else 'failing'}; {detail}"
        rows.append([name, "Running" if healthy else "Down", str(comp.get("pid") or "-"), detail])
    if "kubelet" in (state.get("components") or {}):
        ok = False
        with contextlib.suppress(Exception):
            ok = await _node_ready(s)
        rows.append([f"node/{s.node_name}", "Ready" if ok else "NotReady", "-", "Node condition Ready"])
    print(render_table(["COMPONENT", "STATUS", "PID", "DETAIL"], rows))
    down_count = sum(1 for r in rows if r[1] not in ("Running", "Ready"))
    if not state.get("components"):
        down_count += 1
    if down_count:
        raise ExitCode(1)
    return 0


LEASES = {"scheduler": "kube-scheduler", "controllers": "kube-controller-manager"}


async def _lease_holders(s: Settings) -> dict[str, str]:
    """{"scheduler": holderIdentity, "controllers": ...} from the kube-system Leases."""
    out: dict[str, str] = {}
    with contextlib.suppress(Exception):
        client, _ = open_client(Globals(kubeconfig=str(Layout(s.home).kubeconfig)))
        async with client:
            for comp, lease in LEASES.items():
                with contextlib.suppress(Exception):
                    body = await client.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
                    out[comp] = str(((body or {}).get("spec") or {}).get("holderIdentity") or "")
    return out


def _etcd_role(url: str) -> tuple[bool, str]:
    """(healthy, "leader"/"follower") of one member, from /health and its maintenance status."""
    if not etcd_member_healthy(url):
        return False, f"{url} unhealthy"
    try:
        st = httpx.post(f"{url}/v3/maintenance/status", json={}, timeout=2.0).json()
        leader = str(st.get("leader")) == str((st.get("header") or {}).get("member_id"))
    except (httpx.HTTPError, ValueError):
        return True, f"{url} healthy"
    return True, f"{url} {'leader' if leader else 'follower'}"


def _ha_health(s: Settings, name: str, comp: dict[str, Any], holders: dict[str, str]) -> tuple[bool, str]:
    kind, _, idx = name.partition("-")
    if kind == "etcd":
        return _etcd_role(s.etcd_urls[int(idx)])
    if kind == "apiserver":
        url = f"https://127.0.0.1:{ha.apiserver_port(s, int(idx))}"
        ok = http_ok(f"{url}/readyz", ca=ca_file(s))
        return ok, f"{url}/readyz {'ok' if ok else 'failing'}"
    if kind == "haproxy":
        ok = apiserver_ready(s)
        return ok, f"{s.api_url} -> apiservers: /readyz {'ok' if ok else 'failing'}"
    holder = holders.get(kind, "")
    leads = bool(holder) and holder.rsplit("_", 1)[-1] == str(comp.get("pid"))
    return True, f"leader ({LEASES[kind]} Lease)" if leads else "standby"


async def version(g: Globals, *, client_only: bool) -> int:
    print(f"Client Version: {VERSION}")
    if client_only:
        return 0
    client, _ = open_client(g)
    async with client:
        info = await client.request("GET", "/version")
    print(f"Server Version: {(info or {}).get('gitVersion', 'unknown') if isinstance(info, dict) else info}")
    return 0


def register(app: typer.Typer) -> None:
    home_opt = typer.Option(None, "--home", help="Cluster state directory (default $KUBELITE_HOME or ~/.kubelite).")

    @app.command("up")
    def up_cmd(api_port: int = typer.Option(6443, "--api-port"), etcd_port: int = typer.Option(2379, "--etcd-port"),
               home: str | None = home_opt, cluster_name: str = typer.Option("kubelite", "--cluster-name"),
               foreground: bool = typer.Option(False, "--foreground", help="Run the supervisor in this terminal."),
               wait_node_s: float = typer.Option(60.0, "--wait-node-s", help="How long to wait for the Node."),
               components: str = typer.Option("auto", "--components",
                                              help="Optional components to run: auto (all found), none, "
                                                   "or a list like scheduler,controllers,kubelet,proxy."),
               backup_every: str = typer.Option("", "--backup-every",
                                                help="Back up etcd every interval (30m, 1h) into HOME/backups."),
               backup_keep: int = typer.Option(10, "--backup-keep", help="Scheduled backups to keep."),
               ha_mode: bool = typer.Option(False, "--ha", help="3 etcd members, 2 API servers behind HAProxy, "
                                                                "2 schedulers and 2 controller-managers.")) -> None:
        """Start a local one-node cluster (etcd, apiserver, scheduler, controllers, kubelet, proxy, cluster DNS)."""
        run(up(resolve_home(home), api_port, etcd_port, cluster_name, foreground, wait_node_s, components,
               backup_every, backup_keep, ha_mode))

    @app.command("down")
    def down_cmd(home: str | None = home_opt,
                 purge: bool = typer.Option(False, "--purge", help="Also delete etcd data, logs and kubeconfig.")) -> None:
        """Stop the local cluster and remove its containers."""
        run(down(resolve_home(home), purge))

    @app.command("status")
    def status_cmd(home: str | None = home_opt) -> None:
        """Show the health of each component of the local cluster."""
        run(status(resolve_home(home)))
