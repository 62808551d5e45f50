"""Pure rendering: Services + EndpointSlices -> the proxy's iptables chains (no I/O, no state).

Contract:
- `render(services, slices, cfg) -> Ruleset` (slices: discovery.k8s.io/v1 EndpointSlices): the COMPLETE desired content of every chain
  the proxy owns, as `{chain: [rule lines]}` per table (`nat`, `filter`), in a deterministic
  order (services sorted by namespace/name/port, endpoints by "ip:port"). Same input, same
  output, byte for byte: the sync loop skips `iptables-restore` when nothing changed.
- `restore_text(new, old, existing=None, *, max_chains=1000) -> str | None`: the
  `iptables-restore --noflush` input that turns `old` (what we applied last; None = unknown,
  write everything) into `new`. Only chains whose rules changed are declared (`:CHAIN - [0:0]`
  flushes them) and refilled; chains in `old` or `existing` (chains with our prefix found in
  the kernel) but not in `new` are flushed and deleted with `-X` after every rule that
  referenced them was rewritten. Returns None when there is nothing to do.
  Up to `max_chains` changed chains this is ONE transaction per table. Beyond that (a full
  sync of thousands of Services) iptables-nft becomes quadratic in the chains of one commit
  (5,000 Services: over 2 minutes in one commit, a few seconds in batches; see
  bench/proxy.py), so the nat table is written in several commits: first the top chains the
  Services jump to (MARK-MASQ, POSTROUTING), then the per-Service chain groups (each
  Service's SEP, SVC and EXT chains together, so every Service switches atomically and new
  chains exist before anything jumps to them), then SERVICES and NODEPORTS in one commit,
  then stale chains flushed and deleted in batches.
- `delete_text({table: chains}, max_chains)`: flush-then-delete input in batches (cleanup).
- Chain names follow kube-proxy: `<P>-SVC-|<P>-SEP-|<P>-EXT-` + base32(sha256(...)) truncated so
  that the name is at most 28 characters (the iptables limit); the hashed string is
  `ns/name[:portname]` + protocol (+ "ip:port" for endpoint chains).
- Semantics (as kube-proxy's iptables mode): a ClusterIP port with ready endpoints jumps from
  `<P>-SERVICES` to its SVC chain, which masquerades off-cluster sources, honours ClientIP
  affinity (`-m recent`), then picks an endpoint with `-m statistic --mode random` at
  probability 1/(n-i) (10 decimals; the last one unconditionally). SEP chains mark hairpin
  traffic and DNAT. A LoadBalancer's ingress IPs (ipMode VIP) jump from `<P>-SERVICES` to the
  same EXT chain as its NodePort and external IPs. Traffic policies (kube-proxy's rules):
  internalTrafficPolicy Local balances ClusterIP traffic over this node's endpoints
  (`cfg.node_name`; none here but some elsewhere: a filter DROP "has no local endpoints");
  externalTrafficPolicy Local keeps the client's source (no masquerade) and sends external
  traffic to an SVL chain of this node's endpoints (none: filter DROP), while pod sources and
  the node itself (masqueraded) still go through the cluster-wide SVC chain. NodePorts live in `<P>-NODEPORTS` (reached for LOCAL destinations only, the
  last rule of `<P>-SERVICES`; 127.0.0.0/8 excluded unless `cfg.localhost_nodeports`, as
  kube-proxy) through an EXT chain that masquerades. A port without ready
  endpoints gets a filter-table REJECT instead, so clients fail fast rather than hang.
  ExternalName and headless Services get no rules.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from machinery.endpointslices import EndpointInfo, endpoints_for_port, service_key_of, usable
from machinery.models import EndpointSlice, Service, ServicePort

MAX_CHAIN_LEN = 28  # iptables: XT_EXTENSION_MAXNAMELEN (29) minus the NUL
MAX_PREFIX_LEN = 10  # "<prefix>-EXTERNAL-SERVICES" must still fit
MASQ_MARK = "0x4000"
TABLES = ("nat", "filter")


@dataclass(frozen=True)
class ProxyConfig:
    prefix: str = "KUBELITE"
    """Chain name prefix; tests use a random one so they never touch a running cluster's chains."""
    cluster_cidr: str | None = "10.244.0.0/16"
    """Traffic to a ClusterIP from outside this range is masqueraded (None: never)."""
    node_name: str | None = None
    """This node: endpoints whose nodeName it is are "local" (traffic policies Local)."""
    localhost_nodeports: bool = False
    """NodePorts also answer on 127.0.0.1 (kube-proxy's --iptables-localhost-nodeports; needs
    the route_localnet sysctl, which the proxy sets). Off: 127.0.0.0/8 never reaches NODEPORTS."""

    def __post_init__(self) -> None:
        if not self.prefix or len(self.prefix) > MAX_PREFIX_LEN or not self.prefix.replace("_", "").isalnum():
            raise ValueError(f"chain prefix must be 1-{MAX_PREFIX_LEN} letters/digits, got {self.prefix!r}")

    def chain(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def hashed(self, kind: str, text: str) -> str:
        head = f"{self.prefix}-{kind}-"
        digest = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()
        return head + digest[: MAX_CHAIN_LEN - len(head)]


@dataclass
class Ruleset:
    """Desired chain contents per table; every rule line starts with `-A <chain>`."""

    tables: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {t: {} for t in TABLES})
    groups: list[list[str]] = field(default_factory=list)
    """nat chains of one Service port (SEP..., SVC, EXT): written in the same commit."""

    def chains(self, table: str) -> dict[str, list[str]]:
        return self.tables[table]

    def add(self, table: str, chain: str, rule: str | None = None) -> None:
        rules = self.tables[table].setdefault(chain, [])
        if rule is not None:
            rules.append(f"-A {chain} {rule}")

    def rule_count(self) -> int:
        return sum(len(r) for t in self.tables.values() for r in t.values())


