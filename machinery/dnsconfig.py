"""A pod's /etc/resolv.conf from its dnsPolicy and dnsConfig (Kubernetes' kubelet dns.go).

Contract: `pod_resolv_conf(pod, *, cluster_dns=["10.96.0.10"], cluster_domain="cluster.local",
host_resolv_conf="/etc/resolv.conf") -> str`, `pod` a Pod model or its wire dict:
- ClusterFirst (the default), and ClusterFirstWithHostNet: `nameserver <cluster_dns...>`,
  `search <ns>.svc.<domain> svc.<domain> <domain>` followed by the host's search domains,
  `options ndots:5`. ClusterFirst on a hostNetwork pod, or with no cluster DNS configured,
  falls back to Default (as the kubelet does).
- Default: the host's resolv.conf (nameservers, search, options) as read from
  `host_resolv_conf` (a missing file counts as empty).
- None: only `spec.dnsConfig`.
- `spec.dnsConfig` is merged into every policy: nameservers appended (at most 3 in total),
  searches appended without duplicates (at most 32), options merged by name with the pod's
  value winning (`ndots:2` replaces `ndots:5`).
- Lines with nothing to say are left out; the text ends with a newline ("" when empty).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_NAMESERVERS = 3
MAX_SEARCHES = 32


def _as_dict(pod: Any) -> dict[str, Any]:
    if isinstance(pod, dict):
        return pod
    return dict(pod.to_dict())


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, searches, options) of a resolv.conf; later search/domain lines win."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        key, values = fields[0], fields[1:]
        if key == "nameserver" and values:
            servers.append(values[0])
        elif key in ("search", "domain"):
            searches = list(values)
        elif key == "options":
            options.extend(values)
    return servers, searches, options


def _host(path: str) -> tuple[list[str], list[str], list[str]]:
    try:
        return parse_resolv_conf(Path(path).read_text())
    except OSError:
        return [], [], []


def _merge_options(base: list[str], extra: list[dict[str, Any]]) -> list[str]:
    merged: dict[str, str] = {}
    for opt in base:
        merged[opt.partition(":")[0]] = opt
    for item in extra:
        name = str(item.get("name") or "")
        if not name:
            continue
        value = item.get("value")
        merged[name] = f"{name}:{value}" if value is not None else name
    return list(merged.values())


def pod_resolv_conf(pod: Any, *, cluster_dns: list[str] | None = None, cluster_domain: str = "cluster.local",
                    host_resolv_conf: str = "/etc/resolv.conf") -> str:
    data = _as_dict(pod)
    spec = data.get("spec") or {}
    ns = (data.get("metadata") or {}).get("namespace") or "default"
    dns = ["10.96.0.10"] if cluster_dns is None else list(cluster_dns)
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and (spec.get("hostNetwork") or not dns):
        policy = "Default"
    if policy == "ClusterFirstWithHostNet" and not dns:
        policy = "Default"
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        _, host_searches, _ = _host(host_resolv_conf)
        d = cluster_domain
        servers = dns
        searches = [f"{ns}.svc.{d}", f"svc.{d}", d, *host_searches]
        options = ["ndots:5"]
    elif policy != "None":
        servers, searches, options = _host(host_resolv_conf)
    cfg = spec.get("dnsConfig") or {}
    servers = [*servers, *(cfg.get("nameservers") or [])][:MAX_NAMESERVERS]
    for s in cfg.get("searches") or []:
        searches.append(s)
    searches = list(dict.fromkeys(searches))[:MAX_SEARCHES]
    options = _merge_options(options, cfg.get("options") or [])
    lines = [f"nameserver {s}" for s in servers]
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n" if lines else ""
