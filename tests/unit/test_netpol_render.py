"""proxy.netpol_render: the policy chains, checked by what they DO to packets (a small
evaluator of exactly the iptables matches the renderer writes) and by their text where the
text is the contract (chain names, hook targets, determinism)."""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from typing import Any

import pytest

from machinery.models import Namespace, NetworkPolicy, Pod
from proxy.netpol import interesting
from proxy.netpol_render import is_policy_chain, render_policies
from proxy.render import MAX_CHAIN_LEN, ProxyConfig, Ruleset, restore_text

CFG = ProxyConfig(prefix="KLT", node_name="n1")
TOP = "KLT-NPOL"


@dataclass
class Packet:
    src: str
    dst: str
    dport: int = 80
    proto: str = "tcp"
    state: str = "NEW"
    mark: int = 0


def _in(ip: str, cidr: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)


def _matches(words: list[str], pkt: Packet) -> bool:  # noqa: C901 - one flat list of match options
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-m":
            i += 2
            continue
        arg = words[i + 1] if i + 1 < len(words) else ""
        if w == "--comment":
            pass
        elif w == "--ctstate":
            if pkt.state not in arg.split(","):
                return False
        elif w == "-s":
            if not _in(pkt.src, arg):
                return False
        elif w == "-d":
            if not _in(pkt.dst, arg):
                return False
        elif w == "-p":
            if pkt.proto != arg:
                return False
        elif w == "--dport":
            lo, _, hi = arg.partition(":")
            if not int(lo) <= pkt.dport <= int(hi or lo):
                return False
        elif w == "--mark":
            value, mask = (int(x, 16) for x in arg.split("/"))
            if pkt.mark & mask != value:
                return False
        else:
            raise AssertionError(f"evaluator does not know {w!r} in {words}")
        i += 2
    return True


def run_chain(rs: Ruleset, chain: str, pkt: Packet, depth: int = 0) -> str | None:
    """The verdict of `chain` for `pkt`: "REJECT", or None when the chain returns/falls through."""
    assert depth < 10
    for line in rs.chains("filter")[chain]:
        words = shlex.split(line)[2:]
        j = words.index("-j")
        if not _matches(words[:j], pkt):
            continue
        target = words[j + 1]
        if target == "RETURN":
            return None
        if target in ("REJECT", "DROP"):
            return target
        if target == "MARK":
            value, mask = (int(x, 16) for x in words[j + 3].split("/"))
            pkt.mark = (pkt.mark & ~mask) | value
            continue
        verdict = run_chain(rs, target, pkt, depth + 1)
        if verdict is not None:
            return verdict
    return None


def allowed(rs: Ruleset, src: str, dst: str, dport: int = 80, proto: str = "tcp", state: str = "NEW") -> bool:
    return run_chain(rs, TOP, Packet(src, dst, dport, proto, state)) is None


def pod(name: str, ns: str, ip: str | None, labels: dict[str, str], node: str = "n1", **spec: Any) -> Pod:
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i", **spec.pop("container", {})}], **spec},
        "status": {"podIP": ip, "phase": "Running"} if ip else {"phase": "Pending"}})


def policy(name: str, ns: str, spec: dict[str, Any]) -> NetworkPolicy:
    return NetworkPolicy.from_dict({"metadata": {"name": name, "namespace": ns}, "spec": spec})


NAMESPACES = [Namespace.from_dict({"metadata": {"name": "app", "labels": {"team": "a"}}}),
              Namespace.from_dict({"metadata": {"name": "other"}})]
DB = pod("db", "app", "10.244.0.10", {"app": "db"},
         container={"ports": [{"name": "pg", "containerPort": 5432}, {"name": "dns", "containerPort": 53,
                                                                       "protocol": "UDP"}]})
CLIENT = pod("client", "app", "10.244.0.11", {"role": "client"})
STRANGER = pod("stranger", "app", "10.244.0.12", {"role": "stranger"})
REMOTE_CLIENT = pod("client", "other", "10.244.1.5", {"role": "client"}, node="n2")
PODS = [DB, CLIENT, STRANGER, REMOTE_CLIENT]
DENY_DB = policy("deny", "app", {"podSelector": {"matchLabels": {"app": "db"}}})


