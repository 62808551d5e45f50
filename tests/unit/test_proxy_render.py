"""proxy.render: golden iptables-restore text for small cases, and the partial-sync diff."""

from __future__ import annotations

from typing import Any

import pytest

from machinery.endpointslices import slices_from_endpoints
from machinery.models import Endpoints, EndpointSlice, Service
from proxy.render import MAX_CHAIN_LEN, MAX_PREFIX_LEN, ProxyConfig, probability, render, restore_text

CFG = ProxyConfig(prefix="KLT", cluster_cidr="10.244.0.0/16")


def svc(name: str, **spec: Any) -> Service:
    return Service.from_dict({"metadata": {"name": name, "namespace": "ns1"}, "spec": spec})


def eps(name: str, ips: list[str], *, port: int = 8080, port_name: str | None = "http", proto: str = "TCP",
        not_ready: list[str] | None = None) -> EndpointSlice:
    """The Service's EndpointSlice, as the mirroring of this Endpoints object gives it."""
    p: dict[str, Any] = {"port": port, "protocol": proto}
    if port_name:
        p["name"] = port_name
    subset: dict[str, Any] = {"addresses": [{"ip": ip} for ip in ips], "ports": [p]}
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    [es] = slices_from_endpoints(Endpoints.from_dict({"metadata": {"name": name, "namespace": "ns1"},
                                                      "subsets": [subset]}))
    return es


WEB = svc("web", type="ClusterIP", clusterIP="10.96.0.20", selector={"app": "web"},
          ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}])
EMPTY = svc("empty", type="NodePort", clusterIP="10.96.0.21", ports=[{"port": 53, "protocol": "UDP", "nodePort": 30053}])
HEADLESS = svc("headless", clusterIP="None", ports=[{"port": 80}])
EXTNAME = svc("ext", type="ExternalName", externalName="example.invalid")
WEB_EPS = eps("web", ["10.244.0.10", "10.244.0.9", "10.244.0.5"], not_ready=["10.244.0.66"])

GOLDEN_BASIC = """\
*filter
:KLT-SERVICES - [0:0]
:KLT-EXTERNAL-SERVICES - [0:0]
-A KLT-SERVICES -m comment --comment "ns1/empty has no endpoints" -m udp -p udp -d 10.96.0.21/32 --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A KLT-EXTERNAL-SERVICES -m comment --comment "ns1/empty has no endpoints" -m addrtype --dst-type LOCAL -m udp -p udp --dport 30053 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:KLT-SERVICES - [0:0]
:KLT-NODEPORTS - [0:0]
:KLT-POSTROUTING - [0:0]
:KLT-MARK-MASQ - [0:0]
:KLT-SVC-4LVCYZMTA5CQO6SX6IDZ - [0:0]
:KLT-SEP-KUQYPTOKTZAERVSKJ6IS - [0:0]
:KLT-SEP-5ANIWS6AG6DKGV76PNQ5 - [0:0]
:KLT-SEP-NW2HIM35W6G7RRDXG4EE - [0:0]
-A KLT-SERVICES -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20/32 --dport 80 -j KLT-SVC-4LVCYZMTA5CQO6SX6IDZ
-A KLT-SERVICES -m comment --comment "kubelite service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KLT-NODEPORTS
-A KLT-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KLT-POSTROUTING -j MARK --xor-mark 0x4000
-A KLT-POSTROUTING -m comment --comment "kubelite service traffic requiring SNAT" -j MASQUERADE
-A KLT-MARK-MASQ -j MARK --or-mark 0x4000
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20/32 --dport 80 ! -s 10.244.0.0/16 -j KLT-MARK-MASQ
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http -> 10.244.0.5:8080" -m statistic --mode random --probability 0.3333333333 -j KLT-SEP-KUQYPTOKTZAERVSKJ6IS
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http -> 10.244.0.9:8080" -m statistic --mode random --probability 0.5000000000 -j KLT-SEP-5ANIWS6AG6DKGV76PNQ5
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http -> 10.244.0.10:8080" -j KLT-SEP-NW2HIM35W6G7RRDXG4EE
-A KLT-SEP-KUQYPTOKTZAERVSKJ6IS -m comment --comment "ns1/web:http" -s 10.244.0.5/32 -j KLT-MARK-MASQ
-A KLT-SEP-KUQYPTOKTZAERVSKJ6IS -m comment --comment "ns1/web:http" -m tcp -p tcp -j DNAT --to-destination 10.244.0.5:8080
-A KLT-SEP-5ANIWS6AG6DKGV76PNQ5 -m comment --comment "ns1/web:http" -s 10.244.0.9/32 -j KLT-MARK-MASQ
-A KLT-SEP-5ANIWS6AG6DKGV76PNQ5 -m comment --comment "ns1/web:http" -m tcp -p tcp -j DNAT --to-destination 10.244.0.9:8080
-A KLT-SEP-NW2HIM35W6G7RRDXG4EE -m comment --comment "ns1/web:http" -s 10.244.0.10/32 -j KLT-MARK-MASQ
-A KLT-SEP-NW2HIM35W6G7RRDXG4EE -m comment --comment "ns1/web:http" -m tcp -p tcp -j DNAT --to-destination 10.244.0.10:8080
COMMIT
"""


