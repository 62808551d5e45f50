"""The plan of a local cluster: where its files live (`Layout`), what it runs (`Settings`), the
command line of each daemon (`commands`), its PKI and kubeconfigs (`write_credentials`).

Contract: pure functions of `Settings` except `write_credentials` (writes H/pki, H/kubeconfig and
H/kubeconfigs/NAME.kubeconfig, keeping an existing PKI), `metrics_ports` (H/run/metrics.json) and
`write_json` (atomic); `read_json(path)` is {} for a missing or malformed file, and
`load_settings(home)` the Settings `kubelite up` saved in H/config.json. The supervisor (cli/supervisor.py) runs what `commands` returns; `kubelite
up/down/status/restore` (cli/cluster.py, cli/restore.py) and `kubelite join` read the same plan.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli import ha

VERSION = "v0.1.0"
"""kubelite's own version (`kubelite version`, backup metadata)."""
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
                      "--port", str(s.api_port), *apiserver_pki_args(lay.pki), *AUTHORIZATION_ARGS],
    }
    for name in components:
        # Join mode: H/kubeconfig (written by join) holds the join token; the kubelet gets its own
        # certificate with it (TLS bootstrap), join got the proxy's and route agent's.
        argv = [py, "-m", MODULES.get(name, name), "--kubeconfig", str(lay.component_kubeconfig(name))]
        if name in ("kubelet", "proxy"):
            argv += ["--node-name", s.node_name]
        if name == "kubelet":
            argv += kubelet_args(s, components)
        if name in s.metrics_ports:
            argv += ["--metrics-bind-address", f"127.0.0.1:{s.metrics_ports[name]}"]
        if name == "controllers":  # local-path volumes live with the cluster's other state
            argv += ["--local-path-dir", str(s.home / "local-path"), *controller_signing_args(lay.pki)]
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


def kubelet_args(s: Settings, components: list[str]) -> list[str]:
    """The kubelet's flags beyond its kubeconfig and node name."""
    argv = ["--cluster-name", s.cluster_name]
    lay = Layout(s.home)
    if s.server:  # join mode: TLS bootstrap with the join token (H/kubeconfig); the serving
        # certificate comes from a kubelet-serving CSR (--bootstrap-kubeconfig implies it)
        argv += ["--bootstrap-kubeconfig", str(lay.kubeconfig), "--cert-dir", str(lay.pki)]
    else:  # the HTTPS certificate write_credentials issued from the cluster CA
        from machinery.pki import ClusterPki

        pki = ClusterPki(lay.pki)
        stem = f"kubelet-{s.node_name}"
        argv += ["--tls-cert-file", str(pki.cert(stem)), "--tls-private-key-file", str(pki.key(stem)),
                 "--client-ca-file", str(pki.ca_cert)]
    if "dns" in components:  # ClusterFirst pods resolve through kube-dns
        argv += ["--cluster-dns", DNS_SERVICE_IP]
    elif s.server and s.cluster_dns:
        argv += ["--cluster-dns", s.cluster_dns]
    if "controllers" not in components and not s.server:  # no node IPAM to wait for
        argv += ["--pod-cidr", LONE_NODE_POD_CIDR]
    if s.node_ip:
        argv += ["--node-ip", s.node_ip]
    return argv


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


# As kubeadm: the Node authorizer for kubelets, then RBAC; every daemon has its own identity and
# system role (apiserver/auth/bootstrappolicy.py).
AUTHORIZATION_ARGS = ("--authorization-mode", "Node,RBAC")


def apiserver_pki_args(pki_dir: Path) -> list[str]:
    """The API server's TLS and authentication flags for the PKI under `pki_dir`."""
    from machinery.pki import ClusterPki

    pki = ClusterPki(pki_dir)
    return ["--tls-cert-file", str(pki.cert("apiserver")), "--tls-private-key-file", str(pki.key("apiserver")),
            "--client-ca-file", str(pki.ca_cert), "--service-account-signing-key-file", str(pki.sa_key),
            *kubelet_client_args(pki_dir)]


