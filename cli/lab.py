"""`kubelite lab up|down|status|scale|add-node|remove-node`: the docker-compose multi-host lab.

Contract:
- `up [--name kubelite-lab] [--nodes 3] [--api-port 6550] [--subnet-prefix 172.30.99]
  [--apiserver-flags F] [--controller-flags F]`:
  from a fresh machine (after deploy/bootstrap.sh), with a progress line per step: the traffic
  guard on the host; the images (deploy/lab/build.sh; cached by an inputs hash, so a warm run
  builds nothing); a host rule accepting pod traffic on the lab bridge (Docker drops packets of
  non-lab addresses on an internal network otherwise); `docker-compose up -d` of
  deploy/lab/docker-compose.yml plus the generated override (nodes beyond the base three);
  the API server answering on 127.0.0.1:PORT; a kubeconfig for the host at
  $KUBELITE_HOME/labs/NAME/kubeconfig; every node Ready (up to --wait-s). Then how to use it.
  Idempotent: an existing lab is reconciled, not duplicated.
- `down [--name]`: `docker-compose down -v --remove-orphans`, then everything still labelled
  `io.kubelite.lab=NAME` (containers, networks, volumes), the host rule, and the lab's state
  directory. Leaves nothing; a lab that does not exist is not an error.
- `scale --nodes N`: adds the lowest free node indices, or removes the highest ones, each
  removed node drained first (`remove-node`). `add-node [NAME]` / `remove-node NAME`.
- `remove-node NAME`: `kubelite drain NAME --ignore-daemonsets --delete-emptydir-data --force
  --timeout <--drain-timeout-s>` (cli/drain.py: cordon, evictions honouring PodDisruptionBudgets,
  DaemonSet and mirror pods left), then stop and remove the container and its volume, and
  delete the Node.
The lab's settings live in $KUBELITE_HOME/labs/NAME/lab.json (written by `up`; other verbs
read them, so only `up` takes --api-port/--subnet-prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
import yaml

from cli import labplan
from cli.drain import DrainOptions, drain_node
from cli.errors import CliError, run
from cli.labplan import LabConfig
from machinery import errors
from machinery.client import ApiClient
from machinery.kubeconfig import write_kubeconfig

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "deploy" / "lab" / "docker-compose.yml"
BUILD_SCRIPT = ROOT / "deploy" / "lab" / "build.sh"
CMD_TIMEOUT_S = 900.0


def labs_home() -> Path:
    home = os.environ.get("KUBELITE_HOME") or str(Path.home() / ".kubelite")
    return Path(home).expanduser().resolve() / "labs"


def state_dir(name: str) -> Path:
    return labs_home() / name


def cache_dir() -> Path:
    return labs_home() / ".cache"


def step(msg: str) -> None:
    print(f"• {msg}", flush=True)


def done(msg: str, started: float) -> None:
    print(f"✓ {msg} ({time.monotonic() - started:.1f}s)", flush=True)


def _run(args: list[str], *, env: dict[str, str] | None = None, check: bool = True,
         timeout_s: float = CMD_TIMEOUT_S, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(args, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout_s, check=False, input=input_text)
    except FileNotFoundError:
        raise CliError(f"{args[0]} not found (run deploy/bootstrap.sh)") from None
    except subprocess.TimeoutExpired:
        raise CliError(f"{' '.join(args[:3])} did not finish within {timeout_s:.0f}s") from None
    if check and proc.returncode != 0:
        out = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise CliError(f"{' '.join(args[:4])} failed ({proc.returncode}):\n{out}")
    return proc


# -- settings ------------------------------------------------------------------------------

def ensure_lab_pki(cfg: LabConfig, nodes: set[int]) -> None:
    """The lab's PKI on the host (kept across `lab up`s) and each node's own credential dir:
    ca.crt, its kubelet client certificate (system:node:NODE), its kubelet serving certificate
    (kubelet-NODE: SANs the node name and its lab address), kube-proxy's and the route agent's."""
    from machinery import pki as pkimod  # lazy: cryptography (~90 ms) at every CLI start otherwise

    d = state_dir(cfg.name)
    pki = pkimod.ensure_cluster_pki(d / "pki", dns_sans=["control-plane"],
                                    ip_sans=[cfg.control_plane_ip, "10.96.0.1"],
                                    nodes=[labplan.node_name(i) for i in sorted(nodes)])
    for i in sorted(nodes):
        node = labplan.node_name(i)
        creds = d / "creds" / node
        creds.mkdir(parents=True, exist_ok=True)
        os.chmod(creds, 0o700)
        pkimod.write_public(creds / "ca.crt", pki.ca_cert.read_bytes())
        pkimod.ensure_kubelet_serving_cert(pki, node, ip_addresses=[labplan.node_ip(cfg, i)])
        for stem in (f"node-{node}", f"kubelet-{node}", "kube-proxy", "routeagent"):
            pkimod.write_public(creds / f"{stem}.crt", pki.cert(stem).read_bytes())
            pkimod.write_private(creds / f"{stem}.key", pki.key(stem).read_bytes())


def save_config(cfg: LabConfig, nodes: set[int]) -> None:
    d = state_dir(cfg.name)
    d.mkdir(parents=True, exist_ok=True)
    ensure_lab_pki(cfg, nodes)
    (d / "lab.json").write_text(json.dumps({"name": cfg.name, "api_port": cfg.api_port, "prefix": cfg.prefix,
                                            "apiserver_flags": cfg.apiserver_flags,
                                            "controller_flags": cfg.controller_flags,
                                            "nodes": sorted(nodes)}, indent=2))
    (d / "nodes.yml").write_text(yaml.safe_dump(labplan.override(cfg, nodes), sort_keys=False))


def load_config(name: str) -> tuple[LabConfig, set[int]]:
    path = state_dir(name) / "lab.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise CliError(f'lab "{name}" does not exist (no {path}); start it with `kubelite lab up --name {name}`') from None
    return (LabConfig(data["name"], int(data["api_port"]), str(data["prefix"]),
                      str(data.get("apiserver_flags") or ""), str(data.get("controller_flags") or "")),
            {int(i) for i in data.get("nodes") or []})


def compose(cfg: LabConfig, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    files = ["-f", str(COMPOSE_FILE)]
    override = state_dir(cfg.name) / "nodes.yml"
    if override.exists():
        files += ["-f", str(override)]
    env = labplan.compose_env(cfg, src=str(ROOT), cache=str(cache_dir()), state=str(state_dir(cfg.name)))
    return _run(["docker-compose", "-p", cfg.name, "--project-directory", str(COMPOSE_FILE.parent), *files, *args],
                env=env, check=check)


# -- host side ---------------------------------------------------------------------------

def ensure_host_guard() -> None:
    """The host's traffic guard (kubelet/network.py), run as its own process: the CLI does not
    import components."""
    _run([sys.executable, "-c", "from kubelet.network import ensure_guard; ensure_guard()"])


def _bridge_rule(cfg: LabConfig) -> list[str]:
    br = labplan.bridge_name(cfg.name)
    return ["DOCKER-USER", "-i", br, "-o", br, "-m", "comment", "--comment", f"kubelite lab {cfg.name}",
            "-j", "ACCEPT"]


def ensure_bridge_rule(cfg: LabConfig) -> None:
    rule = _bridge_rule(cfg)
    if _run(["iptables", "-w", "5", "-C", *rule], check=False).returncode != 0:
        _run(["iptables", "-w", "5", "-I", *rule])


def remove_bridge_rule(cfg: LabConfig) -> None:
    while _run(["iptables", "-w", "5", "-D", *_bridge_rule(cfg)], check=False).returncode == 0:
        pass


def lab_containers(name: str, *, node: str | None = None, running_only: bool = False) -> list[dict[str, str]]:
    args = ["docker", "ps", "--format", "{{json .}}", "--filter", f"label={labplan.LAB_LABEL}={name}"]
    if not running_only:
        args.insert(2, "-a")
    if node:
        args += ["--filter", f"label={labplan.LAB_NODE_LABEL}={node}"]
    out = _run(args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def running_nodes(name: str) -> set[int]:
    out: set[int] = set()
    for c in lab_containers(name, running_only=True):
        for label in (c.get("Labels") or "").split(","):
            key, _, value = label.partition("=")
            if key == labplan.LAB_NODE_LABEL:
                with contextlib.suppress(ValueError):
                    out.add(labplan.node_index(value))
    return out


def write_host_kubeconfig(cfg: LabConfig) -> Path:
    """The lab's admin kubeconfig on the host (CA + kubernetes-admin client certificate)."""
    pki = state_dir(cfg.name) / "pki"
    return write_kubeconfig(state_dir(cfg.name) / "kubeconfig", cfg.api_url, cluster_name=cfg.name,
                            user="admin", ca_file=str(pki / "ca.crt"), cert_file=str(pki / "admin.crt"),
                            key_file=str(pki / "admin.key"))