def test_golden_cluster_ip_three_endpoints_reject_headless_and_external_name() -> None:
    headless_eps = eps("headless", ["10.244.0.10"], port=80, port_name=None)
    rules = render([WEB, EMPTY, HEADLESS, EXTNAME], [WEB_EPS, headless_eps], CFG)
    assert restore_text(rules, None) == GOLDEN_BASIC


def test_rendering_is_order_independent() -> None:
    a = render([WEB, EMPTY], [WEB_EPS], CFG)
    b = render([EMPTY, WEB], [eps("web", ["10.244.0.5", "10.244.0.10", "10.244.0.9"])], CFG)
    assert a == b


GOLDEN_NODEPORT_AFFINITY = """\
*filter
:KLT-SERVICES - [0:0]
:KLT-EXTERNAL-SERVICES - [0:0]
COMMIT
*nat
:KLT-SERVICES - [0:0]
:KLT-NODEPORTS - [0:0]
:KLT-POSTROUTING - [0:0]
:KLT-MARK-MASQ - [0:0]
:KLT-SVC-4LVCYZMTA5CQO6SX6IDZ - [0:0]
:KLT-EXT-4LVCYZMTA5CQO6SX6IDZ - [0:0]
:KLT-SEP-KUQYPTOKTZAERVSKJ6IS - [0:0]
:KLT-SEP-5ANIWS6AG6DKGV76PNQ5 - [0:0]
-A KLT-SERVICES -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20/32 --dport 80 -j KLT-SVC-4LVCYZMTA5CQO6SX6IDZ
-A KLT-SERVICES -m comment --comment "kubelite service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KLT-NODEPORTS
-A KLT-NODEPORTS -m comment --comment "ns1/web:http" -m tcp -p tcp --dport 30080 -j KLT-EXT-4LVCYZMTA5CQO6SX6IDZ
-A KLT-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KLT-POSTROUTING -j MARK --xor-mark 0x4000
-A KLT-POSTROUTING -m comment --comment "kubelite service traffic requiring SNAT" -j MASQUERADE
-A KLT-MARK-MASQ -j MARK --or-mark 0x4000
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20/32 --dport 80 ! -s 10.244.0.0/16 -j KLT-MARK-MASQ
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http -> 10.244.0.5:8080" -m recent --name KLT-SEP-KUQYPTOKTZAERVSKJ6IS --rcheck --seconds 600 --reap -j KLT-SEP-KUQYPTOKTZAERVSKJ6IS
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http -> 10.244.0.9:8080" -m recent --name KLT-SEP-5ANIWS6AG6DKGV76PNQ5 --rcheck --seconds 600 --reap -j KLT-SEP-5ANIWS6AG6DKGV76PNQ5
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http -> 10.244.0.5:8080" -m statistic --mode random --probability 0.5000000000 -j KLT-SEP-KUQYPTOKTZAERVSKJ6IS
-A KLT-SVC-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "ns1/web:http -> 10.244.0.9:8080" -j KLT-SEP-5ANIWS6AG6DKGV76PNQ5
-A KLT-EXT-4LVCYZMTA5CQO6SX6IDZ -m comment --comment "masquerade traffic for ns1/web:http external destinations" -j KLT-MARK-MASQ
-A KLT-EXT-4LVCYZMTA5CQO6SX6IDZ -j KLT-SVC-4LVCYZMTA5CQO6SX6IDZ
-A KLT-SEP-KUQYPTOKTZAERVSKJ6IS -m comment --comment "ns1/web:http" -s 10.244.0.5/32 -j KLT-MARK-MASQ
-A KLT-SEP-KUQYPTOKTZAERVSKJ6IS -m comment --comment "ns1/web:http" -m tcp -p tcp -m recent --name KLT-SEP-KUQYPTOKTZAERVSKJ6IS --set -j DNAT --to-destination 10.244.0.5:8080
-A KLT-SEP-5ANIWS6AG6DKGV76PNQ5 -m comment --comment "ns1/web:http" -s 10.244.0.9/32 -j KLT-MARK-MASQ
-A KLT-SEP-5ANIWS6AG6DKGV76PNQ5 -m comment --comment "ns1/web:http" -m tcp -p tcp -m recent --name KLT-SEP-5ANIWS6AG6DKGV76PNQ5 --set -j DNAT --to-destination 10.244.0.9:8080
COMMIT
"""


