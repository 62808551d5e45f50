"""The traffic guard on the real host: routes + REJECT rules exist before anything is sent,
and connections into the cluster/service CIDRs fail locally.

Every check of the rules happens BEFORE a packet is sent; the only packets sent go to
unused addresses inside 10.96.0.0/16, which the guard keeps on this machine.
"""

from __future__ import annotations

import errno
import json
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import docker
import pytest

from kubelet import network

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("iptables") is None, reason="needs iptables")]


def _sh(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True, timeout=30).stdout


def _rule_packets(cidr: str, dev: str) -> int:
    for line in _sh("iptables", "-w", "5", "-L", network.GUARD_CHAIN, "-v", "-x", "-n").splitlines():
        f = line.split()
        if len(f) >= 9 and f[2] == "REJECT" and f[6] == dev and f[8] == cidr:
            return int(f[0])
    raise AssertionError(f"no REJECT rule for {cidr} via {dev}")


@pytest.fixture
def guarded_bridge() -> Iterator[str]:
    client = docker.from_env()
    tag = f"guard{random.randrange(10**6):06d}"
    used = {c.get("Subnet") for n in client.networks.list() for c in ((n.attrs.get("IPAM") or {}).get("Config") or [])}
    subnet = next(s for s in (f"10.244.{random.randrange(200, 250)}.0/24" for _ in range(50)) if s not in used)
    bridge = network.bridge_name_for(tag)
    name = network.network_name_for(tag)
    network.ensure_pod_network(client, name=name, subnet=subnet, bridge=bridge, cluster=tag)
    try:
        network.ensure_guard()
        yield bridge
    finally:
        for net in client.networks.list(names=[name]):
            net.remove()
        client.close()


def test_guard_rules_and_routes_exist_and_are_idempotent(guarded_bridge: str) -> None:
    st = network.guard_status()
    assert st.complete, st
    assert set(st.routes.values()) == {network.GUARD_BRIDGE}
    assert st.jumps == {"OUTPUT": True, "FORWARD": True}
    for dev in st.egress:
        for cidr in (network.CLUSTER_CIDR, network.SERVICE_CIDR):
            assert any(f"-d {cidr} -o {dev} -j REJECT" in r for r in st.chain_rules)
    # Only the guard's own rules are compared: other processes (a proxy, a benchmark) may be
    # rewriting their chains of the same table at the same moment.
    def ours() -> list[str]:
        table = _sh("iptables-save", "-t", "filter").splitlines()
        return [ln for ln in table if ln.startswith("-A") and network.GUARD_CHAIN in ln]

    before = ours()
    network.ensure_guard()
    after = ours()
    assert before == after and len(after) > len(st.egress)
    assert after.count(f"-A OUTPUT -j {network.GUARD_CHAIN}") == 1
    assert after.count(f"-A FORWARD -j {network.GUARD_CHAIN}") == 1


def test_unused_service_ip_fails_locally(guarded_bridge: str) -> None:
    st = network.guard_status()
    assert st.complete, "guard must be in place before anything is sent"
    target = "10.96.255.254"
    route = json.loads(_sh("ip", "-j", "route", "get", target))[0]
    assert route["dev"] == network.GUARD_BRIDGE, f"{target} would leave via {route['dev']}"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(8)
    t0 = time.monotonic()
    with pytest.raises(OSError):
        s.connect((target, 80))
    s.close()
    assert time.monotonic() - t0 < 8


def test_reject_layer_catches_a_leak_through_the_default_route(guarded_bridge: str) -> None:
    """Simulate a missing guard route with a /32 via the default gateway: the REJECT rule
    must stop the packet in OUTPUT (counter goes up, connect fails at once)."""
    st = network.guard_status()
    assert st.complete, "guard must be in place before anything is sent"
    default = json.loads(_sh("ip", "-j", "-4", "route", "show", "default"))
    if not default or not default[0].get("gateway"):
        pytest.skip("no default gateway on this host")
    dev, gw = default[0]["dev"], default[0]["gateway"]
    assert _rule_packets(network.SERVICE_CIDR, dev) >= 0  # the rule is there (raises otherwise)
    target = "10.96.255.253"
    _sh("ip", "route", "add", f"{target}/32", "via", gw, "dev", dev)
    try:
        before = _rule_packets(network.SERVICE_CIDR, dev)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        t0 = time.monotonic()
        with pytest.raises(OSError) as info:
            s.connect((target, 80))
        s.close()
        assert time.monotonic() - t0 < 2, "REJECT answers at once; a timeout means the packet left"
        assert info.value.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EPERM)
        assert _rule_packets(network.SERVICE_CIDR, dev) > before
    finally:
        subprocess.run(["ip", "route", "del", f"{target}/32"], check=False, timeout=30)
