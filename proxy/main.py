"""`python -m proxy`: the iptables service proxy of one node.

Contract:
- Watches Services and EndpointSlices (discovery.k8s.io/v1, as kube-proxy; machinery informers); every change requests a sync; the
  `SyncLoop` runs at most once per `--min-sync-period-s` and at least every `--sync-period-s`.
- Every sync renders the whole ruleset from the caches (`render.render`) and applies only the
  difference to what it applied last (`render.restore_text`); an identical ruleset costs no
  iptables call at all. The periodic sync also re-checks the hooks (cheap `-C` calls), so a
  deleted jump is back within `--sync-period-s`.
- A forced full sync (at start, after any failed restore, and every
  `--full-resync-period-s`, default 1 h as kube-proxy) re-reads which of our chains exist in
  the kernel, deletes the stale ones (left by a killed proxy) and rewrites every chain, so
  hand-edited rules are repaired.
- No sync happens before both informers have synced (an empty cache would REJECT-or-delete
  every service for a moment).
- `--namespace NS` limits it to one namespace's Services: tests use it (with a random
  `--chain-prefix`) so a test proxy never renders, say, a REJECT for 10.96.0.1 that would
  shadow a running cluster's `kubernetes` Service.
- `--skip-hooks` writes the chains without the jumps into them (the benchmark uses it: its
  thousands of made-up Services then cannot affect any traffic on the machine).
- After each sync, stale UDP conntrack entries are deleted (proxy/conntrack.py: flows to
  removed endpoints, and to Services that just got their first endpoints).
- NetworkPolicy enforcement (proxy/netpol.py) runs in the same process with its own informers
  (NetworkPolicies, Pods, Namespaces), SyncLoop and `<P>-NP...` chains; `--no-network-policy`
  turns it off.
- LoadBalancer Services with externalTrafficPolicy Local get their healthCheckNodePort served
  after each sync (proxy/healthcheck.py) on `--health-check-bind-address` (empty: off).
- `--iptables-localhost-nodeports` (off by default, as current Kubernetes): NodePorts answer on
  127.0.0.1 too; the proxy then sets the `net.ipv4.conf.all.route_localnet` sysctl (as
  kube-proxy does: a DNATed packet from 127.0.0.1 is otherwise a martian) and drops packets to
  127.0.0.0/8 from other sources. Off: 127.0.0.0/8 never reaches a NodePort rule.
- SIGTERM/SIGINT: stop watching, remove the hooks and every chain with our prefix, exit 0.
  SIGKILL leaves the rules in place; a restarted proxy adopts and rewrites them, and
  established connections keep flowing (conntrack) meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from machinery import prom
from machinery.client import ApiClient
from machinery.informer import InformerFactory
from machinery.logsetup import setup_logging
from machinery.models import EndpointSlice, Namespace, NetworkPolicy, Pod, Service
from proxy.conntrack import Conntrack, ConntrackError, UdpTarget, stale_filters, udp_targets
from proxy.healthcheck import HealthServers, health_targets
from proxy.iptables import Iptables, PolicyIptables
from proxy.netpol import PolicyAgent, wire
from proxy.render import ProxyConfig, Ruleset, render, restore_text
from proxy.sync import SyncLoop

log = logging.getLogger("proxy")


class Proxier:
    """Renders and applies; knows nothing about informers beyond `list()`."""

    def __init__(self, cfg: ProxyConfig, ipt: Iptables, services: Any, endpoints: Any, *,
                 hooks: bool = True, full_resync_s: float = 3600.0, conntrack: Any = None,
                 health: HealthServers | None = None) -> None:
        self.cfg = cfg
        self.hooks = hooks
        self.ipt = ipt
        self.services = services
        self.endpoints = endpoints
        self.full_resync_s = full_resync_s
        self.applied: Ruleset | None = None
        self.last_forced = -float("inf")
        self.restores = 0
        self.conntrack = conntrack if conntrack is not None else Conntrack()
        self.udp: dict[str, UdpTarget] | None = None  # what the last applied sync balanced UDP over
        self.health = health

    async def sync(self, periodic: bool) -> None:
        started = time.monotonic()
        # Snapshot on the loop (the informers mutate their caches there); render in a thread so
        # thousands of Services do not stall the watches. The models are replaced, never mutated.
        services, endpoints = self.services.list(), self.endpoints.list()
        rules = await asyncio.to_thread(render, services, endpoints, self.cfg)
        udp = await asyncio.to_thread(udp_targets, services, endpoints)
        force = self.applied is None or started - self.last_forced >= self.full_resync_s
        existing = await asyncio.to_thread(self.ipt.our_chains) if force else None
        text = restore_text(rules, None if force else self.applied, existing)
        if text is not None:
            try:
                await asyncio.to_thread(self.ipt.restore, text)
            except Exception:
                self.applied = None  # kernel state unknown: the retry rewrites everything
                raise
            self.restores += 1
        self.applied = rules
        if force:
            self.last_forced = started
        if (periodic or force) and self.hooks:
            inserted = await asyncio.to_thread(self.ipt.ensure_hooks)
            if inserted:
                log.info("inserted %d hook rules", inserted)
        await self._clear_stale_udp(udp)  # last: once the rules AND the hooks into them are in place
        if self.health is not None:
            await self.health.update(health_targets(services, endpoints, self.cfg.node_name))
        log.log(logging.INFO if text is not None else logging.DEBUG,
                "%s sync: %d rules, %s in %.3fs", "full" if force else "periodic" if periodic else "partial",
                rules.rule_count(), "applied" if text is not None else "unchanged", time.monotonic() - started)


    async def _clear_stale_udp(self, udp: dict[str, UdpTarget]) -> None:
        """After the rules changed: UDP flows to removed endpoints (or from before a Service had
        any) would otherwise keep their old NAT (proxy/conntrack.py). A failure is logged, not
        retried: the rules are right, only those flows stay stale until their entries expire."""
        filters = stale_filters(self.udp, udp)
        self.udp = udp
        try:
            await asyncio.to_thread(self.conntrack.delete, filters)
        except (ConntrackError, OSError, subprocess.SubprocessError) as exc:
            log.error("clearing stale UDP conntrack entries: %s", exc)


ROUTE_LOCALNET = Path("/proc/sys/net/ipv4/conf/all/route_localnet")


def ensure_route_localnet(path: Path = ROUTE_LOCALNET) -> bool:
    """Set the sysctl to 1 (kube-proxy's EnsureSysctl); True when it was changed."""
    if path.read_text().strip() == "1":
        return False
    path.write_text("1")
    log.info("set %s to 1 (localhost NodePorts)", path)
    return True


async def run(args: argparse.Namespace) -> None:
    cfg = ProxyConfig(prefix=args.chain_prefix, cluster_cidr=args.cluster_cidr or None, node_name=args.node_name,
                      localhost_nodeports=args.iptables_localhost_nodeports)
    if cfg.localhost_nodeports:
        ensure_route_localnet()
    ipt = Iptables(cfg.prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent=f"kubelite-proxy/{args.node_name}")
    factory = InformerFactory(client)
    svc_inf = factory.informer(Service, namespace=args.namespace)
    ep_inf = factory.informer(EndpointSlice, namespace=args.namespace)
    health = HealthServers(args.health_check_bind_address) if args.health_check_bind_address else None
    proxier = Proxier(cfg, ipt, svc_inf, ep_inf, hooks=not args.skip_hooks,
                      full_resync_s=args.full_resync_period_s, health=health)
    syncer = SyncLoop(proxier.sync, min_period_s=args.min_sync_period_s, period_s=args.sync_period_s)

    def changed(*_: Any) -> None:
        syncer.request()

    for inf in (svc_inf, ep_inf):
        inf.add_handlers(on_add=changed, on_update=changed, on_delete=changed)
    policy_ipt = PolicyIptables(cfg.prefix)
    policy_syncer: SyncLoop | None = None
    if args.network_policy:
        np_inf = factory.informer(NetworkPolicy, namespace=args.namespace)
        pod_inf = factory.informer(Pod, namespace=args.namespace)
        ns_inf = factory.informer(Namespace)
        agent = PolicyAgent(cfg, policy_ipt, np_inf, pod_inf, ns_inf, hooks=not args.skip_hooks,
                            full_resync_s=args.full_resync_period_s)
        policy_syncer = SyncLoop(agent.sync, min_period_s=args.min_sync_period_s, period_s=args.sync_period_s,
                                 record_metrics=False)
        wire(policy_syncer, np_inf, pod_inf, ns_inf)
    await factory.start()
    sync_task: asyncio.Task[None] | None = None
    policy_task: asyncio.Task[None] | None = None
    try:
        synced = asyncio.ensure_future(factory.wait_synced())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({synced, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            log.info("caches synced (%d services, %d endpoint slices); node %s, prefix %s",
                     len(svc_inf.list()), len(ep_inf.list()), args.node_name, cfg.prefix)
            sync_task = asyncio.create_task(syncer.run(), name="proxy-sync")
            if policy_syncer is not None:
                policy_task = asyncio.create_task(policy_syncer.run(), name="netpol-sync")
            await stop.wait()
        for fut in (synced, stopped):
            fut.cancel()
    finally:
        for task in (sync_task, policy_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if health is not None:
            await health.close()
        await factory.stop()
        await client.aclose()
        if stop.is_set():  # clean exit only; an exception leaves rules for the next run
            await asyncio.to_thread(policy_ipt.cleanup)
            await asyncio.to_thread(ipt.cleanup)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m proxy", description="kubelite iptables service proxy")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, $KUBELITE_HOME)")
    p.add_argument("--node-name", required=True)
    p.add_argument("--min-sync-period-s", type=float, default=1.0)
    p.add_argument("--sync-period-s", type=float, default=30.0)
    p.add_argument("--full-resync-period-s", type=float, default=3600.0,
                   help="rewrite every chain this often even without changes")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16", help="pod CIDR; other sources are masqueraded")
    p.add_argument("--chain-prefix", default="KUBELITE", help="prefix of every chain (tests use a random one)")
    p.add_argument("--namespace", default=None,
                   help="only this namespace's Services (tests; default: all namespaces)")
    p.add_argument("--skip-hooks", action="store_true",
                   help="write the chains but never jump to them (benchmarks: no traffic is affected)")
    p.add_argument("--network-policy", action=argparse.BooleanOptionalAction, default=True,
                   help="enforce NetworkPolicies on this node's pods (default: on)")
    p.add_argument("--health-check-bind-address", default="0.0.0.0",
                   help="address of the healthCheckNodePort listeners (empty: none)")
    p.add_argument("--iptables-localhost-nodeports", action=argparse.BooleanOptionalAction, default=False,
                   help="NodePorts also answer on 127.0.0.1 (sets route_localnet; default: off)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--metrics-bind-address", default="",
                   help="HOST:PORT to serve Prometheus /metrics on (empty or port 0: off)")
    args = p.parse_args(argv)
    try:
        ProxyConfig(prefix=args.chain_prefix)
    except ValueError as exc:
        p.error(str(exc))
    if args.min_sync_period_s < 0 or args.sync_period_s <= 0:
        p.error("--min-sync-period-s must be >= 0 and --sync-period-s > 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    prom.serve(args.metrics_bind_address)
    asyncio.run(run(args))