def test_golden_nodeport_with_client_ip_affinity() -> None:
    web = svc("web", type="NodePort", clusterIP="10.96.0.20", sessionAffinity="ClientIP",
              sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}},
              ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
    rules = render([web], [eps("web", ["10.244.0.9", "10.244.0.5"])], CFG)
    assert restore_text(rules, None) == GOLDEN_NODEPORT_AFFINITY


def test_endpoints_match_service_port_by_name_and_protocol() -> None:
    dns = svc("dns", clusterIP="10.96.0.10", ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                                                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"}])
    ep = Endpoints.from_dict({"metadata": {"name": "dns", "namespace": "ns1"}, "subsets": [{
        "addresses": [{"ip": "10.244.0.2"}],
        "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "dns-tcp", "port": 5354, "protocol": "TCP"},
                  {"name": "dns", "port": 9999, "protocol": "TCP"}]}]})
    nat = render([dns], slices_from_endpoints(ep), CFG).chains("nat")
    dnat = sorted(r.split("--to-destination ")[1] for rules in nat.values() for r in rules if "DNAT" in r)
    assert dnat == ["10.244.0.2:5353", "10.244.0.2:5354"]
    assert any("-m udp -p udp -j DNAT --to-destination 10.244.0.2:5353" in r for rs in nat.values() for r in rs)


def test_external_ips_jump_through_ext_chain() -> None:
    web = svc("web", clusterIP="10.96.0.20", externalIPs=["192.0.2.50"], ports=[{"name": "http", "port": 80}])
    services = render([web], [eps("web", ["10.244.0.5"])], CFG).chains("nat")["KLT-SERVICES"]
    assert any("-d 192.0.2.50/32 --dport 80 -j KLT-EXT-" in r for r in services)
    rejects = render([web], [], CFG).chains("filter")["KLT-EXTERNAL-SERVICES"]
    assert rejects and "-d 192.0.2.50/32 --dport 80 -j REJECT" in rejects[0]


def test_no_cluster_cidr_means_no_off_cluster_masquerade() -> None:
    rules = render([WEB], [WEB_EPS], ProxyConfig(prefix="KLT", cluster_cidr=None))
    assert not any("! -s" in r for rs in rules.chains("nat").values() for r in rs)


def test_partial_restore_rewrites_only_changed_chains_and_deletes_stale() -> None:
    old = render([WEB, EMPTY], [WEB_EPS], CFG)
    assert restore_text(old, old) is None  # identical: nothing to do at all
    new = render([WEB, EMPTY], [eps("web", ["10.244.0.5", "10.244.0.9"])], CFG)
    text = restore_text(new, old)
    assert text is not None
    declared = [line[1:].split()[0] for line in text.splitlines() if line.startswith(":")]
    gone = "KLT-SEP-NW2HIM35W6G7RRDXG4EE"
    assert declared == ["KLT-SVC-4LVCYZMTA5CQO6SX6IDZ", gone]  # SEPs of kept endpoints untouched
    assert text.splitlines()[-2:] == [f"-X {gone}", "COMMIT"]
    assert "*filter" not in text


def test_full_restore_deletes_chains_found_in_the_kernel() -> None:
    rules = render([], [], CFG)
    text = restore_text(rules, None, {"nat": {"KLT-SVC-OLD", "KLT-SERVICES"}, "filter": set()})
    assert text is not None
    assert ":KLT-SVC-OLD - [0:0]" in text and "-X KLT-SVC-OLD" in text
    assert "-X KLT-SERVICES" not in text


def test_chain_names_fit_iptables_limit_and_match_kube_proxy_hash() -> None:
    # kube-proxy's own test vectors (pkg/proxy/iptables/proxier_test.go), 16 hash characters.
    kube = ProxyConfig(prefix="KUBE")
    assert kube.hashed("SVC", "ns1/svc1:p80tcp").startswith("KUBE-SVC-XPGD46QRK7WJZT7O")
    assert kube.hashed("SEP", "ns1/svc1:p80tcp10.180.0.1:80").startswith("KUBE-SEP-SXIVWICOYRO3J4NJ")
    longest = ProxyConfig(prefix="K" * MAX_PREFIX_LEN)
    assert len(longest.hashed("SVC", "x")) == MAX_CHAIN_LEN
    assert len(longest.chain("EXTERNAL-SERVICES")) <= MAX_CHAIN_LEN
    assert len(ProxyConfig().hashed("SEP", "x")) == MAX_CHAIN_LEN


