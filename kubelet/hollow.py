"""Hollow nodes: N simulated kubelets in one process, for scheduler scale tests without Docker.

`python -m kubelet --hollow --count N [--prefix hollow-] [--run-delay-s 1.0] [--cpu 4
--memory 32Gi --pods 110] [--kubeconfig F] [--delete-on-exit]` (kubelet/__main__.py delegates
here; `python -m kubelet.hollow` works too).

Contract:
- Registers nodes `<prefix>0 .. <prefix>N-1`: Ready, capacity = allocatable = the flags, a fake
  InternalIP. An existing node of that name is taken over (its status rewritten).
- Renews each node's Lease in kube-node-lease every `lease_period_s` (10 s). Renewals are spread
  evenly over the period (node i at offset i * period / N), so 1,000 nodes make a steady
  ~100 writes/s instead of a burst of 1,000 every 10 s.
- ONE pod informer (every bound pod: fieldSelector spec.nodeName!=) and one ApiClient for
  watches plus one writer client (`WRITE_SLOTS` keep-alive connections) serve every hollow node:
  a pod whose spec.nodeName is one of ours is "run" `run_delay_s` after we first see it bound:
  status Running + Ready (conditions, containerStatuses running, podIP 10.244.<i%256>.<n> from
  the node index i; fake, so addresses repeat beyond 256 nodes). A pod of ours with a
  deletionTimestamp is finished off with a grace-0 delete, as a kubelet does once containers
  are gone. Work goes through a small de-duplicating key queue with a few workers; decisions
  are read from the informer's current state (level-triggered), so a missed event costs
  nothing.
- Stopping heartbeats (node lifecycle tests): `stop(indices)` freezes those nodes as a hung
  kubelet would be: no Lease renewal, no pod status, no deletion confirmed (their pod work is
  held). `resume(indices)` brings them back: Lease renewed and Ready status posted at once, held
  pod work done (pods deleted meanwhile are finished off, pods marked not Ready by the node
  lifecycle controller are Ready again). `--stopped RANGE` starts with those stopped;
  `--control-file F` + SIGUSR1 re-reads F (see kubelet/hollow_control.py). A running node whose
  Node shows Ready other than True (e.g. after the controller marked it Unknown) posts Ready again.
- Pod IPs come from the node's spec.podCIDR once node IPAM assigned one.
Writes use raw JSON merge patches (no model round trip) to stay light on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubelet.hollow_control import parse_ranges, read_control_file
from kubelet.hollow_status import lease_body, node_body, pod_ip, pod_ip_in, running_status
from machinery import errors
from machinery.backoff import Backoff
from machinery.client import ApiClient, KubeClient
from machinery.clock import now_micro_rfc3339
from machinery.informer import Informer
from machinery.logsetup import setup_logging
from machinery.models import Node, Pod

log = logging.getLogger("kubelet.hollow")
MERGE = {"Content-Type": "application/merge-patch+json"}


@dataclass
class HollowConfig:
    count: int = 10
    prefix: str = "hollow-"
    run_delay_s: float = 1.0
    cpu: str = "4"
    memory: str = "32Gi"
    pods: str = "110"
    lease_period_s: float = 10.0
    """How often each node renews its Lease (the real kubelet: 10 s)."""
    workers: int = 16
    """Concurrent pod status writes / deletes."""
    delete_on_exit: bool = False
    stopped: frozenset[int] = frozenset()
    """Node indices that start with their heartbeats stopped."""
    control_file: str | None = None
    """Re-read on SIGUSR1: the node indices to stop (all others run)."""
    """Delete the nodes and their leases when stopped (tests, benchmarks)."""


WRITE_SLOTS = 24
"""Connections of the writer client (`amain`): every Lease renewal, status and delete goes
through them, one request each at a time (machinery.leanhttp: plain HTTP/1.1 without httpcore)."""


class HollowNodes:
    def __init__(self, client: KubeClient, cfg: HollowConfig, *, writer: KubeClient | None = None) -> None:
        """`client` serves the informers (watches); `writer` (default: `client`) every write."""
        self.client = client
        self.writer = writer or client
        self.cfg = cfg
        self.names = [f"{cfg.prefix}{i}" for i in range(cfg.count)]
        self.index = {name: i for i, name in enumerate(self.names)}
        # Bound pods only: a pod nobody scheduled yet is no node's business (1 event in 3 saved).
        self.pods = Informer(client, Pod, field_selector="spec.nodeName!=")
        self.nodes = Informer(client, Node, label_selector="kubelite.io/hollow=true")
        self.stopped: set[int] = set(cfg.stopped)
        self._held: set[str] = set()
        self._cidrs: dict[int, str] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._first_seen: dict[str, float] = {}
        self._ip_counter: dict[int, int] = {}
        self._write_slots = asyncio.Semaphore(64)
        self.started = 0
        self.deleted = 0

    # ---- nodes and leases ----------------------------------------------------------------
    async def _register(self, i: int) -> None:
        name = self.names[i]
        body = node_body(name, i, cpu=self.cfg.cpu, memory=self.cfg.memory, pods=self.cfg.pods)
        async with self._write_slots:
            # The Lease first, as the real kubelet: a node is never seen Ready without one.
            with contextlib.suppress(errors.AlreadyExists):
                await self.writer.request(
                    "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", json=lease_body(name)
                )
            try:
                created = await self.writer.request("POST", "/api/v1/nodes", json=body)
                has_status = bool(((created or {}).get("status") or {}).get("conditions"))
            except errors.AlreadyExists:
                has_status = False
            if not has_status:  # the server dropped status on create, or the node existed
                await self.writer.request(
                    "PATCH", f"/api/v1/nodes/{name}/status", json={"status": body["status"]}, headers=MERGE
                )

    async def register_all(self) -> None:
        """Register every node, retrying the failed ones until the API server takes them."""
        todo = list(range(self.cfg.count))
        backoff = Backoff(0.5, 10.0)
        while todo:
            results = await asyncio.gather(*(self._register(i) for i in todo), return_exceptions=True)
            failed = [(i, r) for i, r in zip(todo, results, strict=True) if isinstance(r, Exception)]
            if failed:
                log.warning("%d hollow nodes not registered yet (%s); retrying", len(failed), failed[0][1])
                await asyncio.sleep(backoff.next())
            todo = [i for i, _ in failed]
        log.info("registered %d hollow nodes", self.cfg.count)

    async def _renew(self, name: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        async with self._write_slots:
            if self.index[name] in self.stopped:
                return  # stopped while this renewal waited for a slot: a frozen kubelet sends nothing
            # Stamped when sent, not when queued: a renewal that waited must not look older.
            patch = {"spec": {"holderIdentity": name, "renewTime": now_micro_rfc3339(), "leaseDurationSeconds": 40}}
            try:
                await self.writer.request("PATCH", path, json=patch, headers=MERGE)
            except errors.NotFound:
                await self.writer.request(
                    "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", json=lease_body(name)
                )
            except errors.ApiError as exc:  # the next period tries again
                log.warning("lease renewal of %s failed: %s", name, exc)

    async def lease_loop(self) -> None:
        """Renew node i at start + k * period + i * period / N: an even stream of writes."""
        loop = asyncio.get_running_loop()
        period, n = self.cfg.lease_period_s, max(1, self.cfg.count)
        start = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        k = 1
        while True:
            for i, name in enumerate(self.names):
                delay = start + k * period + i * period / n - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if i in self.stopped:
                    continue
                t = asyncio.create_task(self._renew(name))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            k += 1

    # ---- pods ----------------------------------------------------------------------------
    def _ours(self, obj: Any) -> bool:
        return bool(obj.spec and obj.spec.nodeName in self.index)

    def _enqueue(self, key: str) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _on_pod(self, obj: Any) -> None:
        if not self._ours(obj):
            return
        key = obj.key
        if obj.metadata.deletionTimestamp:
            self._enqueue(key)
            return
        if obj.status and obj.status.phase == "Running":
            if not _pod_ready(obj):  # e.g. marked not Ready while the node was unreachable
                self._enqueue(key)
            return
        if key not in self._first_seen:
            self._first_seen[key] = time.monotonic()
            asyncio.get_running_loop().call_later(self.cfg.run_delay_s, self._enqueue, key)

    def _on_delete(self, obj: Any) -> None:
        self._first_seen.pop(obj.key, None)

    async def _process(self, key: str) -> None:
        if key.startswith("node:"):
            await self._post_ready(key[len("node:"):])
            return
        obj = self.pods.get(key)
        if obj is None or not self._ours(obj):
            return
        if self.index[str(obj.spec.nodeName if obj.spec else "")] in self.stopped:
            self._held.add(key)  # a frozen kubelet does nothing; resume() brings it back
            return
        ns, name = obj.metadata.namespace or "default", obj.metadata.name or ""
        if obj.metadata.deletionTimestamp:
            try:
                await self.writer.request(
                    "DELETE", f"/api/v1/namespaces/{ns}/pods/{name}", json={"gracePeriodSeconds": 0}
                )
                self.deleted += 1
            except errors.NotFound:
                pass
            return
        i = self.index[str(obj.spec.nodeName if obj.spec else "")]
        d = obj.to_dict()
        running = bool(obj.status and obj.status.phase == "Running")
        if running and _pod_ready(obj):
            return
        ip = (obj.status.podIP if running and obj.status else None) or self._next_ip(i)
        status = running_status(d, node_index=i, pod_ip=ip)
        await self.writer.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", json=status, headers=MERGE)
        self.started += 1

    def _next_ip(self, i: int) -> str:
        n = self._ip_counter.get(i, 1) % 253 + 1
        self._ip_counter[i] = n
        cidr = self._cidrs.get(i)
        return pod_ip_in(cidr, n + 1) if cidr else pod_ip(i, n + 1)

    # ---- stopping and resuming heartbeats --------------------------------------------------
    def stop(self, indices: set[int]) -> None:
        self.stopped |= {i for i in indices if 0 <= i < self.cfg.count}
        log.info("heartbeats stopped for %d node(s): %d stopped in all", len(indices), len(self.stopped))

    def resume(self, indices: set[int]) -> None:
        back = self.stopped & indices
        self.stopped -= back
        for i in sorted(back):
            self._enqueue(f"node:{self.names[i]}")
        for key in list(self._held):
            self._held.discard(key)
            self._enqueue(key)
        if back:
            log.info("heartbeats resumed for %d node(s)", len(back))

    def set_stopped(self, indices: set[int]) -> None:
        """Exactly `indices` stopped (the control file's content)."""
        self.resume(self.stopped - indices)
        self.stop(indices - self.stopped)

    def _on_node(self, node: Any) -> None:
        i = self.index.get(node.name)
        if i is None:
            return
        if node.spec is not None and node.spec.podCIDR:
            self._cidrs[i] = str(node.spec.podCIDR)
        ready = next((c.status for c in (node.status.conditions or [])
                      if c.type == "Ready"), None) if node.status else None
        if ready != "True" and i not in self.stopped:
            self._enqueue(f"node:{node.name}")

    async def _post_ready(self, name: str) -> None:
        """A resumed (or wrongly suspected) node: renew its Lease and post Ready at once."""
        i = self.index[name]
        if i in self.stopped:
            return
        await self._renew(name)
        body = node_body(name, i, cpu=self.cfg.cpu, memory=self.cfg.memory, pods=self.cfg.pods)
        await self.writer.request("PATCH", f"/api/v1/nodes/{name}/status",
                                  json={"status": {"conditions": body["status"]["conditions"]}}, headers=MERGE)

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            try:
                await self._process(key)
            except asyncio.CancelledError:
                raise
            except errors.NotFound:
                pass
            except Exception as exc:  # noqa: BLE001 - retry later: a hollow node must survive API restarts
                log.warning("hollow pod %s: %s; retrying", key, exc)
                asyncio.get_running_loop().call_later(1.0, self._enqueue, key)

    # ---- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        await self.register_all()
        self.pods.add_handlers(on_add=self._on_pod, on_update=lambda _o, n: self._on_pod(n), on_delete=self._on_delete)
        self.nodes.add_handlers(on_add=self._on_node, on_update=lambda _o, n: self._on_node(n))
        tasks = [asyncio.create_task(self.pods.run()), asyncio.create_task(self.nodes.run()),
                 asyncio.create_task(self.lease_loop())]
        tasks += [asyncio.create_task(self._worker()) for _ in range(self.cfg.workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.cfg.delete_on_exit:
                await self.delete_all()

    async def delete_all(self) -> None:
        async def one(name: str) -> None:
            async with self._write_slots:
                for path in (
                    f"/api/v1/nodes/{name}",
                    f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
                ):
                    with contextlib.suppress(errors.ApiError):
                        await self.writer.request("DELETE", path)

        await asyncio.gather(*(one(n) for n in self.names))


def parse_args(argv: Sequence[str] | None) -> tuple[HollowConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m kubelet --hollow", description="simulated nodes")
    p.add_argument("--hollow", action="store_true")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--prefix", default="hollow-")
    p.add_argument("--run-delay-s", type=float, default=1.0)
    p.add_argument("--cpu", default="4")
    p.add_argument("--memory", default="32Gi")
    p.add_argument("--pods", default="110")
    p.add_argument("--lease-period-s", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--delete-on-exit", action="store_true")
    p.add_argument("--stopped", default="", help="node index ranges that start with heartbeats stopped, e.g. 0-9,15")
    p.add_argument("--control-file", default=None,
                   help="on SIGUSR1, stop exactly the node index ranges listed in this file (others resume)")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    try:
        stopped = frozenset(parse_ranges(a.stopped))
    except ValueError as exc:
        p.error(f"--stopped: {exc}")
    cfg = HollowConfig(
        count=a.count,
        prefix=a.prefix,
        run_delay_s=a.run_delay_s,
        cpu=a.cpu,
        memory=a.memory,
        pods=a.pods,
        lease_period_s=a.lease_period_s,
        workers=a.workers,
        delete_on_exit=a.delete_on_exit,
        stopped=stopped,
        control_file=a.control_file,
    )
    return cfg, a


async def amain(cfg: HollowConfig, kubeconfig: str | None) -> None:
    client = ApiClient.from_kubeconfig(kubeconfig)
    writer = ApiClient.from_kubeconfig(kubeconfig, slots=WRITE_SLOTS)
    nodes = HollowNodes(client, cfg, writer=writer)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if task is not None:
            loop.add_signal_handler(sig, task.cancel)
    control = cfg.control_file
    if control is not None:

        def reread() -> None:
            try:
                nodes.set_stopped(read_control_file(control))
            except (OSError, ValueError) as exc:
                log.error("control file %s: %s", control, exc)

        loop.add_signal_handler(signal.SIGUSR1, reread)
    try:
        await nodes.run()
    except asyncio.CancelledError:
        pass
    finally:
        await writer.aclose()
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    cfg, a = parse_args(argv)
    setup_logging(str(a.log_level))
    asyncio.run(amain(cfg, a.kubeconfig))


def _pod_ready(pod: Any) -> bool:
    conds = (pod.status.conditions or []) if pod.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


if __name__ == "__main__":
    main()