def render(*policies: NetworkPolicy, pods: list[Pod] | None = None) -> Ruleset:
    return render_policies(list(policies), PODS if pods is None else pods, NAMESPACES, CFG)


def test_no_policy_touches_no_pod() -> None:
    rs = render()
    assert rs.chains("filter") == {TOP: [f"-A {TOP} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]}
    assert rs.chains("nat") == {}
    assert allowed(rs, "10.244.0.11", "10.244.0.10")


def test_default_deny_ingress_blocks_new_connections_but_not_established_or_itself() -> None:
    rs = render(DENY_DB)
    assert not allowed(rs, "10.244.0.11", "10.244.0.10")
    assert not allowed(rs, "10.244.1.5", "10.244.0.10")
    assert allowed(rs, "10.244.0.11", "10.244.0.10", state="ESTABLISHED")
    assert allowed(rs, "10.244.0.10", "10.244.0.10")  # hairpin to its own Service
    assert allowed(rs, "10.244.0.10", "10.244.0.11")  # egress is not isolated
    assert allowed(rs, "10.244.0.11", "10.244.0.12")  # unselected pods are untouched
    for chain in rs.chains("filter"):
        assert is_policy_chain(chain, "KLT") and len(chain) <= MAX_CHAIN_LEN


def test_allow_by_pod_selector_and_namespace_selector() -> None:
    allow = policy("allow", "app", {"podSelector": {"matchLabels": {"app": "db"}},
                                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]})
    rs = render(DENY_DB, allow)
    assert allowed(rs, "10.244.0.11", "10.244.0.10")
    assert not allowed(rs, "10.244.0.12", "10.244.0.10")
    assert not allowed(rs, "10.244.1.5", "10.244.0.10")  # podSelector alone: the policy's namespace only
    any_ns = policy("any-ns", "app", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "client"}}}]}]})
    rs = render(any_ns)
    assert allowed(rs, "10.244.1.5", "10.244.0.10") and allowed(rs, "10.244.0.11", "10.244.0.10")
    assert not allowed(rs, "10.244.0.12", "10.244.0.10")
    by_name = policy("by-name", "app", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}]}]})
    rs = render(by_name)
    assert allowed(rs, "10.244.1.5", "10.244.0.10")
    assert not allowed(rs, "10.244.0.11", "10.244.0.10")
    assert allowed(rs, "10.244.1.5", "10.244.0.12")
    assert not allowed(rs, "10.244.0.10", "10.244.0.12")  # podSelector {} isolates every pod of app


def test_ip_block_with_except_and_ports_with_end_port() -> None:
    np = policy("cidr", "app", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{
        "from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]}}],
        "ports": [{"port": 8000, "endPort": 8010}, {"protocol": "UDP", "port": 53}]}]})
    rs = render(np)
    assert allowed(rs, "10.244.0.11", "10.244.0.10", dport=8005)
    assert allowed(rs, "10.244.0.11", "10.244.0.10", dport=53, proto="udp")
    assert not allowed(rs, "10.244.0.11", "10.244.0.10", dport=53)  # TCP 53 not listed
    assert not allowed(rs, "10.244.0.11", "10.244.0.10", dport=8011)
    assert not allowed(rs, "10.244.1.5", "10.244.0.10", dport=8005)  # in the except range


def test_named_ports_resolve_per_destination_pod() -> None:
    np = policy("named", "app", {"podSelector": {}, "ingress": [{"ports": [{"port": "pg"}]}]})
    rs = render(np)
    assert allowed(rs, "10.244.0.11", "10.244.0.10", dport=5432)
    assert not allowed(rs, "10.244.0.11", "10.244.0.10", dport=80)
    assert not allowed(rs, "10.244.0.10", "10.244.0.12", dport=5432)  # stranger has no port "pg"
    udp = policy("named-udp", "app", {"podSelector": {}, "ingress": [{"ports": [{"port": "dns", "protocol": "UDP"}]}]})
    rs = render(udp)
    assert allowed(rs, "10.244.0.11", "10.244.0.10", dport=53, proto="udp")
    assert not allowed(rs, "10.244.0.11", "10.244.0.10", dport=53, proto="tcp")