@pytest.mark.parametrize("prefix", ["", "K" * (MAX_PREFIX_LEN + 1), "BAD PREFIX", "A-B"])
def test_bad_prefix_rejected(prefix: str) -> None:
    with pytest.raises(ValueError, match="chain prefix"):
        ProxyConfig(prefix=prefix)


def test_probability_as_kube_proxy() -> None:
    assert [probability(n) for n in (4, 3, 2)] == ["0.2500000000", "0.3333333333", "0.5000000000"]


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("*"):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return blocks


def test_large_syncs_are_batched_per_service_with_top_chains_last_and_deletes_after() -> None:
    services = [svc(f"s{i}", clusterIP=f"10.96.1.{i + 1}", ports=[{"name": "http", "port": 80}]) for i in range(6)]
    endpoints = [eps(f"s{i}", [f"10.244.1.{i + 1}", f"10.244.2.{i + 1}"]) for i in range(6)]
    old = render(services, endpoints, CFG)
    text = restore_text(old, None, {"nat": {"KLT-SVC-STALE", "KLT-SEP-STALE"}}, max_chains=6)
    assert text is not None
    nat_blocks = [b for b in _blocks(text) if b[0] == "*nat"]
    declared = [[line[1:].split()[0] for line in b if line.startswith(":")] for b in nat_blocks]
    # The chains the groups jump to, then per-service groups (2 SEP + 1 SVC = 3 chains) two at a
    # time, then the chains jumping into groups, then the stale chains flushed, then deleted.
    assert declared[0] == ["KLT-NODEPORTS", "KLT-POSTROUTING", "KLT-MARK-MASQ"]  # no NodePorts here
    for group_block in declared[1:4]:
        assert len(group_block) == 6 and [c.split("-")[1] for c in group_block] == ["SEP", "SEP", "SVC"] * 2
    assert declared[4] == ["KLT-SERVICES"]
    assert declared[5] == ["KLT-SEP-STALE", "KLT-SVC-STALE"]
    assert nat_blocks[6] == ["*nat", "-X KLT-SEP-STALE", "-X KLT-SVC-STALE", "COMMIT"]
    # Every chain is declared before (or in the same commit as) the first rule jumping to it.
    seen: set[str] = set()
    for block in nat_blocks:
        seen |= {line[1:].split()[0] for line in block if line.startswith(":")}
        for line in block:
            if line.startswith("-A ") and "-j KLT-" in line:
                assert line.split("-j ")[-1].split()[0] in seen
    # A small change after that is one commit again.
    endpoints[3] = eps("s3", ["10.244.1.4"])
    small = restore_text(render(services, endpoints, CFG), old, max_chains=6)
    assert small is not None and len(_blocks(small)) == 1


def test_delete_text_flushes_all_before_deleting_any() -> None:
    from proxy.render import delete_text

    text = delete_text({"nat": {"A-1", "A-2", "A-3"}}, max_chains=2)
    assert _blocks(text) == [["*nat", ":A-1 - [0:0]", ":A-2 - [0:0]", "COMMIT"], ["*nat", ":A-3 - [0:0]", "COMMIT"],
                             ["*nat", "-X A-1", "-X A-2", "COMMIT"], ["*nat", "-X A-3", "COMMIT"]]
    assert delete_text({}) == ""


# -- the sync loop and the Proxier, with a recording fake iptables ---------------------------------