# -- waiting ------------------------------------------------------------------------------

def _client(cfg: LabConfig) -> Any:
    return ApiClient.from_kubeconfig(str(write_host_kubeconfig(cfg)), timeout_s=10.0)


async def wait_api(cfg: LabConfig, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0, verify=str(state_dir(cfg.name) / "pki" / "ca.crt")) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{cfg.api_url}/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                logs = compose(cfg, "logs", "--tail", "20", "control-plane", check=False).stdout
                raise CliError(f"the API server did not answer on {cfg.api_url} within {timeout_s:.0f}s;\n{logs}")
            await asyncio.sleep(0.3)


def _ready(node: dict[str, Any]) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


async def wait_nodes_ready(cfg: LabConfig, names: set[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    seen: set[str] = set()
    async with _client(cfg) as client:
        while True:
            with contextlib.suppress(errors.ApiError):
                body = await client.request("GET", "/api/v1/nodes")
                ready = {n["metadata"]["name"] for n in body.get("items") or [] if _ready(n)} & names
                for n in sorted(ready - seen):
                    print(f"  node {n} Ready", flush=True)
                seen |= ready
                if ready == names:
                    return
            if time.monotonic() > deadline:
                raise CliError(f"nodes not Ready after {timeout_s:.0f}s: {', '.join(sorted(names - seen))} "
                               f"(logs: docker exec CONTAINER tail /var/log/kubelite/kubelet.log)")
            await asyncio.sleep(0.5)


# -- verbs --------------------------------------------------------------------------------

async def up(cfg: LabConfig, nodes: int | None, wait_s: float) -> int:
    """`nodes` None: the nodes the lab already has (3 for a new lab)."""
    t0 = time.monotonic()
    if shutil.which("docker-compose") is None:
        raise CliError("docker-compose not found: run deploy/bootstrap.sh (it installs Debian's docker-compose)")
    wanted = set(range(1, (nodes or labplan.BASE_NODES) + 1))
    old: LabConfig | None = None
    with contextlib.suppress(CliError):
        old, old_nodes = load_config(cfg.name)
        if nodes is None:
            wanted = old_nodes
    if old is not None and (old.api_port, old.prefix) != (cfg.api_port, cfg.prefix) and lab_containers(cfg.name):
        raise CliError(f'lab "{cfg.name}" already runs with API port {old.api_port} and subnet '
                       f"{old.prefix}.0/24; run `kubelite lab down --name {cfg.name}` first")
    print(f"Starting lab {cfg.name}: control plane + {len(wanted)} node(s) on {cfg.prefix}.0/24, "
          f"API server {cfg.api_url}", flush=True)
    t = time.monotonic()
    step("traffic guard on this host")
    await asyncio.to_thread(ensure_host_guard)
    done("guard in place", t)
    t = time.monotonic()
    step("images (built only when their inputs changed)")
    cache_dir().mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_run, ["bash", str(BUILD_SCRIPT)], env={"LAB_CACHE": str(cache_dir()),
                                                                    "PY": sys.executable})
    done("images ready", t)
    t = time.monotonic()
    step("containers (docker-compose up)")
    save_config(cfg, wanted)
    await asyncio.to_thread(compose, cfg, "up", "-d", "--remove-orphans")
    await asyncio.to_thread(ensure_bridge_rule, cfg)
    done("containers started", t)
    t = time.monotonic()
    step(f"API server on {cfg.api_url}")
    await wait_api(cfg, wait_s)
    kubeconfig = await asyncio.to_thread(write_host_kubeconfig, cfg)
    done(f"API server ready; kubeconfig {kubeconfig}", t)
    t = time.monotonic()
    step(f"waiting up to {wait_s:.0f}s for {len(wanted)} node(s) to be Ready")
    await wait_nodes_ready(cfg, {labplan.node_name(i) for i in wanted}, wait_s)
    done("all nodes Ready", t)
    print(f"\nLab {cfg.name} is up in {time.monotonic() - t0:.1f}s.\n")
    print(usage(cfg, kubeconfig))
    return 0


def usage(cfg: LabConfig, kubeconfig: Path) -> str:
    n = "" if cfg.name == labplan.DEFAULT_NAME else f" --name {cfg.name}"
    return "\n".join([
        f"  export KUBECONFIG={kubeconfig}",
        "  kubelite get nodes -o wide",
        "  kubelite apply -f deploy/examples/hello.yaml",
        "  kubelite image load IMAGE            # copy a host image into every node's engine",
        f"  kubelite lab scale --nodes 4{n}      # add-node / remove-node NAME (drained first)",
        f"  kubelite lab status{n}",
        f"  make lab-down  (kubelite lab down{n})",
    ])


async def down(name: str) -> int:
    t0 = time.monotonic()
    cfg: LabConfig | None = None
    with contextlib.suppress(CliError):
        cfg, _ = load_config(name)
    if cfg is not None:
        step(f"docker-compose down (lab {name})")
        await asyncio.to_thread(compose, cfg, "down", "-v", "--remove-orphans", "-t", "5", check=False)
    # Whatever compose did not know about (a killed `up`, a lost state directory) goes too.
    label = f"label={labplan.LAB_LABEL}={name}"
    ids = _run(["docker", "ps", "-aq", "--filter", label]).stdout.split()
    if ids:
        _run(["docker", "rm", "-f", "-v", *ids], check=False)
    for kind in ("network", "volume"):
        ids = _run(["docker", kind, "ls", "-q", "--filter", label]).stdout.split()
        if ids:
            _run(["docker", kind, "rm", *ids], check=False)
    remove_bridge_rule(cfg or LabConfig(name))
    shutil.rmtree(state_dir(name), ignore_errors=True)
    left = [kind for kind, args in (("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                                    ("volumes", ["volume", "ls", "-q"]))
            if _run(["docker", *args, "--filter", label]).stdout.split()]
    if left:
        raise CliError(f"lab {name}: some {', '.join(left)} could not be removed (docker {label})")
    print(f"✓ lab {name} is down; no containers, networks, volumes or rules left "
          f"({time.monotonic() - t0:.1f}s)", flush=True)
    return 0


async def status(name: str) -> int:
    cfg, _nodes = load_config(name)
    rows = lab_containers(name)
    print(f"lab {name}: API server {cfg.api_url}, kubeconfig {state_dir(name) / 'kubeconfig'}")
    for c in sorted(rows, key=lambda c: c.get("Names", "")):
        print(f"  {c.get('Names', ''):<32} {c.get('State', ''):<10} {c.get('Status', '')}")
    return 0


async def add_nodes(cfg: LabConfig, indices: list[int], wait_s: float) -> None:
    _, nodes = load_config(cfg.name)
    nodes |= set(indices)
    save_config(cfg, nodes)
    services = [labplan.node_name(i) for i in indices]
    step(f"adding {', '.join(services)}")
    t = time.monotonic()
    await asyncio.to_thread(compose, cfg, "up", "-d", "--no-recreate", *services)
    await wait_nodes_ready(cfg, set(services), wait_s)
    done(f"{', '.join(services)} Ready", t)


async def remove_node(cfg: LabConfig, node: str, drain_timeout_s: float) -> None:
    i = labplan.node_index(node)
    t = time.monotonic()
    step(f"draining {node}")
    # `kubectl drain --ignore-daemonsets --delete-emptydir-data --force --timeout`: the host goes.
    opts = DrainOptions(ignore_daemonsets=True, delete_emptydir_data=True, force=True, timeout_s=drain_timeout_s)
    async with _client(cfg) as client:
        with contextlib.suppress(errors.NotFound):
            if not await drain_node(client, node, opts):
                raise CliError(f"drain of {node} failed (node left cordoned); see above")
    _, nodes = load_config(cfg.name)
    nodes.discard(i)
    await asyncio.to_thread(compose, cfg, "rm", "-f", "-s", "-v", node)
    save_config(cfg, nodes)
    for c in lab_containers(cfg.name, node=node):  # started by an older override
        _run(["docker", "rm", "-f", "-v", c["ID"]], check=False)
    _run(["docker", "volume", "rm", f"{cfg.name}_{node}"], check=False)
    async with _client(cfg) as client:
        with contextlib.suppress(errors.NotFound):
            await client.request("DELETE", f"/api/v1/nodes/{node}")
    done(f"{node} removed", t)


async def scale(name: str, n: int, wait_s: float, drain_timeout_s: float) -> int:
    cfg, nodes = load_config(name)
    try:
        add, remove = labplan.scale_plan(nodes, n)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if add:
        await add_nodes(cfg, add, wait_s)
    for i in remove:
        await remove_node(cfg, labplan.node_name(i), drain_timeout_s)
    print(f"lab {name}: {n} node(s)" + ("" if add or remove else " (unchanged)"))
    return 0


async def add_node(name: str, node: str | None, wait_s: float) -> int:
    cfg, nodes = load_config(name)
    try:
        i = labplan.node_index(node) if node else labplan.scale_plan(nodes, len(nodes) + 1)[0][0]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if i in nodes:
        raise CliError(f"node {labplan.node_name(i)} is already in lab {name}")
    await add_nodes(cfg, [i], wait_s)
    return 0


async def remove_node_cmd(name: str, node: str, drain_timeout_s: float) -> int:
    cfg, nodes = load_config(name)
    try:
        i = labplan.node_index(node)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if i not in nodes:
        raise CliError(f'node "{node}" is not in lab {name} (nodes: '
                       f"{', '.join(labplan.node_name(j) for j in sorted(nodes)) or 'none'})")
    await remove_node(cfg, node, drain_timeout_s)
    return 0


def register(app: Any) -> None:
    lab = typer.Typer(no_args_is_help=True, help="The docker-compose multi-host lab (control plane + node hosts).")
    name_opt = typer.Option(labplan.DEFAULT_NAME, "--name", help="Lab (compose project) name.")
    wait_opt = typer.Option(300.0, "--wait-s", help="How long to wait for nodes to be Ready.")
    drain_opt = typer.Option(120.0, "--drain-timeout-s", help="How long a drain may take.")

    def _cfg(name: str, api_port: int, prefix: str, apiserver_flags: str, controller_flags: str) -> LabConfig:
        try:
            return LabConfig(name, api_port, prefix, apiserver_flags, controller_flags)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    async def _up(name: str, nodes: int | None, api_port: int, prefix: str, wait_s: float, apiserver_flags: str,
                  controller_flags: str) -> int:
        if nodes is not None and not 1 <= nodes <= labplan.MAX_NODES:
            raise CliError(f"--nodes must be between 1 and {labplan.MAX_NODES}")
        return await up(_cfg(name, api_port, prefix, apiserver_flags, controller_flags), nodes, wait_s)

    @lab.command("up")
    def up_cmd(name: str = name_opt,
               nodes: int | None = typer.Option(None, "--nodes", help="Node hosts (default: 3, or what the lab has)."),
               api_port: int = typer.Option(labplan.DEFAULT_API_PORT, "--api-port"),
               subnet_prefix: str = typer.Option(labplan.DEFAULT_PREFIX, "--subnet-prefix",
                                                 help="First three octets of the lab's /24."),
               wait_s: float = wait_opt,
               apiserver_flags: str = typer.Option("", "--apiserver-flags", help="Extra API server flags."),
               controller_flags: str = typer.Option("", "--controller-flags",
                                                    help="Extra controller-manager flags.")) -> None:
        """Build what is missing and start the lab; prints how to use it."""
        run(_up(name, nodes, api_port, subnet_prefix, wait_s, apiserver_flags, controller_flags))

    @lab.command("down")
    def down_cmd(name: str = name_opt) -> None:
        """Remove the lab's containers, networks, volumes and host rules."""
        run(down(name))

    @lab.command("status")
    def status_cmd(name: str = name_opt) -> None:
        """Show the lab's containers."""
        run(status(name))

    @lab.command("scale")
    def scale_cmd(nodes: int = typer.Option(..., "--nodes"), name: str = name_opt, wait_s: float = wait_opt,
                  drain_timeout_s: float = drain_opt) -> None:
        """Add or remove node hosts until the lab has N (removed ones are drained first)."""
        run(scale(name, nodes, wait_s, drain_timeout_s))

    @lab.command("add-node")
    def add_node_cmd(node: str | None = typer.Argument(None, help="nodeN (default: the lowest free)"),
                     name: str = name_opt, wait_s: float = wait_opt) -> None:
        """Add one node host."""
        run(add_node(name, node, wait_s))

    @lab.command("remove-node")
    def remove_node_cmd_(node: str = typer.Argument(...), name: str = name_opt,
                         drain_timeout_s: float = drain_opt) -> None:
        """Drain a node, then remove its host."""
        run(remove_node_cmd(name, node, drain_timeout_s))

    app.add_typer(lab, name="lab")
