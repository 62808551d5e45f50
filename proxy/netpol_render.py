"""Pure rendering: NetworkPolicies + Pods + Namespaces -> this node's policy chains (no I/O).

Contract:
- `render_policies(policies, pods, namespaces, cfg) -> Ruleset`: the COMPLETE desired content
  of every filter-table chain the policy agent owns, deterministic (policies, pods and peers
  sorted; same input, same output byte for byte, so an unchanged cluster costs no restore).
  Every chain name starts with `<P>-NP` (`is_policy_chain`): the service proxy leaves those
  alone and the policy agent owns nothing else.
- Enforcement point: `<P>-NPOL`, jumped to from filter FORWARD (every pod packet crosses the
  node's bridge there: br_netfilter is on, bridged and routed packets alike; matches are on IP
  addresses, after the Service DNAT, so a policy sees the backend pod as Kubernetes says) and
  from filter INPUT for DNATed packets only (a pod reaching a Service whose endpoint is on this
  host: the cluster DNS add-on runs there). Packets of RELATED/ESTABLISHED connections return
  at once: an existing connection keeps working, and replies of allowed ones pass.
- Isolation (Kubernetes semantics): a pod of THIS node (`cfg.node_name`; None: every pod) with
  an IP, not hostNetwork, not finished, is isolated for ingress (egress) when a policy of its
  namespace selects it (`spec.podSelector`, empty = all) with Ingress (Egress) in its effective
  policyTypes. An isolated pod's chain `<P>-NPI-` / `<P>-NPE-` allows its own traffic to itself,
  then asks each selecting policy's chain (`<P>-NPP-`) whether a rule allows the packet (the
  policy chain sets mark 0x10000 for ingress / 0x20000 for egress), and REJECTs what none allows
  (icmp-port-unreachable, as kube-router: a blocked client fails fast instead of hanging).
  Policies are additive; a pod no policy selects is not touched.
- Rules: a rule allows a packet matching one of its ports (none: every port) AND one of its
  peers (none: every source/destination). Ports: protocol (TCP default) with a number, a range
  `port:endPort`, or a named port, resolved per destination pod from its containers' ports
  (ingress: the selected pod; egress: every known pod with that port name, as a `-d IP` match).
  Peers: podSelector (the policy's namespace), namespaceSelector (every pod of the matching
  namespaces; a namespace always carries the `kubernetes.io/metadata.name` label), both (pods
  matching both), ipBlock (a CIDR; `except` ranges RETURN first in a chain of their own).
  A peer selector matching no pod allows nothing.
- Host traffic: as Kubernetes says, traffic between a pod and its own node is always allowed
  (kubelet probes): host-originated packets (OUTPUT) are not filtered, and a pod's packets to
  the node's own addresses are only judged when they were DNATed to it (a Service). The
  host-run DNS add-on is not a pod, so a pod/namespace selector cannot name it: allow it with
  a port rule (53/UDP, 53/TCP) or an ipBlock holding its address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from machinery.models import Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod
from machinery.selectors import LabelSelector, selector_from_model
from proxy.render import ProxyConfig, Ruleset

INGRESS_MARK = "0x10000"
EGRESS_MARK = "0x20000"
NAME_LABEL = "kubernetes.io/metadata.name"
POLICY_FAMILY = "NP"  # every chain of the policy agent is "<P>-NP..."
REJECT = "-j REJECT --reject-with icmp-port-unreachable"


def is_policy_chain(name: str, prefix: str) -> bool:
    return name.startswith(f"{prefix}-{POLICY_FAMILY}")


@dataclass(frozen=True)
class PodInfo:
    """What the rules need of a pod."""

    key: str
    namespace: str
    ip: str
    node: str | None
    labels: dict[str, str]
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, containerPort) of named ports


def pod_info(pod: Pod) -> PodInfo | None:
    """None for pods that take no part in policies: no IP yet, hostNetwork, or finished."""
    spec, status = pod.spec, pod.status
    if spec is None or status is None or not status.podIP or spec.hostNetwork:
        return None
    if status.phase in ("Succeeded", "Failed"):
        return None
    named = tuple(sorted((p.name, (p.protocol or "TCP").upper(), p.containerPort)
                         for c in [*(spec.initContainers or []), *spec.containers] for p in c.ports or [] if p.name))
    return PodInfo(key=pod.key, namespace=pod.namespace or "default", ip=status.podIP, node=spec.nodeName,
                   labels=dict(pod.metadata.labels or {}), ports=named)


@dataclass
class _World:
    """The pods and namespaces, with selections cached by selector text: policies of one
    application share a few selectors, so 1,000 policies cost a few dozen selections."""

    pods: list[PodInfo]
    ns_labels: dict[str, dict[str, str]]

    def __post_init__(self) -> None:
        self.by_ns: dict[str, list[PodInfo]] = {}
        for p in self.pods:
            self.by_ns.setdefault(p.namespace, []).append(p)
        self._selectors: dict[str, LabelSelector] = {}
        self._selected: dict[tuple[str, str], list[PodInfo]] = {}
        self._peers: dict[tuple[str, str | None, str | None], list[str]] = {}

    def selector(self, sel: Any) -> tuple[str, LabelSelector]:
        """(cache key, compiled selector); None is "everything" here (an absent podSelector)."""
        key = json.dumps(sel.to_dict(), sort_keys=True) if sel is not None else "{}"
        compiled = self._selectors.get(key)
        if compiled is None:
            compiled = self._selectors[key] = selector_from_model(sel) if sel is not None else LabelSelector.everything()
        return key, compiled

    def selected(self, namespace: str, sel: Any) -> list[PodInfo]:
        """Pods of `namespace` matching the pod selector `sel` (a model or None)."""
        key, compiled = self.selector(sel)
        found = self._selected.get((namespace, key))
        if found is None:
            found = self._selected[(namespace, key)] = [p for p in self.by_ns.get(namespace, []) if compiled.matches(p.labels)]
        return found

    def labels_of_namespace(self, name: str) -> dict[str, str]:
        return {**self.ns_labels.get(name, {}), NAME_LABEL: name}

    def peer_ips(self, peer: NetworkPolicyPeer, policy_ns: str) -> list[str]:
        pod_key = self.selector(peer.podSelector)[0] if peer.podSelector is not None else None
        ns_key = self.selector(peer.namespaceSelector)[0] if peer.namespaceSelector is not None else None
        cache_key = (policy_ns if ns_key is None else "", pod_key, ns_key)
        ips = self._peers.get(cache_key)
        if ips is not None:
            return ips
        if peer.namespaceSelector is not None:
            ns_sel = self.selector(peer.namespaceSelector)[1]
            names = [ns for ns in self.by_ns if ns_sel.matches(self.labels_of_namespace(ns))]
        else:
            names = [policy_ns]
        found = {p.ip for ns in names for p in self.selected(ns, peer.podSelector)}
        ips = self._peers[cache_key] = sorted(found, key=_ip_key)
        return ips


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) if x.isdigit() else 0 for x in ip.replace(":", ".").split("."))


def _port_matches(ports: list[NetworkPolicyPort] | None, dest_pods: Iterable[PodInfo]) -> list[str]:
    """iptables match fragments for a rule's ports ([""]: any port). Named ports resolve per
    destination pod; a name no destination pod has matches nothing."""
    if not ports:
        return [""]
    dests = list(dest_pods)
    out: list[str] = []
    for port in ports:
        proto = (port.protocol or "TCP").lower()
        if port.port is None:
            out.append(f"-p {proto}")
        elif isinstance(port.port, int):
            span = f"{port.port}:{port.endPort}" if port.endPort is not None and port.endPort != port.port else str(port.port)
            out.append(f"-p {proto} -m {proto} --dport {span}")
        else:
            for pod in dests:
                for name, p_proto, number in pod.ports:
                    if name == port.port and p_proto == proto.upper():
                        out.append(f"-d {pod.ip}/32 -p {proto} -m {proto} --dport {number}")
    return list(dict.fromkeys(out))


class _Renderer:
    def __init__(self, cfg: ProxyConfig, world: _World, rs: Ruleset) -> None:
        self.cfg = cfg
        self.world = world
        self.rs = rs

    def add(self, chain: str, rule: str | None = None) -> None:
        self.rs.add("filter", chain, rule)

    def policy_chain(self, np: NetworkPolicy, direction: str, targets: list[PodInfo]) -> str:
        """The chain marking packets one of `np`'s `direction` rules allows."""
        assert np.spec is not None
        ingress = direction == "Ingress"
        mark = INGRESS_MARK if ingress else EGRESS_MARK
        set_mark = f"-j MARK --set-xmark {mark}/{mark}"
        chain = self.cfg.hashed("NPP", f"{np.key}/{direction}")
        self.add(chain)
        rules = ([(r.ports, r.from_) for r in np.spec.ingress or []] if ingress
                 else [(r.ports, r.to) for r in np.spec.egress or []])
        for i, (ports, peers) in enumerate(rules):
            # Named ports: ingress resolves on the pods this policy protects, egress on any pod.
            dests = targets if ingress else self.world.pods
            matches = _port_matches(ports, dests)
            comment = f'-m comment --comment "{np.key} {direction.lower()} rule {i}"'
            if not peers:
                for m in matches:
                    self.add(chain, f"{comment} {m} {set_mark}".replace("  ", " "))
                continue
            peer_chain = self.cfg.hashed("NPR", f"{np.key}/{direction}/{i}")
            self.add(peer_chain)
            self._peers(peer_chain, np, direction, i, peers, set_mark)
            for m in matches:
                self.add(chain, f"{comment} {m} -j {peer_chain}".replace("  ", " "))
        return chain

    def _peers(self, chain: str, np: NetworkPolicy, direction: str, rule: int, peers: list[NetworkPolicyPeer],
               set_mark: str) -> None:
        flag = "-s" if direction == "Ingress" else "-d"
        seen: set[str] = set()
        for j, peer in enumerate(peers):
            if peer.ipBlock is not None:
                block = peer.ipBlock
                if not block.except_:
                    line = f"{flag} {block.cidr} {set_mark}"
                else:
                    sub = self.cfg.hashed("NPB", f"{np.key}/{direction}/{rule}/{j}")
                    self.add(sub)
                    for exc in block.except_:
                        self.add(sub, f"{flag} {exc} -j RETURN")
                    self.add(sub, set_mark)
                    line = f"{flag} {block.cidr} -j {sub}"
                if line not in seen:
                    seen.add(line)
                    self.add(chain, line)
                continue
            for ip in self.world.peer_ips(peer, np.namespace or "default"):
                line = f"{flag} {ip}/32 {set_mark}"
                if line not in seen:
                    seen.add(line)
                    self.add(chain, line)