def port_name(svc: Service, port: ServicePort) -> str:
    """kube-proxy's ServicePortName string: `ns/name` plus `:portname` when named."""
    base = f"{svc.namespace}/{svc.name}"
    return f"{base}:{port.name}" if port.name else base


def probability(n: int) -> str:
    """kube-proxy's computeProbability: 1/n with 10 decimals."""
    return f"{1.0 / n:0.10f}"


def _proto(port: ServicePort) -> str:
    return (port.protocol or "TCP").lower()


def service_endpoint_infos(slices: list[EndpointSlice], port: ServicePort) -> list[EndpointInfo]:
    return usable(endpoints_for_port(slices, port.name, _proto(port)))


def service_endpoints(slices: list[EndpointSlice], port: ServicePort) -> list[str]:
    """Sorted unique "ip:port" the proxy balances `port` over: kube-proxy's choice over the
    Service's EndpointSlices (ready endpoints; serving-and-terminating ones only when none is
    ready, so a draining Service finishes its work; see machinery.endpointslices.usable)."""
    return [e.address for e in usable(endpoints_for_port(slices, port.name, _proto(port)))]


def load_balancer_ips(svc: Service) -> list[str]:
    """A LoadBalancer Service's status.loadBalancer.ingress IPs with ipMode VIP (or unset): the
    proxy answers on them as kube-proxy does; "Proxy" mode ones are the load balancer's business."""
    if svc.spec is None or svc.spec.type != "LoadBalancer" or svc.status is None or svc.status.loadBalancer is None:
        return []
    return [i.ip for i in svc.status.loadBalancer.ingress or [] if i.ip and (i.ipMode or "VIP") == "VIP"]


def _has_cluster_ip(svc: Service) -> bool:
    spec = svc.spec
    if spec is None or spec.type == "ExternalName":
        return False
    return bool(spec.clusterIP) and spec.clusterIP != "None"


