"""`python -m routeagent`: keeps this host's routes to the other nodes' pod CIDRs.

Contract:
- Watches Nodes (a machinery informer). On every change, and every `--resync-s` (10 s: a
  route or rule removed by hand comes back), it reconciles: the routes of `plan.desired_routes`
  are added or corrected with `ip route replace ... proto static`, routes of vanished nodes are
  deleted, and the agent's iptables chains (`plan.rules_text`) are rewritten atomically with
  `iptables-restore --noflush` and their jumps ensured (FORWARD: appended, so the traffic guard
  jumped to first stays in force; nat POSTROUTING: inserted first).
- It never sends anything, never touches routes it does not own (gateway routes inside the
  cluster CIDR with proto static), and survives API server outages (the informer resumes).
- `--node-name` is this host's Node (its own pod CIDR is on its bridge, not routed); the
  control plane runs it without one and routes every node's pod CIDR.
- SIGTERM/SIGINT: exit, leaving routes and rules in place (a restarted agent adopts them; the
  host or container going away takes them along).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import subprocess
from typing import Any

from machinery.client import ApiClient
from machinery.informer import Informer
from machinery.logsetup import setup_logging
from machinery.models import Node
from routeagent import plan

log = logging.getLogger("routeagent")


def _run(args: list[str], *, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=input_text, capture_output=True, text=True, timeout=30, check=False)


def current_routes(cluster_cidr: str) -> dict[str, str]:
    out = _run(["ip", "-j", "-4", "route", "show", "proto", plan.ROUTE_PROTO]).stdout
    return plan.parse_routes(json.loads(out or "[]"), cluster_cidr=cluster_cidr)


def ensure_rules(cluster_cidr: str) -> None:
    proc = _run(["iptables-restore", "--noflush", "-w", "5"], input_text=plan.rules_text(cluster_cidr))
    if proc.returncode != 0:
        raise RuntimeError(f"iptables-restore failed: {proc.stderr.strip()}")
    if _run(["iptables", "-w", "5", "-C", "FORWARD", "-j", plan.FWD_CHAIN]).returncode != 0:
        _run(["iptables", "-w", "5", "-A", "FORWARD", "-j", plan.FWD_CHAIN])
    if _run(["iptables", "-w", "5", "-t", "nat", "-C", "POSTROUTING", "-j", plan.NOMASQ_CHAIN]).returncode != 0:
        _run(["iptables", "-w", "5", "-t", "nat", "-I", "POSTROUTING", "1", "-j", plan.NOMASQ_CHAIN])


def reconcile(nodes: list[dict[str, Any]], *, self_name: str | None, cluster_cidr: str) -> int:
    """Apply the plan; returns how many route commands ran."""
    ensure_rules(cluster_cidr)
    desired = plan.desired_routes(nodes, self_name=self_name, cluster_cidr=cluster_cidr)
    cmds = plan.route_changes(current_routes(cluster_cidr), desired)
    for cmd in cmds:
        proc = _run(cmd)
        level = logging.INFO if proc.returncode == 0 else logging.WARNING
        log.log(level, "%s%s", " ".join(cmd[2:]), "" if proc.returncode == 0 else f": {proc.stderr.strip()}")
    return len(cmds)


async def amain(args: argparse.Namespace) -> None:
    client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent=f"kubelite-routeagent/{args.node_name or '-'}")
    informer: Informer[Node] = Informer(client, Node)
    wake = asyncio.Event()
    informer.add_handlers(on_add=lambda _n: wake.set(), on_update=lambda _o, _n: wake.set(),
                          on_delete=lambda _n: wake.set())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(informer.run(), name="node-informer")
    try:
        await informer.wait_synced()
        log.info("route agent on %s (%s): watching nodes", args.node_name or "control plane", args.node_ip)
        while not stop.is_set():
            wake.clear()
            nodes = [n.to_dict() for n in informer.list()]
            try:
                await asyncio.to_thread(reconcile, nodes, self_name=args.node_name, cluster_cidr=args.cluster_cidr)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                log.warning("reconcile failed (retrying): %s", exc)
            waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(waiters, timeout=args.resync_s, return_when=asyncio.FIRST_COMPLETED)
            for w in pending:
                w.cancel()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m routeagent", description="kubelite lab route agent")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--node-name", default=None, help="this host's Node (omit on the control plane)")
    p.add_argument("--node-ip", default="", help="this host's address (for the log line)")
    p.add_argument("--cluster-cidr", default=plan.CLUSTER_CIDR)
    p.add_argument("--resync-s", type=float, default=10.0)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.resync_s <= 0:
        p.error("--resync-s must be > 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args))