def render_policies(policies: Iterable[NetworkPolicy], pods: Iterable[Pod], namespaces: Iterable[Namespace],
                    cfg: ProxyConfig) -> Ruleset:
    infos = sorted((i for i in (pod_info(p) for p in pods) if i is not None), key=lambda i: i.key)
    world = _World(pods=infos, ns_labels={ns.name: dict(ns.metadata.labels or {}) for ns in namespaces})
    rs = Ruleset()
    r = _Renderer(cfg, world, rs)
    top = cfg.chain("NPOL")
    r.add(top, "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN")
    is_local = {i.key for i in infos if cfg.node_name is None or i.node == cfg.node_name}
    ordered = sorted((np for np in policies if np.spec is not None), key=lambda np: np.key)
    # Which policies select each local pod, per direction (in policy order), and which local
    # pods each policy protects (its named ingress ports resolve on them).
    selecting: dict[tuple[str, str], list[NetworkPolicy]] = {}
    targets: dict[str, list[PodInfo]] = {}
    for np in ordered:
        assert np.spec is not None
        chosen = [p for p in world.selected(np.namespace or "default", np.spec.podSelector) if p.key in is_local]
        targets[np.key] = chosen
        for direction in np.policy_types():
            for p in chosen:
                selecting.setdefault((p.key, direction), []).append(np)
    done: dict[tuple[str, str], str] = {}
    ingress_lines: list[str] = []
    for pod in (i for i in infos if i.key in is_local):
        for direction in ("Egress", "Ingress"):
            chosen_by = selecting.get((pod.key, direction))
            if not chosen_by:
                continue
            ingress = direction == "Ingress"
            mark = INGRESS_MARK if ingress else EGRESS_MARK
            pod_chain = cfg.hashed("NPI" if ingress else "NPE", pod.key)
            r.add(pod_chain, f"-j MARK --set-xmark 0x0/{mark}")
            r.add(pod_chain, f"{'-s' if ingress else '-d'} {pod.ip}/32 -j RETURN")  # a pod never blocks itself
            for np in chosen_by:
                key = (np.key, direction)
                if key not in done:
                    done[key] = r.policy_chain(np, direction, targets[np.key])
                r.add(pod_chain, f"-j {done[key]}")
                r.add(pod_chain, f"-m mark --mark {mark}/{mark} -j RETURN")
            r.add(pod_chain, f'-m comment --comment "{pod.key} {direction.lower()} not allowed by any policy" {REJECT}')
            line = f'-m comment --comment "{pod.key} {direction.lower()}" {"-d" if ingress else "-s"} {pod.ip}/32 -j {pod_chain}'
            if ingress:
                ingress_lines.append(line)
            else:
                r.add(top, line)  # every egress check first: a packet between two local pods meets both
    for line in ingress_lines:
        r.add(top, line)
    return rs


__all__ = ["EGRESS_MARK", "INGRESS_MARK", "POLICY_FAMILY", "PodInfo", "is_policy_chain", "pod_info",
           "render_policies"]