class FakeIptables:
    def __init__(self) -> None:
        self.restored: list[str] = []
        self.hook_checks = 0
        self.chains: dict[str, set[str]] = {"nat": set(), "filter": set()}
        self.fail_next = False

    def restore(self, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("iptables-restore: line 3 failed")
        self.restored.append(text)

    def our_chains(self) -> dict[str, set[str]]:
        return self.chains

    def ensure_hooks(self) -> int:
        self.hook_checks += 1
        return 0


class ListSource:
    def __init__(self, *objs: Any) -> None:
        self.objs = list(objs)

    def list(self) -> list[Any]:
        return list(self.objs)


async def test_proxier_applies_diffs_skips_identical_and_recovers_after_failure() -> None:
    from proxy.main import Proxier

    ipt = FakeIptables()
    ipt.chains["nat"] = {"KLT-SVC-LEFTOVER"}
    services, endpoints = ListSource(WEB), ListSource(WEB_EPS)
    p = Proxier(CFG, ipt, services, endpoints)  # type: ignore[arg-type]
    await p.sync(True)  # first: forced full, deletes what a killed proxy left
    assert len(ipt.restored) == 1 and "-X KLT-SVC-LEFTOVER" in ipt.restored[0] and ipt.hook_checks == 1
    await p.sync(False)
    await p.sync(True)
    assert len(ipt.restored) == 1 and ipt.hook_checks == 2  # unchanged: no restore; periodic: hooks
    endpoints.objs = [eps("web", ["10.244.0.5"])]
    await p.sync(False)
    assert len(ipt.restored) == 2 and ":KLT-SERVICES" not in ipt.restored[1]  # partial: SVC + gone SEPs
    ipt.fail_next = True
    endpoints.objs = []
    with pytest.raises(RuntimeError):
        await p.sync(False)
    await p.sync(False)  # state unknown after a failure: everything is written again
    assert ":KLT-SERVICES - [0:0]" in ipt.restored[-1] and ":KLT-POSTROUTING - [0:0]" in ipt.restored[-1]


async def test_sync_loop_coalesces_rate_limits_and_retries() -> None:
    import asyncio

    from machinery.clock import FakeClock
    from proxy.sync import SyncLoop

    clock = FakeClock(start_s=0.0)
    calls: list[tuple[float, bool]] = []
    fail = {"n": 1}

    async def fn(periodic: bool) -> None:
        calls.append((clock.monotonic(), periodic))
        if not periodic and fail["n"]:
            fail["n"] -= 1
            raise RuntimeError("boom")

    async def step(delta_s: float) -> None:
        await clock.sleepers(1)
        clock.advance(delta_s)
        for _ in range(20):
            await asyncio.sleep(0)

    loop = SyncLoop(fn, min_period_s=2.0, period_s=9.0, clock=clock)
    task = asyncio.create_task(loop.run())
    try:
        await clock.sleepers(1)
        assert calls == [(0.0, True)]
        await step(0.5)
        for _ in range(5):
            loop.request()  # five requests in a burst: one run, held back to min_period_s
        for _ in range(20):
            await asyncio.sleep(0)
        assert calls == [(0.0, True)]
        await step(1.5)
        assert calls == [(0.0, True), (2.0, False)] and loop.failures == 1
        await step(2.0)  # the failed run is retried min_period_s later
        assert calls[-1] == (4.0, False) and loop.syncs == 2
        await step(4.9)
        assert len(calls) == 3  # no request, period not elapsed
        await step(0.1)
        assert calls[-1] == (9.0, True)  # the period elapsed: a periodic sync without any request
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_our_chains_never_include_the_kubelets_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: the proxy took KUBELITE-GUARD for a stale chain of its own and tried to delete it.
    from proxy.iptables import Iptables

    saved = {
        "nat": "*nat\n:KUBELITE-SERVICES - [0:0]\n:KUBELITE-SVC-ABC - [0:0]\nCOMMIT\n",
        "filter": "*filter\n:KUBELITE-GUARD - [0:0]\n:KUBELITE-SERVICES - [0:0]\n:OTHER - [0:0]\nCOMMIT\n",
    }
    ipt = Iptables("KUBELITE")
    monkeypatch.setattr(ipt, "save", lambda table: saved[table])
    assert ipt.our_chains() == {"nat": {"KUBELITE-SERVICES", "KUBELITE-SVC-ABC"}, "filter": {"KUBELITE-SERVICES"}}


def test_localhost_nodeports_flag() -> None:
    off = render([EMPTY], [], CFG)
    [jump] = [r for r in off.chains("nat")["KLT-SERVICES"] if "KLT-NODEPORTS" in r]
    assert "--dst-type LOCAL ! -d 127.0.0.0/8 -j KLT-NODEPORTS" in jump
    assert not any("localnet" in r for r in off.chains("filter")["KLT-EXTERNAL-SERVICES"])
    on = render([EMPTY], [], ProxyConfig(prefix="KLT", cluster_cidr="10.244.0.0/16", localhost_nodeports=True))
    [jump] = [r for r in on.chains("nat")["KLT-SERVICES"] if "KLT-NODEPORTS" in r]
    assert "--dst-type LOCAL -j KLT-NODEPORTS" in jump
    assert on.chains("filter")["KLT-EXTERNAL-SERVICES"][-1].endswith(
        "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
