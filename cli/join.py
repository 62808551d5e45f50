"""`kubelite token create [--print-join-command]` and `kubelite join --server URL --token T`.

How a second machine joins a cluster (kubeadm join / k3s agent style).

Tokens: `token create` makes a kubeadm-format bootstrap token `<id>.<secret>` (6 and 16
characters of [a-z0-9]) and stores it as Kubernetes does, as the Secret
`kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token` with `token-id`,
`token-secret`, `expiration` (RFC 3339, `--ttl-s`, default 24 h, 0 = never) and the usages
`usage-bootstrap-authentication`/`usage-bootstrap-signing`. `--print-join-command` prints
`kubelite join --server URL --token T` with the server of the current kubeconfig.

The token is the API server's bootstrap token credential (`system:bootstrap:<id>` in
`system:bootstrappers` and kubeadm's `system:bootstrappers:kubeadm:default-node-token`, which
the bootstrap policy lets create CertificateSigningRequests). `join` checks it before starting
anything, writes it as HOME/kubeconfig, and uses it for the TLS bootstrap: it asks for the
proxy's (system:kube-proxy) and route agent's (system:kubelite-routeagent) client certificates
itself (HOME/pki, HOME/kubeconfigs/*.kubeconfig), and the kubelet asks for its own
system:node:NAME certificate with `--bootstrap-kubeconfig HOME/kubeconfig` (kubelet/bootstrap.py);
the controller-manager's csrapproving/csrsigning controllers approve and sign them.

`join` runs preflight checks, each reported on its own line, and stops at the first failure
(exit 1, kubeadm-like `[preflight] ...` messages): Docker answers; Iptables and Ip are present;
  Port-10250 (the kubelet's) is free; the API server answers /readyz; ClockSkew: this clock
  differs from the API server's (HTTP Date) by at most `MAX_SKEW_S`; Token is valid; NodeName:
  no Ready Node already has this node's name. `--ignore-preflight-errors=Name,...|all` turns
  those failures into `[WARNING Name]` lines, as kubeadm's flag does.
Then it writes HOME/kubeconfig and starts the supervisor (`python -m cli.supervisor --server
URL`) with the kubelet, the proxy and the route agent only (the control plane is elsewhere),
detached like `kubelite up` (`--foreground` keeps it in this terminal). `kubelite down --home
HOME` stops them. `--dry-run` stops after the preflight checks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import secrets
import shutil
import socket
import ssl
import string
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import typer

from cli.cluster import spawn_supervisor, supervisor_pid, wait_exit
from cli.clusterplan import Layout, Settings, write_json
from cli.errors import CliError, run
from cli.session import Globals, open_client
from cli.supervisor import Supervisor
from machinery import errors
from machinery.client import ApiClient
from machinery.kubeconfig import KubeconfigError, load_kubeconfig, ssl_context, write_kubeconfig
from machinery.models import KUBE_APISERVER_CLIENT_SIGNER

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_TYPE = "bootstrap.kubernetes.io/token"
MAX_SKEW_S = 30.0
# kubeadm's group for join tokens: the bootstrap policy binds system:node-bootstrapper to it.
NODE_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"
KUBELET_PORT = 10250
_ALPHABET = string.ascii_lowercase + string.digits


def new_token() -> str:
    def pick(n: int) -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(n))

    return f"{pick(6)}.{pick(16)}"


def parse_token(token: str) -> tuple[str, str]:
    m = TOKEN_RE.match(token)
    if not m:
        raise CliError(f'invalid token "{token}": want the format [a-z0-9]{{6}}.[a-z0-9]{{16}} '
                       "(print one with `kubelite token create --print-join-command`)")
    return m.group(1), m.group(2)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def token_secret(token: str, *, ttl_s: float, now: datetime) -> dict[str, Any]:
    token_id, token_value = parse_token(token)
    data = {"token-id": token_id, "token-secret": token_value, "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true", "description": "kubelite join token",
            "auth-extra-groups": NODE_TOKEN_GROUP}
    if ttl_s > 0:
        data["expiration"] = (now + timedelta(seconds=ttl_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: _b64(v) for k, v in data.items()}}


def token_problem(secret: dict[str, Any] | None, token: str, *, now: datetime) -> str | None:
    """Why `token` is not valid according to its Secret; None when it is."""
    token_id, token_value = parse_token(token)
    if secret is None:
        return f"token {token_id} is unknown to the cluster (no Secret kube-system/bootstrap-token-{token_id})"
    if secret.get("type") != TOKEN_TYPE:
        return f"Secret bootstrap-token-{token_id} is not of type {TOKEN_TYPE}"
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    if data.get("token-secret") != token_value:
        return f"token {token_id}: the secret part does not match"
    exp = data.get("expiration")
    if exp and datetime.fromisoformat(exp.replace("Z", "+00:00")) <= now:
        return f"token {token_id} expired at {exp}"
    return None


# -- token create --------------------------------------------------------------------------

async def token_create(g: Globals, *, ttl_s: float, print_join_command: bool) -> int:
    if ttl_s < 0:
        raise CliError("--ttl-s must be >= 0")
    token = new_token()
    client, _ = open_client(g)
    server = client.server
    ca_pem = _current_ca(g)
    async with client:
        await client.request("POST", "/api/v1/namespaces/kube-system/secrets",
                             json=token_secret(token, ttl_s=ttl_s, now=datetime.now(UTC)))
        if ca_pem is not None:
            await publish_cluster_info(client, server, ca_pem, token)
    if not print_join_command:
        print(token)
        return 0
    from machinery.clusterinfo import ca_cert_hash  # lazy: cryptography (~90 ms), only this command needs it

    pin = f" --discovery-token-ca-cert-hash {ca_cert_hash(ca_pem)}" if ca_pem is not None else ""
    print(f"kubelite join --server {server} --token {token}{pin}")
    return 0


def _current_ca(g: Globals) -> bytes | None:
    """The CA the current kubeconfig trusts (PEM), if it names one."""
    try:
        cfg = load_kubeconfig(g.kubeconfig, context=g.context)
    except KubeconfigError:
        return None
    return Path(cfg.ca_file).read_bytes() if cfg.ca_file else None


async def publish_cluster_info(client: Any, server: str, ca_pem: bytes, token: str) -> None:
    """Create or update kube-public/cluster-info with the CA and this token's JWS signature
    (what kubeadm's init and its bootstrap signer controller keep there)."""
    from machinery import clusterinfo  # lazy: cryptography (~90 ms), only this command needs it

    token_id, token_value = parse_token(token)
    try:
        current = await client.request("GET", clusterinfo.CLUSTER_INFO_PATH)
        content = (current.get("data") or {}).get("kubeconfig") or clusterinfo.cluster_info_kubeconfig(server, ca_pem)
        exists = True
    except errors.NotFound:
        content, exists = clusterinfo.cluster_info_kubeconfig(server, ca_pem), False
    data = {"kubeconfig": content,
            f"{clusterinfo.JWS_PREFIX}{token_id}": clusterinfo.jws_sign(content, token_id, token_value)}
    if exists:
        await client.request("PATCH", clusterinfo.CLUSTER_INFO_PATH, json={"data": data},
                             headers={"Content-Type": "application/merge-patch+json"})
    else:
        await client.request("POST", "/api/v1/namespaces/kube-public/configmaps", json={
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": data})


# -- join -------------------------------------------------------------------------------------

@dataclass
class JoinOptions:
    server: str
    token: str
    node_name: str
    home: Path
    foreground: bool = False
    dry_run: bool = False
    ignore_preflight_errors: str = ""
    node_ip: str = ""
    ca_cert_hash: str = ""


def _check_cmd(*argv: str) -> str | None:
    if shutil.which(argv[0]) is None:
        return f"{argv[0]} not found in PATH"
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{' '.join(argv)}: {exc}"
    return None if proc.returncode == 0 else f"{' '.join(argv)} failed: {(proc.stderr or proc.stdout).strip()[:300]}"


def port_free(port: int) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError as exc:
            return f"port {port} is in use ({exc.strerror})"
    return None


def clock_skew_s(date_header: str | None, local: datetime) -> float | None:
    if not date_header:
        return None
    try:
        remote = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    return (local - remote).total_seconds()


CHECKS = ("Docker", "Iptables", "Ip", f"Port-{KUBELET_PORT}", "Discovery", "API server", "ClockSkew", "Token",
          "NodeName")


def ignored_set(spec: str) -> set[str]:
    """`--ignore-preflight-errors` as kubeadm: comma-separated check names (any case), or `all`."""
    names = {n.strip().lower() for n in spec.split(",") if n.strip()}
    known = {c.lower() for c in CHECKS} | {"all"}
    unknown = sorted(names - known)
    if unknown:
        raise CliError(f"unknown preflight check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}, all")
    return names


async def discover_ca(opts: JoinOptions) -> bytes:
    """The cluster CA, from kube-public/cluster-info verified with the token (machinery/clusterinfo.py).
    Raises CliError saying why it cannot be trusted; httpx errors pass through."""
    from machinery import clusterinfo  # lazy: cryptography (~90 ms), only this command needs it

    token_id, _ = parse_token(opts.token)
    # Discovery reads an anonymous, signed document: the server is not verified yet, the signature is.
    async with httpx.AsyncClient(base_url=opts.server, timeout=10.0, verify=False, trust_env=False) as http:
        r = await http.get(clusterinfo.CLUSTER_INFO_PATH)
    if r.status_code == 404:
        raise CliError("the cluster has no kube-public/cluster-info ConfigMap (create a token with "
                       "`kubelite token create`, which publishes it)")
    if r.status_code != 200:
        raise CliError(f"reading kube-public/cluster-info answered {r.status_code}")
    body = r.json()
    if f"{clusterinfo.JWS_PREFIX}{token_id}" not in (body.get("data") or {}):
        raise CliError(f"token {token_id} is unknown to the cluster (no signature for it in cluster-info)")
    try:
        return clusterinfo.ca_from_cluster_info(body, opts.token, opts.ca_cert_hash or None)
    except clusterinfo.SignatureMismatch as exc:
        raise CliError(f"token {token_id}: the secret part does not match ({exc})") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def preflight(opts: JoinOptions) -> dict[str, Any]:  # noqa: C901 - one flat sequence of cases, read best in one place
    """Run the checks, printing one line each; raise CliError at the first failure that is not
    ignored (an ignored one prints `[WARNING NAME]`). Returns facts found on the way (the cluster
    DNS address, the verified CA in `ca_pem`)."""
    facts: dict[str, Any] = {}
    ignored = ignored_set(opts.ignore_preflight_errors)

    async def check(name: str, fn: Callable[[], Awaitable[str | None]]) -> None:
        try:
            problem = await fn()
        except httpx.HTTPError as exc:
            problem = f"the API server at {opts.server} did not answer: {exc}"
        except CliError as exc:
            problem = str(exc)
        if not problem:
            print(f"[preflight] {name}: ok", flush=True)
        elif "all" in ignored or name.lower() in ignored:
            print(f"[WARNING {name}]: {problem}", flush=True)
        else:
            raise CliError(f"[preflight] {name}: {problem} (--ignore-preflight-errors={name} to go on anyway)")

    async def sync(fn: Callable[[], str | None]) -> str | None:
        return await asyncio.to_thread(fn)

    await check("Docker", lambda: sync(lambda: _check_cmd("docker", "version", "--format", "{{.Server.Version}}")))
    await check("Iptables", lambda: sync(lambda: _check_cmd("iptables", "-w", "5", "-S", "FORWARD")))
    await check("Ip", lambda: sync(lambda: _check_cmd("ip", "-4", "route")))
    await check(f"Port-{KUBELET_PORT}", lambda: sync(lambda: port_free(KUBELET_PORT)))

    async def discovery() -> str | None:
        facts["ca_pem"] = await discover_ca(opts)
        return None

    await check("Discovery", discovery)
    tls: ssl.SSLContext | bool = False
    if "ca_pem" in facts:
        tls = ssl.create_default_context(cadata=facts["ca_pem"].decode())
    async with httpx.AsyncClient(base_url=opts.server, timeout=10.0, verify=tls, trust_env=False,
                                 headers={"Authorization": f"Bearer {opts.token}"}) as http:
        async def api() -> str | None:
            r = await http.get("/readyz")
            facts["date"], facts["local"] = r.headers.get("date"), datetime.now(UTC)
            return None if r.status_code == 200 else f"{opts.server}/readyz answered {r.status_code}"

        async def skew() -> str | None:
            if "local" not in facts:
                return "unknown (no answer from the API server)"
            s = clock_skew_s(facts.get("date"), facts["local"])
            if s is None:
                return "the API server sent no usable Date header"
            return None if abs(s) <= MAX_SKEW_S else (f"this clock is {s:+.0f}s off the API server's "
                                                       f"(more than {MAX_SKEW_S:.0f}s breaks leases; sync it)")

        async def token() -> str | None:
            # The API server authenticates the token itself (system:bootstrap:<id>); an expired
            # or deleted one is a 401.
            token_id, _ = parse_token(opts.token)
            r = await http.get("/api")
            if r.status_code == 401:
                return f"token {token_id} is unknown to the cluster or expired (the API server refused it)"
            return None if r.status_code < 400 or r.status_code == 403 else f"GET /api answered {r.status_code}"

        async def name() -> str | None:
            r = await http.get(f"/api/v1/nodes/{opts.node_name}")
            if r.status_code == 200:
                conds = (r.json().get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                    return f'a Node named "{opts.node_name}" is already Ready; pick another with --node-name'
            return None  # 404, or 403 (a bootstrap token may not read nodes): nothing to check

        await check("API server", api)
        await check("ClockSkew", skew)
        await check("Token", token)
        await check("NodeName", name)
        with contextlib.suppress(httpx.HTTPError, ValueError):
            r = await http.get("/api/v1/namespaces/kube-system/services/kube-dns")
            if r.status_code == 200:
                facts["cluster_dns"] = (r.json().get("spec") or {}).get("clusterIP")
    return facts


async def join(opts: JoinOptions) -> int:
    parse_token(opts.token)  # a malformed token fails before any check runs
    facts = await preflight(opts)
    if opts.dry_run:
        print("preflight checks passed (--dry-run: nothing started)")
        return 0

    lay = Layout(opts.home)
    pid = supervisor_pid(lay)
    if pid is not None:
        raise CliError(f"a kubelite supervisor already runs in {opts.home} (pid {pid}); "
                       f"`kubelite down --home {opts.home}` first")
    for d in (lay.run, lay.logs):
        d.mkdir(parents=True, exist_ok=True)
    ca_pem = facts.get("ca_pem")
    ca_path: str | None = None
    if isinstance(ca_pem, bytes):
        from machinery.pki import write_public  # lazy: cryptography (~90 ms), only this command needs it

        write_public(opts.home / "pki" / "ca.crt", ca_pem)
        ca_path = str(opts.home / "pki" / "ca.crt")
    write_kubeconfig(lay.kubeconfig, opts.server, cluster_name="kubelite", token=opts.token, ca_file=ca_path)
    await agent_credentials(lay, opts.server, ca_path)
    s = Settings(opts.home, node_name=opts.node_name, components=["kubelet", "proxy", "routeagent"],
                 server=opts.server, cluster_dns=str(facts.get("cluster_dns") or ""), node_ip=opts.node_ip)
    write_json(lay.config_file, {"server": opts.server, "node_name": opts.node_name, "components": s.components,
                                 "cluster_dns": s.cluster_dns})
    print(f"[join] starting kubelet, proxy and route agent for node {opts.node_name} (home {opts.home})", flush=True)
    if opts.foreground:
        return await Supervisor(s, echo=True).run()
    sup = spawn_supervisor(s)
    deadline = time.monotonic() + 60.0
    # The join token may not read Nodes under RBAC: ask as the node's proxy (system:node-proxier).
    proxy_cfg = load_kubeconfig(lay.component_kubeconfig("proxy"))
    verify = ssl_context(proxy_cfg.ca_file, proxy_cfg.cert_file, proxy_cfg.key_file, verify=ca_path is not None)
    async with httpx.AsyncClient(base_url=opts.server, timeout=5.0, verify=verify) as http:
        while time.monotonic() < deadline:
            if wait_exit(sup, 0.0):
                raise CliError(f"the node agent exited; see {lay.log('supervisor')} and {lay.log('kubelet')}")
            try:
                r = await http.get(f"/api/v1/nodes/{opts.node_name}")
            except httpx.HTTPError:
                r = None
            if r is not None and r.status_code == 200:
                conds = (r.json().get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                    print(f"[join] node {opts.node_name} is Ready; `kubelite down --home {opts.home}` stops it")
                    return 0
            await asyncio.sleep(1.0)
    raise CliError(f"node {opts.node_name} not Ready after 60s; see {lay.log('kubelet')}")


# The per-node daemons beside the kubelet and their identities (controllers/certificates.py
# auto-approves these for join tokens; their roles only read what every node reads).
AGENT_IDENTITIES = {"proxy": ("kube-proxy", "system:kube-proxy"),
                    "routeagent": ("routeagent", "system:kubelite-routeagent")}


async def agent_credentials(lay: Layout, server: str, ca_path: str | None) -> None:
    """The client certificates of the node's proxy and route agent, asked for with the join token
    (H/kubeconfig) through CertificateSigningRequests, and their kubeconfigs; kept when present
    (a second join on this home reuses them). The kubelet gets its own by TLS bootstrap."""
    # lazy: cryptography (~90 ms), only this command needs it
    from machinery.csr import CsrError, request_certificate
    from machinery.pki import write_private, write_public

    async with ApiClient.from_kubeconfig(str(lay.kubeconfig), timeout_s=30.0) as client:
        for component, (stem, user) in AGENT_IDENTITIES.items():
            cert, key = lay.pki / f"{stem}.crt", lay.pki / f"{stem}.key"
            if not (cert.exists() and key.exists()):
                print(f"[join] asking the cluster for a {user} certificate (CertificateSigningRequest)", flush=True)
                try:
                    cert_pem, key_pem = await request_certificate(
                        client, user, signer=KUBE_APISERVER_CLIENT_SIGNER, timeout_s=120.0, name_prefix=stem)
                except CsrError as exc:
                    raise CliError(f"[join] no {user} certificate: {exc}") from None
                write_private(key, key_pem)
                write_public(cert, cert_pem)
            write_kubeconfig(lay.component_kubeconfig(component), server, cluster_name="kubelite", user=stem,
                             ca_file=ca_path, cert_file=str(cert), key_file=str(key))


def default_join_home() -> Path:
    return Path(os.environ.get("KUBELITE_HOME") or Path.home() / ".kubelite").expanduser().resolve() / "agent"


def register(app: typer.Typer) -> None:
    token = typer.Typer(no_args_is_help=True, help="Bootstrap tokens for `kubelite join`.")

    @token.command("create")
    def create_cmd(ctx: typer.Context,
                   print_join_command: bool = typer.Option(False, "--print-join-command",
                                                           help="Print the whole join command."),
                   ttl_s: float = typer.Option(86400.0, "--ttl-s", help="Validity in seconds (0 = never expires).")
                   ) -> None:
        """Create a bootstrap token (kube-system/bootstrap-token-<id>)."""
        g = ctx.obj if isinstance(ctx.obj, Globals) else Globals()
        run(token_create(g, ttl_s=ttl_s, print_join_command=print_join_command))

    app.add_typer(token, name="token")

    @app.command("join")
    def join_cmd(ctx: typer.Context,
                 token_: str = typer.Option(..., "--token", help="From `kubelite token create`."),
                 node_name: str = typer.Option(socket.gethostname(), "--node-name"),
                 node_ip: str = typer.Option("", "--node-ip",
                                             help="This node's InternalIP (default: the default route's source)."),
                 home: str | None = typer.Option(None, "--home", help="State directory (default $KUBELITE_HOME/agent)."),
                 foreground: bool = typer.Option(False, "--foreground", help="Run the node agent in this terminal."),
                 dry_run: bool = typer.Option(False, "--dry-run", help="Only run the preflight checks."),
                 ignore_preflight_errors: str = typer.Option(
                     "", "--ignore-preflight-errors",
                     help=f"Checks whose failure is only a warning: {', '.join(CHECKS)} or all."),
                 ca_cert_hash: str = typer.Option(
                     "", "--discovery-token-ca-cert-hash",
                     help="sha256:<hex> of the cluster CA's public key (printed by `token create "
                          "--print-join-command`); pins the CA found through discovery.")) -> None:
        """Join this machine to a cluster as a node (kubelet + proxy + route agent), after preflight checks.

        --server URL (the cluster's API server, e.g. https://10.0.0.1:6443) is required; it is the
        global --server flag, which kubelite accepts anywhere on the line."""
        server = ctx.obj.server if isinstance(ctx.obj, Globals) else None
        if not server:
            run(_fail("kubelite join needs --server URL (the API server of the cluster to join)"))
            return
        run(join(JoinOptions(server=server.rstrip("/"), token=token_, node_name=node_name,
                             home=Path(home).expanduser().resolve() if home else default_join_home(),
                             foreground=foreground, dry_run=dry_run,
                             ignore_preflight_errors=ignore_preflight_errors, node_ip=node_ip,
                             ca_cert_hash=ca_cert_hash)))


async def _fail(message: str) -> int:
    raise CliError(message)
