"""The NetworkPolicy agent of one node, run inside `python -m proxy` beside the Service proxier.

Contract:
- `PolicyAgent(cfg, ipt, policies, pods, namespaces, hooks=True, full_resync_s=3600)`: `await
  sync(periodic)` renders this node's policy chains from the three caches
  (`netpol_render.render_policies`) and applies only the difference to what it applied last
  (`render.restore_text`; nothing changed: no iptables call). A forced full sync (first one,
  after a failed restore, every `full_resync_s`) re-reads which `<P>-NP...` chains exist,
  deletes stale ones and rewrites all. Hooks are (re)checked at every sync (three cheap
  iptables calls), so a pod isolated by a new policy is never behind a missing hook, and
  accepting rules Docker inserts above ours (a new network's) are overtaken at the next sync
  (at the latest `--sync-period-s` later).
- It owns only `<P>-NP...` chains (PolicyIptables); the Service proxier's chains, the
  kubelet's guard and Docker's rules are never touched.
- `interesting(old, new)`: whether a pod/namespace update can change the rules (labels, IP,
  node, phase, ports): status-only churn (probes, restarts) does not trigger a sync.
- `wire(syncer, policies, pods, namespaces)` routes informer events into the agent's own
  SyncLoop (separate from the Service one: a policy change never delays Service programming).
- Clean exit: `ipt.cleanup()` (hooks, then chains). Established connections survive the
  agent's restart: its chains stay until the next sync rewrites them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from machinery.models import Pod
from proxy.iptables import PolicyIptables
from proxy.netpol_render import pod_info, render_policies
from proxy.render import ProxyConfig, Ruleset, restore_text
from proxy.sync import SyncLoop

log = logging.getLogger("proxy.netpol")


class PolicyAgent:
    def __init__(self, cfg: ProxyConfig, ipt: PolicyIptables, policies: Any, pods: Any, namespaces: Any, *,
                 hooks: bool = True, full_resync_s: float = 3600.0) -> None:
        self.cfg = cfg
        self.ipt = ipt
        self.policies = policies
        self.pods = pods
        self.namespaces = namespaces
        self.hooks = hooks
        self.full_resync_s = full_resync_s
        self.applied: Ruleset | None = None
        self.last_forced = -float("inf")
        self.restores = 0

    async def sync(self, periodic: bool) -> None:
        started = time.monotonic()
        policies, pods, namespaces = self.policies.list(), self.pods.list(), self.namespaces.list()
        rules = await asyncio.to_thread(render_policies, policies, pods, namespaces, self.cfg)
        force = self.applied is None or started - self.last_forced >= self.full_resync_s
        existing = await asyncio.to_thread(self.ipt.our_chains) if force else None
        text = restore_text(rules, None if force else self.applied, existing)
        if text is not None:
            try:
                await asyncio.to_thread(self.ipt.restore, text)
            except Exception:
                self.applied = None
                raise
            self.restores += 1
        self.applied = rules
        if force:
            self.last_forced = started
        if self.hooks:
            moved = await asyncio.to_thread(self.ipt.ensure_hooks)
            if moved:
                log.info("network policy hooks: %d inserted or moved", moved)
        log.log(logging.INFO if text is not None else logging.DEBUG,
                "policy sync: %d policies, %d rules, %s in %.3fs", len(policies), rules.rule_count(),
                "applied" if text is not None else "unchanged", time.monotonic() - started)


def interesting(old: Any, new: Any) -> bool:
    """Can this update change the policy rules? (Pods: labels, IP, node, phase, named ports.)"""
    if isinstance(old, Pod) and isinstance(new, Pod):
        return pod_info(old) != pod_info(new)
    return bool(old.metadata.labels != new.metadata.labels)


def wire(syncer: SyncLoop, policies: Any, pods: Any, namespaces: Any) -> None:
    def changed(*_: Any) -> None:
        syncer.request()

    def updated(old: Any, new: Any) -> None:
        if interesting(old, new):
            syncer.request()

    policies.add_handlers(on_add=changed, on_update=changed, on_delete=changed)
    for inf in (pods, namespaces):
        inf.add_handlers(on_add=changed, on_update=updated, on_delete=changed)


__all__ = ["PolicyAgent", "interesting", "wire"]
