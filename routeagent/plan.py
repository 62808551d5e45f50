"""Pure planning for the route agent: which routes and rules a host should have.

Contract:
- `desired_routes(nodes, self_name=)` maps every pod CIDR (spec.podCIDRs, else spec.podCIDR)
  of every node except `self_name` to that node's first InternalIP. Nodes without a pod CIDR
  or an InternalIP, and nodes being deleted, give nothing (there is nowhere to send to yet).
  CIDRs outside the cluster CIDR are ignored: the agent only ever routes pod traffic.
- `parse_routes(ip_json)` reads `ip -j -4 route show proto static` into {cidr: gateway},
  keeping only gateway routes inside the cluster CIDR: the routes this agent owns. The
  guard's route for the whole cluster CIDR (dev kubelite0, no gateway) is never touched.
- `route_changes(current, desired)` gives the `ip route` argv lists that turn one into the
  other: `replace` for a missing or changed route, `del` for one whose node is gone.
- `rules_text(cluster_cidr)` is the iptables-restore input of the agent's own chains:
  `KLAB-FORWARD` (filter; ACCEPT pod traffic in both directions, so Docker's FORWARD
  policy DROP does not eat packets from other nodes' pods; it is appended to FORWARD, after
  the traffic guard, which therefore still applies first) and `KLAB-NOMASQ` (nat;
  RETURN for pod-to-pod so pods see each other's real IPs, jumped to first from POSTROUTING).
  Their names must not start with `KUBELITE-`: the proxy owns (and deletes as stale) every
  chain with its prefix except the guard.
"""

from __future__ import annotations

import ipaddress
from typing import Any

CLUSTER_CIDR = "10.244.0.0/16"
FWD_CHAIN = "KLAB-FORWARD"
NOMASQ_CHAIN = "KLAB-NOMASQ"
ROUTE_PROTO = "static"


def _in_cluster(cidr: str, cluster_cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
        cluster = ipaddress.ip_network(cluster_cidr)
    except ValueError:
        return False
    return net.version == cluster.version and net.subnet_of(cluster) and net != cluster  # type: ignore[arg-type]


def node_pod_cidrs(node: dict[str, Any]) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or [])
    if not cidrs and spec.get("podCIDR"):
        cidrs = [spec["podCIDR"]]
    return [str(ipaddress.ip_network(c, strict=False)) for c in cidrs]


def internal_ip(node: dict[str, Any]) -> str | None:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP" and addr.get("address"):
            return str(addr["address"])
    return None


def desired_routes(nodes: list[dict[str, Any]], *, self_name: str | None,
                   cluster_cidr: str = CLUSTER_CIDR) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in sorted(nodes, key=lambda n: (n.get("metadata") or {}).get("name") or ""):
        meta = node.get("metadata") or {}
        if meta.get("name") == self_name or meta.get("deletionTimestamp"):
            continue
        via = internal_ip(node)
        if via is None:
            continue
        for cidr in node_pod_cidrs(node):
            if _in_cluster(cidr, cluster_cidr):
                out.setdefault(cidr, via)
    return out


def parse_routes(routes: list[dict[str, Any]], *, cluster_cidr: str = CLUSTER_CIDR) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in routes:
        dst, gw = r.get("dst"), r.get("gateway")
        if dst and gw and _in_cluster(dst, cluster_cidr):
            out[str(ipaddress.ip_network(dst, strict=False))] = str(gw)
    return out


def route_changes(current: dict[str, str], desired: dict[str, str]) -> list[list[str]]:
    cmds: list[list[str]] = []
    for cidr, via in sorted(desired.items()):
        if current.get(cidr) != via:
            cmds.append(["ip", "route", "replace", cidr, "via", via, "proto", ROUTE_PROTO])
    for cidr, via in sorted(current.items()):
        if cidr not in desired:
            cmds.append(["ip", "route", "del", cidr, "via", via, "proto", ROUTE_PROTO])
    return cmds


def rules_text(cluster_cidr: str = CLUSTER_CIDR) -> str:
    return "\n".join([
        "*filter",
        f":{FWD_CHAIN} - [0:0]",
        f"-A {FWD_CHAIN} -s {cluster_cidr} -j ACCEPT",
        f"-A {FWD_CHAIN} -d {cluster_cidr} -j ACCEPT",
        "COMMIT",
        "*nat",
        f":{NOMASQ_CHAIN} - [0:0]",
        f"-A {NOMASQ_CHAIN} -s {cluster_cidr} -d {cluster_cidr} -j RETURN",
        "COMMIT",
        "",
    ])