def kubelet_client_args(pki_dir: Path) -> list[str]:
    """How the API server calls kubelets: its kubelet-client certificate, the CA of their
    serving certificates (kube-apiserver's --kubelet-client-* flags, as kubeadm sets them)."""
    from machinery.pki import ClusterPki

    pki = ClusterPki(pki_dir)
    return ["--kubelet-client-certificate", str(pki.cert("apiserver-kubelet-client")),
            "--kubelet-client-key", str(pki.key("apiserver-kubelet-client")),
            "--kubelet-certificate-authority", str(pki.ca_cert)]


def controller_signing_args(pki_dir: Path) -> list[str]:
    """The controller-manager's CSR signer: the cluster CA (kubelets joining by TLS bootstrap)."""
    from machinery.pki import ClusterPki

    pki = ClusterPki(pki_dir)
    return ["--cluster-signing-cert-file", str(pki.ca_cert), "--cluster-signing-key-file", str(pki.ca_key)]


def write_credentials(s: Settings, components: list[str]) -> None:
    """The cluster PKI (kept when present) and the kubeconfigs of the user and of each daemon."""
    from machinery.hostnet import default_route_ip
    from machinery.kubeconfig import write_kubeconfig
    from machinery.pki import COMPONENT_CERTS, ensure_cluster_pki, ensure_kubelet_serving_cert

    lay = Layout(s.home)
    pki = ensure_cluster_pki(lay.pki, dns_sans=[socket.gethostname()],
                             ip_sans=[KUBERNETES_SERVICE_IP], nodes=[s.node_name])
    if s.server is None and "kubelet" in components:
        # The kubelet listens on its node IP (--node-ip, else the default route's source) and the
        # API server dials the Node's InternalIP: the certificate names both, and the hostname.
        ensure_kubelet_serving_cert(pki, s.node_name, dns_names=[socket.gethostname()],
                                    ip_addresses=[s.node_ip or default_route_ip()])
    stems = {name: COMPONENT_CERTS.get(name, f"node-{s.node_name}" if name == "kubelet" else "admin")
             for name in components}
    for name, stem in [("admin", "admin"), *stems.items()]:
        path = lay.kubeconfig if name == "admin" else lay.component_kubeconfig(name)
        write_kubeconfig(path, s.api_url, cluster_name=s.cluster_name, user=stem, ca_file=str(pki.ca_cert),
                         cert_file=str(pki.cert(stem)), key_file=str(pki.key(stem)))


def credentials_argv(s: Settings, components: list[str]) -> list[str]:
    """`write_credentials(s, components)` as a command line (`python -m cli.clusterplan`): the
    supervisor runs it in a child so the PKI code (cryptography) never stays in its memory."""
    settings = dataclasses.asdict(s)
    settings["home"] = str(s.home)
    return [sys.executable, "-m", "cli.clusterplan", "write-credentials",
            json.dumps({"settings": settings, "components": components})]


def main(argv: list[str]) -> None:
    """`python -m cli.clusterplan write-credentials JSON` (see credentials_argv)."""
    if len(argv) != 2 or argv[0] != "write-credentials":
        raise SystemExit("usage: python -m cli.clusterplan write-credentials JSON")
    data = json.loads(argv[1])
    fields = dict(data["settings"], home=Path(data["settings"]["home"]))
    write_credentials(Settings(**fields), list(data["components"]))


def ca_file(s: Settings) -> str | None:
    path = Layout(s.home).pki / "ca.crt"
    return str(path) if path.exists() else None


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_settings(home: Path) -> Settings:
    cfg = read_json(Layout(home).config_file)
    comps = cfg.get("components")
    return Settings(home, int(cfg.get("api_port", 6443)), int(cfg.get("etcd_port", 2379)),
                    str(cfg.get("cluster_name", "kubelite")), str(cfg.get("node_name") or os.uname().nodename),
                    list(comps) if isinstance(comps, list) else None,
                    backup_every_s=float(cfg.get("backup_every_s") or 0.0), backup_keep=int(cfg.get("backup_keep", 10)),
                    backup_dir=str(cfg.get("backup_dir") or ""), ha=bool(cfg.get("ha")))


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def parse_components(text: str) -> list[str] | None:
    """"auto" -> None (all available); "" or "none" -> []; "scheduler,kubelet" -> that list."""
    if text == "auto":
        return None
    names = [c.strip() for c in text.split(",") if c.strip() and c.strip() != "none"]
    unknown = [c for c in names if c not in OPTIONAL]
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(OPTIONAL)}")
    return names


if __name__ == "__main__":
    main(sys.argv[1:])