def test_egress_default_deny_and_dns_only_when_allowed() -> None:
    deny_out = policy("deny-out", "app", {"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"]})
    rs = render(deny_out)
    assert not allowed(rs, "10.244.0.11", "10.244.0.10")
    assert not allowed(rs, "10.244.0.11", "10.244.0.1", dport=53, proto="udp")  # the host-run DNS, DNATed
    assert allowed(rs, "10.244.0.12", "10.244.0.10")
    assert allowed(rs, "10.244.0.10", "10.244.0.11")  # ingress of the client is not isolated
    dns = policy("dns", "app", {"podSelector": {}, "policyTypes": ["Egress"],
                                "egress": [{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]})
    rs = render(deny_out, dns)
    assert allowed(rs, "10.244.0.11", "10.244.0.1", dport=53, proto="udp")
    assert not allowed(rs, "10.244.0.11", "10.244.0.10", dport=80)
    to_db = policy("to-db", "app", {"podSelector": {"matchLabels": {"role": "client"}}, "egress": [
        {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": "pg"}]}]})
    rs = render(deny_out, to_db)
    assert allowed(rs, "10.244.0.11", "10.244.0.10", dport=5432)
    assert not allowed(rs, "10.244.0.11", "10.244.0.12", dport=5432)


def test_both_directions_between_two_local_pods() -> None:
    out_deny = policy("out", "app", {"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
                                     "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]})
    in_allow = policy("in", "app", {"podSelector": {"matchLabels": {"app": "db"}},
                                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "stranger"}}}]}]})
    rs = render(out_deny, in_allow)
    assert not allowed(rs, "10.244.0.11", "10.244.0.10")  # egress allows, ingress does not
    assert allowed(rs, "10.244.0.12", "10.244.0.10")


def test_only_this_nodes_pods_are_isolated_and_unaddressed_pods_ignored() -> None:
    deny_all = policy("deny-all", "other", {"podSelector": {}})
    rs = render(deny_all)
    assert allowed(rs, "10.244.0.11", "10.244.1.5")  # the remote pod's node enforces its ingress
    pending = pod("pending", "app", None, {"app": "db"})
    host = pod("host", "app", "192.168.1.2", {"app": "db"}, hostNetwork=True)
    rs = render(DENY_DB, pods=[pending, host, CLIENT])
    assert rs.chains("filter") == {TOP: [f"-A {TOP} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]}


def test_rendering_is_deterministic_and_diffs_are_minimal() -> None:
    allow = policy("allow", "app", {"podSelector": {"matchLabels": {"app": "db"}},
                                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]})
    a = render(DENY_DB, allow)
    b = render_policies([allow, DENY_DB], list(reversed(PODS)), list(reversed(NAMESPACES)), CFG)
    assert a.tables == b.tables
    assert restore_text(b, a) is None
    newcomer = pod("client2", "app", "10.244.0.13", {"role": "client"}, node="n2")
    c = render(DENY_DB, allow, pods=[*PODS, newcomer])
    text = restore_text(c, a)
    assert text is not None
    assert text.count(":KLT-") == 1 and "-s 10.244.0.13/32" in text  # only the peer chain changed


@pytest.mark.parametrize(("old_labels", "new_labels", "want"), [({"a": "1"}, {"a": "1"}, False),
                                                                ({"a": "1"}, {"a": "2"}, True)])
def test_only_relevant_pod_updates_request_a_sync(old_labels: dict[str, str], new_labels: dict[str, str],
                                                   want: bool) -> None:
    old = pod("p", "app", "10.244.0.20", old_labels)
    new = pod("p", "app", "10.244.0.20", new_labels)
    assert new.status is not None
    new.status.conditions = None
    new.metadata.resourceVersion = "99"
    assert interesting(old, new) is want
