"""Pod DNS: the /etc/resolv.conf a pod's containers get.

Contract: `resolv_conf(pod, cluster_dns=, cluster_domain=)` returns the file content for the
pod's dnsPolicy (ClusterFirst -> the cluster DNS servers with `<ns>.svc.<domain> svc.<domain>
<domain>` and ndots:5; ClusterFirstWithHostNet likewise; None -> only spec.dnsConfig; Default,
or ClusterFirst without a configured cluster DNS, or ClusterFirst on hostNetwork -> None, i.e.
keep Docker's). The worker writes it into the pod directory and bind-mounts it read-only.
"""

from __future__ import annotations

from typing import Any


def resolv_conf(pod: dict[str, Any], *, cluster_dns: list[str], cluster_domain: str = "cluster.local") -> str | None:
    """The pod's /etc/resolv.conf per its dnsPolicy, or None to keep Docker's.

    Written per pod and bind-mounted into every container (as Kubernetes' Docker shim did):
    containers joined to the sandbox may not set DNS options themselves."""
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    dns_cfg = spec.get("dnsConfig") or {}
    servers: list[str] = []
    searches: list[str] = []
    options = ["ndots:5"]
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"  # Kubernetes: host-network pods need ClusterFirstWithHostNet
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns:
        d = cluster_domain
        servers, searches = list(cluster_dns), [f"{ns}.svc.{d}", f"svc.{d}", d]
    elif policy != "None":
        return None
    else:
        options = []
    servers += dns_cfg.get("nameservers") or []
    searches += dns_cfg.get("searches") or []
    for o in dns_cfg.get("options") or []:
        options.append(f"{o['name']}:{o['value']}" if o.get("value") is not None else o["name"])
    if not servers:
        return None
    lines = [f"nameserver {s}" for s in servers[:3]]
    if searches:
        lines.append("search " + " ".join(searches[:6]))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