def render(services: Iterable[Service], slices: Iterable[EndpointSlice], cfg: ProxyConfig) -> Ruleset:
    by_service: dict[str, list[EndpointSlice]] = {}
    for es in slices:
        by_service.setdefault(service_key_of(es), []).append(es)
    rs = Ruleset()
    c = cfg.chain
    for chain in ("SERVICES", "NODEPORTS", "POSTROUTING", "MARK-MASQ"):
        rs.add("nat", c(chain))
    for chain in ("SERVICES", "EXTERNAL-SERVICES"):
        rs.add("filter", c(chain))
    # Masquerade what was marked, once, then clear the mark (a packet may be re-routed).
    rs.add("nat", c("POSTROUTING"), f"-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN")
    rs.add("nat", c("POSTROUTING"), f"-j MARK --xor-mark {MASQ_MARK}")
    rs.add("nat", c("POSTROUTING"), '-m comment --comment "kubelite service traffic requiring SNAT" -j MASQUERADE')
    rs.add("nat", c("MARK-MASQ"), f"-j MARK --or-mark {MASQ_MARK}")
    for svc in sorted((s for s in services if _has_cluster_ip(s)), key=lambda s: s.key):
        assert svc.spec is not None
        for port in svc.spec.ports or []:
            _render_port(rs, cfg, svc, port, service_endpoint_infos(by_service.get(svc.key, []), port))
    # Must stay last: a NodePort only for destinations that are this host's addresses (not
    # 127.0.0.0/8 unless localhost NodePorts are on: without route_localnet those would hang).
    local = "-m addrtype --dst-type LOCAL" + ("" if cfg.localhost_nodeports else " ! -d 127.0.0.0/8")
    rs.add("nat", c("SERVICES"), '-m comment --comment "kubelite service nodeports; NOTE: this must be the last '
           f'rule in this chain" {local} -j {c("NODEPORTS")}')
    if cfg.localhost_nodeports:  # kube-proxy's "block incoming localnet connections" (martians)
        rs.add("filter", c("EXTERNAL-SERVICES"), '-m comment --comment "block incoming localnet connections" '
               "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
    return rs


def _render_port(rs: Ruleset, cfg: ProxyConfig, svc: Service, port: ServicePort, infos: list[EndpointInfo]) -> None:
    assert svc.spec is not None
    c = cfg.chain
    spn = port_name(svc, port)
    proto = _proto(port)
    match = f"-m {proto} -p {proto}"
    dst = f"-d {svc.spec.clusterIP}/32 --dport {port.port}"
    node_port = port.nodePort if svc.spec.type in ("NodePort", "LoadBalancer") else None
    external_ips = svc.spec.externalIPs or []
    lb_ips = load_balancer_ips(svc)
    ext_dests = [f"{match} -d {ip}/32 --dport {port.port}" for ip in [*external_ips, *lb_ips]]
    if node_port:
        ext_dests.append(f"-m addrtype --dst-type LOCAL {match} --dport {node_port}")
    local = [e for e in infos if cfg.node_name is not None and e.node_name == cfg.node_name]
    # internalTrafficPolicy Local: ClusterIP traffic only to this node's endpoints (kube-proxy).
    internal = local if svc.spec.internalTrafficPolicy == "Local" else infos
    if not infos:
        reject = "-j REJECT --reject-with icmp-port-unreachable"
        rs.add("filter", c("SERVICES"), f'-m comment --comment "{spn} has no endpoints" {match} {dst} {reject}')
        for d in ext_dests:
            rs.add("filter", c("EXTERNAL-SERVICES"), f'-m comment --comment "{spn} has no endpoints" {d} {reject}')
        return
    endpoints = [e.address for e in infos]
    sep_chains = {ep: cfg.hashed("SEP", spn + proto + ep) for ep in endpoints}
    svc_chain = cfg.hashed("SVC", spn + proto)
    chains: list[str] = []
    if internal:
        rs.add("nat", c("SERVICES"), f'-m comment --comment "{spn} cluster IP" {match} {dst} -j {svc_chain}')
        rs.add("nat", svc_chain)
        if cfg.cluster_cidr:
            rs.add("nat", svc_chain, f'-m comment --comment "{spn} cluster IP" {match} {dst} '
                   f"! -s {cfg.cluster_cidr} -j {c('MARK-MASQ')}")
        _balance(rs, cfg, svc, svc_chain, spn, [e.address for e in internal], sep_chains)
        chains.append(svc_chain)
    else:  # endpoints exist, none on this node: drop, as kube-proxy ("has no local endpoints")
        rs.add("filter", c("SERVICES"), f'-m comment --comment "{spn} has no local endpoints" {match} {dst} -j DROP')
    if ext_dests:
        chains += _render_ext(rs, cfg, svc, port, ext_dests=ext_dests, internal=bool(internal),
                              local=[e.address for e in local], sep_chains=sep_chains)
    affinity = svc.spec.sessionAffinity == "ClientIP"
    for ep in endpoints:
        sep = sep_chains[ep]
        ip = ep.rpartition(":")[0]
        rs.add("nat", sep, f'-m comment --comment "{spn}" -s {ip}/32 -j {c("MARK-MASQ")}')  # hairpin
        recent = f"-m recent --name {sep} --set " if affinity else ""
        rs.add("nat", sep, f'-m comment --comment "{spn}" {match} {recent}-j DNAT --to-destination {ep}')
    rs.groups.append([*sep_chains.values(), *chains])


def _render_ext(rs: Ruleset, cfg: ProxyConfig, svc: Service, port: ServicePort, *, ext_dests: list[str],
                internal: bool, local: list[str], sep_chains: dict[str, str]) -> list[str]:
    """The EXT chain of NodePort / external IP / load balancer traffic and, with
    externalTrafficPolicy Local, the SVL chain of this node's endpoints; returns their names."""
    assert svc.spec is not None
    c = cfg.chain
    spn = port_name(svc, port)
    proto = _proto(port)
    match = f"-m {proto} -p {proto}"
    svc_chain = cfg.hashed("SVC", spn + proto)
    node_port = port.nodePort if svc.spec.type in ("NodePort", "LoadBalancer") else None
    ext_local = svc.spec.externalTrafficPolicy == "Local" and svc.spec.type in ("NodePort", "LoadBalancer")
    external_ips, lb_ips = svc.spec.externalIPs or [], load_balancer_ips(svc)
    ext_chain = cfg.hashed("EXT", spn + proto)
    rs.add("nat", ext_chain)
    out = [ext_chain]
    if not ext_local:
        rs.add("nat", ext_chain, f'-m comment --comment "masquerade traffic for {spn} external destinations" '
               f"-j {c('MARK-MASQ')}")
        if internal:
            rs.add("nat", ext_chain, f"-j {svc_chain}")
    else:
        # externalTrafficPolicy Local: no masquerade (the client's source IP is kept), only this
        # node's endpoints; pods and the node itself still reach the Service cluster-wide.
        if cfg.cluster_cidr and internal:
            rs.add("nat", ext_chain, f'-m comment --comment "pod traffic for {spn} external destinations" '
                   f"-s {cfg.cluster_cidr} -j {svc_chain}")
        rs.add("nat", ext_chain, f'-m comment --comment "masquerade LOCAL traffic for {spn} external '
               f'destinations" -m addrtype --src-type LOCAL -j {c("MARK-MASQ")}')
        if internal:
            rs.add("nat", ext_chain, f'-m comment --comment "route LOCAL traffic for {spn} external '
                   f'destinations" -m addrtype --src-type LOCAL -j {svc_chain}')
        if local:
            svl_chain = cfg.hashed("SVL", spn + proto)
            rs.add("nat", ext_chain, f"-j {svl_chain}")
            rs.add("nat", svl_chain)
            _balance(rs, cfg, svc, svl_chain, spn, local, sep_chains)
            out.append(svl_chain)
        else:
            for d in ext_dests:
                rs.add("filter", c("EXTERNAL-SERVICES"), f'-m comment --comment "{spn} has no local endpoints" '
                       f"{d} -j DROP")
    for ip in external_ips:
        rs.add("nat", c("SERVICES"), f'-m comment --comment "{spn} external IP" {match} '
               f"-d {ip}/32 --dport {port.port} -j {ext_chain}")
    for ip in lb_ips:  # kube-proxy: "loadbalancer IP" rules, through the same EXT chain
        rs.add("nat", c("SERVICES"), f'-m comment --comment "{spn} loadbalancer IP" {match} '
               f"-d {ip}/32 --dport {port.port} -j {ext_chain}")
    if node_port:
        rs.add("nat", c("NODEPORTS"), f'-m comment --comment "{spn}" {match} --dport {node_port} -j {ext_chain}')
    return out


def _balance(rs: Ruleset, cfg: ProxyConfig, svc: Service, chain: str, spn: str, endpoints: list[str],
             sep_chains: dict[str, str]) -> None:
    """ClientIP affinity checks, then the random pick over `endpoints` (1/(n-i), last unconditional)."""
    assert svc.spec is not None
    affinity = svc.spec.sessionAffinity == "ClientIP"
    timeout_s = 10800
    if affinity and svc.spec.sessionAffinityConfig and svc.spec.sessionAffinityConfig.clientIP:
        timeout_s = svc.spec.sessionAffinityConfig.clientIP.timeoutSeconds or timeout_s
    if affinity:
        # An existing client keeps its endpoint for timeout_s (checked before the random pick).
        for ep in endpoints:
            rs.add("nat", chain, f'-m comment --comment "{spn} -> {ep}" -m recent --name {sep_chains[ep]} '
                   f"--rcheck --seconds {timeout_s} --reap -j {sep_chains[ep]}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        stat = f"-m statistic --mode random --probability {probability(n - i)} " if i < n - 1 else ""
        rs.add("nat", chain, f'-m comment --comment "{spn} -> {ep}" {stat}-j {sep_chains[ep]}')


def _block(table: str, declare: list[str], body: list[str]) -> list[str]:
    return [f"*{table}", *(f":{ch} - [0:0]" for ch in declare), *body, "COMMIT"]


def restore_text(new: Ruleset, old: Ruleset | None, existing: dict[str, set[str]] | None = None, *,
                 max_chains: int = 1000) -> str | None:
    """See module docstring. `existing`: table -> chain names with our prefix now in the kernel."""
    out: list[str] = []
    # filter before nat, as kube-proxy writes them: a Service gaining endpoints loses its REJECT
    # before its DNAT appears (a SYN in between is dropped and retried, not refused), and one
    # losing them gets the REJECT while the DNAT still rewrites the destination it matches.
    for table in ("filter", "nat"):
        want = new.chains(table)
        had = old.chains(table) if old is not None else {}
        write = [ch for ch, rules in want.items() if old is None or had.get(ch) != rules]
        gone = sorted((set(had) | (existing or {}).get(table, set())) - set(want))
        if not write and not gone:
            continue
        if len(write) + len(gone) <= max_chains or table != "nat":
            # Declaring a chain flushes it; stale chains are flushed too so -X can delete them.
            out += _block(table, [*write, *gone], [r for ch in write for r in want[ch]] + [f"-X {ch}" for ch in gone])
            continue
        out += _batched(table, want, set(write), gone, new.groups, max_chains)
    return "\n".join(out) + "\n" if out else None


def _batched(table: str, want: dict[str, list[str]], write: set[str], gone: list[str],
             groups: list[list[str]], max_chains: int) -> list[str]:
    grouped = {ch for group in groups for ch in group}
    top = [ch for ch in want if ch in write and ch not in grouped]
    # Top chains the groups jump to (MARK-MASQ) go first; those jumping into groups (SERVICES,
    # NODEPORTS) last, once every chain they name exists with its final rules.
    into_groups = {ch for ch in top if any(r.split(" -j ")[-1].split()[0] in grouped for r in want[ch])}
    first = [ch for ch in top if ch not in into_groups]
    out = _block(table, first, [r for ch in first for r in want[ch]]) if first else []
    batch: list[str] = []
    for group in groups:
        batch += [ch for ch in group if ch in write]
        if len(batch) >= max_chains:
            out += _block(table, batch, [r for ch in batch for r in want[ch]])
            batch = []
    if batch:
        out += _block(table, batch, [r for ch in batch for r in want[ch]])
    last = [ch for ch in top if ch in into_groups]
    if last:
        out += _block(table, last, [r for ch in last for r in want[ch]])
    return out + delete_text({table: set(gone)}, max_chains).splitlines()


def delete_text(chains: dict[str, set[str]], max_chains: int = 500) -> str:
    """Flush every chain (in batches), then delete them (in batches): once all are flushed no
    rule refers to any of them, whatever order they are deleted in."""
    out: list[str] = []
    for table, names in chains.items():
        ordered = sorted(names)
        batches = [ordered[i:i + max_chains] for i in range(0, len(ordered), max_chains)]
        for batch in batches:
            out += _block(table, batch, [])
        for batch in batches:
            out += _block(table, [], [f"-X {ch}" for ch in batch])
    return "\n".join(out) + "\n" if out else ""
