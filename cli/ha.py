"""The layout of a local HA control plane (`kubelite up --ha`), on one host.

Contract (E = --etcd-port, P = --api-port, HOME = the cluster's home):
- etcd: ETCD_MEMBERS members `etcd-0..2` forming one cluster; member i serves clients on
  E+2i and peers on E+2i+1, data in HOME/etcd-i.
- API servers: API_SERVERS of them, `apiserver-i` on P+1+i, each with every etcd member in
  `--etcd-servers` (the storage balances over live members).
- HAProxy (Debian's, `haproxy -db -f HOME/haproxy.cfg`): TCP mode on P in front of the API
  servers (TCP, so TLS passes through untouched and the API server's serving certificate is
  what clients verify; it must name 127.0.0.1, which it does), health-checked every second;
  the kubeconfig points at P. A killed API server is out of rotation after 2 failed checks
  and connections to it are redispatched.
- Two schedulers and two controller-managers (`scheduler-0/1`, `controllers-0/1`) with
  `--leader-elect`: one leads (the Lease), the other waits to take over. The second copy
  serves its Prometheus /metrics on a port of its own (picked when the table is built).
- `ha_commands(settings, base)`: the supervisor's command table for HA, from the one-node
  table `base` (which supplies the component argv to copy).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Protocol

ETCD_MEMBERS = 3
API_SERVERS = 2
DOUBLED = ("scheduler", "controllers")
HAPROXY_BIN = "/usr/sbin/haproxy"


class HaSettings(Protocol):
    home: Path
    api_port: int
    etcd_port: int
    cluster_name: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def etcd_client_port(s: HaSettings, i: int) -> int:
    return s.etcd_port + 2 * i


def etcd_urls(s: HaSettings) -> list[str]:
    return [f"http://127.0.0.1:{etcd_client_port(s, i)}" for i in range(ETCD_MEMBERS)]


def peer_url(s: HaSettings, i: int) -> str:
    return f"http://127.0.0.1:{etcd_client_port(s, i) + 1}"


def initial_cluster(s: HaSettings) -> str:
    return ",".join(f"etcd-{i}={peer_url(s, i)}" for i in range(ETCD_MEMBERS))


def apiserver_port(s: HaSettings, i: int) -> int:
    return s.api_port + 1 + i


def ports(s: HaSettings) -> list[tuple[str, int]]:
    """Every port the HA layout listens on, named (for the "already in use" check)."""
    out = [("haproxy", s.api_port)]
    out += [(f"apiserver-{i}", apiserver_port(s, i)) for i in range(API_SERVERS)]
    for i in range(ETCD_MEMBERS):
        out += [(f"etcd-{i}", etcd_client_port(s, i)), (f"etcd-{i} peer", etcd_client_port(s, i) + 1)]
    return out


def etcd_command(s: HaSettings, i: int, etcd_bin: str) -> list[str]:
    url = etcd_urls(s)[i]
    return [etcd_bin, "--name", f"etcd-{i}", "--data-dir", str(s.home / f"etcd-{i}"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer_url(s, i), "--initial-advertise-peer-urls", peer_url(s, i),
            "--initial-cluster", initial_cluster(s), "--initial-cluster-state", "new",
            "--initial-cluster-token", s.cluster_name,
            "--experimental-watch-progress-notify-interval", "5s", "--log-level", "warn"]


def haproxy_config(s: HaSettings) -> str:
    servers = "\n".join(f"    server apiserver-{i} 127.0.0.1:{apiserver_port(s, i)} check inter 1s fall 2 rise 1"
                        for i in range(API_SERVERS))
    return f"""# Written by kubelite up --ha: a TCP load balancer in front of the API servers.
global
    maxconn 4096

defaults
    mode tcp
    timeout connect 2s
    # Watches are long-lived: as long as the API server's longest request timeout.
    timeout client 1h
    timeout server 1h
    retries 3
    option redispatch

frontend kube-apiserver
    bind 127.0.0.1:{s.api_port}
    default_backend kube-apiservers

backend kube-apiservers
    balance roundrobin
{servers}
"""


def ha_commands(s: HaSettings, base: dict[str, list[str]], etcd_bin: str) -> dict[str, list[str]]:
    cmds: dict[str, list[str]] = {}
    for i in range(ETCD_MEMBERS):
        cmds[f"etcd-{i}"] = etcd_command(s, i, etcd_bin)
    api = base["apiserver"]
    for i in range(API_SERVERS):
        argv = list(api)
        argv[argv.index("--etcd-servers") + 1] = ",".join(etcd_urls(s))
        argv[argv.index("--port") + 1] = str(apiserver_port(s, i))
        cmds[f"apiserver-{i}"] = argv
    cmds["haproxy"] = [HAPROXY_BIN, "-db", "-f", str(s.home / "haproxy.cfg")]
    for name, argv in base.items():
        if name in ("etcd", "apiserver"):
            continue
        if name in DOUBLED:
            for i in range(2):
                copy = [*argv, "--leader-elect"]
                if i > 0 and "--metrics-bind-address" in copy:  # the first copy's port is taken
                    copy[copy.index("--metrics-bind-address") + 1] = f"127.0.0.1:{free_port()}"
                cmds[f"{name}-{i}"] = copy
        else:
            cmds[name] = argv
    return cmds
