"""The pod network and the traffic guard.

Contract:
- `ensure_pod_network(dclient, name=, subnet=, bridge=, cluster=)` makes (or adopts) a Docker
  bridge network of the project's own whose subnet is the node's pod CIDR, with masquerading
  off (pods must not reach the outside world through the host), and returns its gateway IP.
- `ensure_guard()` installs, idempotently and atomically, the "Guard first" rules of
  docs/ARCHITECTURE.md: routes sending the whole cluster CIDR and the service CIDR to the project's
  bridge `kubelite0` (an unmatched packet dies locally instead of following the default route), and a
  filter chain `KUBELITE-GUARD`, jumped to first from OUTPUT and FORWARD, that REJECTs
  anything to (or, for pod sources, from) those CIDRs leaving through a default-route
  interface. Nothing is sent anywhere while doing so.
- `guard_status()` reports what is in place, for tests and `kubelite status`.
- `enable_hairpin(bridge, sys_root="/sys")` turns hairpin mode on for every port of the pod
  bridge (kubelet's old "hairpin-veth" mode): with br_netfilter, a pod's packet to its own
  Service is DNATed at the bridge and must leave through the port it came in by, which a bridge
  only does for ports in hairpin mode. Every port of our bridge is a pod's veth, so all of them
  get it. Idempotent; returns how many ports it changed; a missing bridge is 0.

The routes use the bridge, not `unreachable`/`blackhole`: those would fail host-originated
connects before the proxy's nat OUTPUT chain could DNAT a service IP.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
GUARD_CHAIN = "KUBELITE-GUARD"
GUARD_PARENTS = ("OUTPUT", "FORWARD")
# The guard routes point at a Linux bridge of their own, not at a Docker network's bridge:
# Docker removes a network's routes with its bridge, and the guard must outlive any one
# cluster (tests create and remove pod networks all the time). Pod /24s on the Docker bridges
# are more specific routes, so pods stay reachable.
GUARD_BRIDGE = "kubelite0"


class NetworkError(RuntimeError):
    """A host networking command failed; the message carries the command and its stderr."""


def _run(args: list[str], *, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, input=input_text, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetworkError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def default_route_interfaces() -> list[str]:
    """Interfaces that carry a default route (IPv4): where an unrouted packet would leave."""
    out = _run(["ip", "-j", "-4", "route", "show", "default"]).stdout
    routes: list[dict[str, Any]] = json.loads(out or "[]")
    return sorted({r["dev"] for r in routes if r.get("dev")})


def bridge_name_for(cluster: str) -> str:
    """Linux interface names are at most 15 characters: `kl-` plus 12 of the cluster name."""
    safe = "".join(ch for ch in cluster if ch.isalnum() or ch in "-_")[:12]
    return f"kl-{safe or 'kubelite'}"


def network_name_for(cluster: str) -> str:
    return f"kubelite-{cluster}"


def ensure_pod_network(dclient: Any, *, name: str, subnet: str, bridge: str, cluster: str) -> str:
    """Create or adopt the pod bridge network; return its gateway (the first host address).

    An existing network with the same name but another subnet is a configuration error
    (pods already on it would get addresses outside the node's pod CIDR): raise, do not
    silently recreate it under running pods.
    """
    net = ipaddress.ip_network(subnet, strict=False)
    gateway = str(next(net.hosts()))
    existing = dclient.networks.list(names=[name])
    for candidate in existing:
        if candidate.name != name:
            continue
        configs = (candidate.attrs.get("IPAM") or {}).get("Config") or []
        subnets = {c.get("Subnet") for c in configs}
        if str(net) not in subnets:
            raise NetworkError(f"docker network {name} has subnet {sorted(s for s in subnets if s)}, want {net}")
        return gateway
    from docker.types import IPAMConfig, IPAMPool  # only the real runtime needs the SDK

    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(net), gateway=gateway)])
    dclient.networks.create(
        name,
        driver="bridge",
        ipam=ipam,
        check_duplicate=True,
        labels={"io.kubelite.cluster": cluster},
        options={
            "com.docker.network.bridge.name": bridge,
            # No NAT to the outside: pod traffic stays on this machine.
            "com.docker.network.bridge.enable_ip_masquerade": "false",
        },
    )
    log.info("created pod network %s (%s, bridge %s)", name, net, bridge)
    return gateway


def enable_hairpin(bridge: str, *, sys_root: str = "/sys") -> int:
    """See module docstring."""
    brif = Path(sys_root) / "class" / "net" / bridge / "brif"
    changed = 0
    try:
        ports = sorted(brif.iterdir())
    except OSError:
        return 0
    for port in ports:
        mode = port / "hairpin_mode"
        try:
            if mode.read_text().strip() != "1":
                mode.write_text("1")
                changed += 1
        except OSError as exc:  # the port went away meanwhile (its pod was removed): nothing to do
            log.debug("hairpin on %s: %s", port.name, exc)
    if changed:
        log.info("hairpin mode on %d port(s) of %s", changed, bridge)
    return changed


def _route_dev(cidr: str) -> str | None:
    out = _run(["ip", "-j", "-4", "route", "show", "exact", cidr]).stdout
    routes: list[dict[str, Any]] = json.loads(out or "[]")
    for r in routes:
        if r.get("dev"):
            return str(r["dev"])
    return None


def _guard_rules(egress: list[str], cidrs: tuple[str, ...]) -> list[str]:
    rules: list[str] = []
    for dev in egress:
        for cidr in cidrs:
            rules.append(f"-A {GUARD_CHAIN} -d {cidr} -o {dev} -j REJECT --reject-with icmp-net-unreachable")
        # Pods must not reach the outside either (their masquerade is off; this makes sure).
        rules.append(f"-A {GUARD_CHAIN} -s {cidrs[0]} -o {dev} -j REJECT --reject-with icmp-net-unreachable")
    return rules


def _ensure_guard_bridge(bridge: str) -> None:
    if _run(["ip", "link", "show", "dev", bridge], check=False).returncode != 0:
        _run(["ip", "link", "add", bridge, "type", "bridge"])
    _run(["ip", "link", "set", bridge, "up"])


def _link_exists(dev: str) -> bool:
    return _run(["ip", "link", "show", "dev", dev], check=False).returncode == 0


def ensure_guard(bridge: str = GUARD_BRIDGE, *, cluster_cidr: str = CLUSTER_CIDR, service_cidr: str = SERVICE_CIDR) -> None:
    """Install routes + REJECT rules (idempotent). Call before the first pod starts."""
    cidrs = (cluster_cidr, service_cidr)
    egress = [d for d in default_route_interfaces() if d != bridge]
    # 1. Filter rules first: even if a route below fails, nothing can leave.
    lines = ["*filter", f":{GUARD_CHAIN} - [0:0]", *_guard_rules(egress, cidrs), "COMMIT", ""]
    # --noflush keeps every other chain; declaring our chain flushes and refills it in one
    # atomic commit, so there is never a window without the rules.
    _run(["iptables-restore", "--noflush", "-w", "5"], input_text="\n".join(lines))
    for parent in GUARD_PARENTS:
        if _run(["iptables", "-w", "5", "-C", parent, "-j", GUARD_CHAIN], check=False).returncode != 0:
            _run(["iptables", "-w", "5", "-I", parent, "1", "-j", GUARD_CHAIN])
    # 2. Routes to the project's bridge. A route already pointing at another local bridge
    # (e.g. a lab node's own setup) is just as safe: keep it.
    if bridge == GUARD_BRIDGE:
        _ensure_guard_bridge(bridge)
    for cidr in cidrs:
        dev = _route_dev(cidr)
        if dev is None or dev in egress or not _link_exists(dev):
            _run(["ip", "route", "replace", cidr, "dev", bridge])
            log.info("guard route %s dev %s", cidr, bridge)


@dataclass
class GuardStatus:
    chain_rules: list[str] = field(default_factory=list)
    jumps: dict[str, bool] = field(default_factory=dict)
    routes: dict[str, str | None] = field(default_factory=dict)
    egress: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        rejects = [r for r in self.chain_rules if "-j REJECT" in r]
        covered = all(any(f"-d {c}" in r and f"-o {d}" in r for r in rejects) for c in self.routes for d in self.egress)
        routed = all(dev is not None and dev not in self.egress for dev in self.routes.values())
        return all(self.jumps.values()) and covered and routed


def guard_status(*, cluster_cidr: str = CLUSTER_CIDR, service_cidr: str = SERVICE_CIDR) -> GuardStatus:
    st = GuardStatus(egress=default_route_interfaces())
    proc = _run(["iptables", "-w", "5", "-S", GUARD_CHAIN], check=False)
    st.chain_rules = proc.stdout.splitlines() if proc.returncode == 0 else []
    for parent in GUARD_PARENTS:
        st.jumps[parent] = _run(["iptables", "-w", "5", "-C", parent, "-j", GUARD_CHAIN], check=False).returncode == 0
    for cidr in (cluster_cidr, service_cidr):
        st.routes[cidr] = _route_dev(cidr)
    return st
