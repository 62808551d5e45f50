"""Pure planning for the multi-host lab (`kubelite lab ...`): names, addresses, compose input.

Contract:
- `LabConfig(name, api_port, prefix, apiserver_flags, controller_flags)` is what identifies
  one lab: its compose project name
  (also the value of the `io.kubelite.lab` label on every container, network and volume), the
  host loopback port of its API server, and the first three octets of its /24 lab network
  (control plane `.10`, node N at `.10+N`, N in 1..MAX_NODES).
- `node_name(i)` = `node<i>`; `node_index("node4")` = 4 (ValueError otherwise);
  `node_ip(cfg, i)`. Pod CIDRs are not planned here: the controller-manager's node IPAM
  assigns them when a node registers.
- `bridge_name(name)`: the lab network's Linux bridge, `klab-` + 10 hex chars of a hash of the
  name (interface names are at most 15 characters).
- `compose_env(cfg, src=, cache=, state=)`: the variables deploy/lab/docker-compose.yml needs
  (`state`: the lab's state directory on the host: its PKI under `pki/`, mounted read-only on
  the control plane, and each node's own credentials under `creds/NODE/`, mounted read-only on
  that node only: nodes never see the CA key).
- `override(cfg, nodes)`: the second compose file (as a dict) that makes the lab's node set
  exactly `nodes`: extra nodes (index > BASE_NODES) get a full service definition like the
  base file's, base nodes not in the set get `scale: 0`.
- `scale_plan(current, n)`: (to_add, to_remove): the lowest free indices are added, the
  highest ones removed first.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

BASE_NODES = 3
MAX_NODES = 200
LAB_LABEL = "io.kubelite.lab"
LAB_NODE_LABEL = "io.kubelite.lab-node"
DEFAULT_NAME = "kubelite-lab"
DEFAULT_API_PORT = 6550
DEFAULT_PREFIX = "172.30.99"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class LabConfig:
    name: str = DEFAULT_NAME
    api_port: int = DEFAULT_API_PORT
    prefix: str = DEFAULT_PREFIX
    apiserver_flags: str = ""
    """Extra flags for the API server (e.g. shorter default tolerations in tests)."""
    controller_flags: str = ""
    """Extra flags for the controller-manager (e.g. shorter node lifecycle timers in tests)."""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"invalid lab name {self.name!r}: lowercase letters, digits and '-', at most 31")
        if not 1 <= self.api_port <= 65535:
            raise ValueError(f"invalid API port {self.api_port}")
        try:
            net = ipaddress.ip_network(f"{self.prefix}.0/24")
        except ValueError:
            raise ValueError(f"invalid subnet prefix {self.prefix!r}: want three octets like 172.30.99") from None
        if not net.is_private:
            raise ValueError(f"subnet {net} is not a private range")

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def control_plane_ip(self) -> str:
        return f"{self.prefix}.10"


def node_name(i: int) -> str:
    return f"node{i}"


def node_index(name: str) -> int:
    m = re.fullmatch(r"node([1-9][0-9]*)", name)
    if not m or int(m.group(1)) > MAX_NODES:
        raise ValueError(f"invalid lab node name {name!r}: want node1..node{MAX_NODES}")
    return int(m.group(1))


def node_ip(cfg: LabConfig, i: int) -> str:
    return f"{cfg.prefix}.{10 + i}"


def bridge_name(name: str) -> str:
    return "klab-" + hashlib.sha256(name.encode()).hexdigest()[:10]


def compose_env(cfg: LabConfig, *, src: str, cache: str, state: str = "") -> dict[str, str]:
    return {"LAB_NAME": cfg.name, "LAB_PREFIX": cfg.prefix, "LAB_API_PORT": str(cfg.api_port),
            "KUBELITE_SRC": src, "LAB_CACHE": cache, "LAB_BRIDGE": bridge_name(cfg.name), "LAB_STATE": state,
            "LAB_APISERVER_FLAGS": cfg.apiserver_flags, "LAB_CONTROLLER_FLAGS": cfg.controller_flags}


def node_service(cfg: LabConfig, i: int) -> dict[str, Any]:
    """The compose service of node i (the base file's node1..3 look the same)."""
    name = node_name(i)
    return {
        "image": "kubelite/lab-node:latest",
        "hostname": name,
        "entrypoint": ["bash", "/src/deploy/lab/node.sh"],
        "depends_on": ["control-plane"],
        "cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"],
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "device_cgroup_rules": ["a *:* rwm"],
        "tmpfs": ["/run", "/tmp"],
        "stop_grace_period": "20s",
        "environment": {"LAB_NAME": cfg.name, "NODE_NAME": name, "NODE_IP": node_ip(cfg, i),
                        "API_IP": cfg.control_plane_ip},
        "labels": {LAB_LABEL: cfg.name, LAB_NODE_LABEL: name, "io.kubelite.lab-role": "node"},
        "volumes": ["${KUBELITE_SRC}:/src:ro", "${LAB_CACHE}:/lab:ro", f"{name}:/var/lib/docker",
                    f"${{LAB_STATE}}/creds/{name}:/etc/kubelite/pki:ro"],
        "networks": {"lab": {"ipv4_address": node_ip(cfg, i)}},
    }


def override(cfg: LabConfig, nodes: set[int]) -> dict[str, Any]:
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for i in range(1, BASE_NODES + 1):
        if i not in nodes:
            services[node_name(i)] = {"scale": 0}
    for i in sorted(n for n in nodes if n > BASE_NODES):
        services[node_name(i)] = node_service(cfg, i)
        volumes[node_name(i)] = {"labels": {LAB_LABEL: cfg.name}}
    doc: dict[str, Any] = {"version": "2.4", "services": services}
    if volumes:
        doc["volumes"] = volumes
    return doc


def scale_plan(current: set[int], n: int) -> tuple[list[int], list[int]]:
    if not 0 <= n <= MAX_NODES:
        raise ValueError(f"--nodes must be between 0 and {MAX_NODES}, got {n}")
    if len(current) >= n:
        return [], sorted(current, reverse=True)[:len(current) - n]
    add: list[int] = []
    i = 1
    while len(current) + len(add) < n:
        if i not in current:
            add.append(i)
        i += 1
    return add, []
