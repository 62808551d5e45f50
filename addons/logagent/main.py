"""`python -m addons.logagent`: the node log agent (one per node).

Contract:
- Tails `--log-dir` (the kubelet's `--log-dir`, default /var/log/pods) with `addons.logagent.
  tailer.Tailer`, its offsets in `--state-file`, and pushes batches to the log store's
  `POST /v1/push`. Offsets are committed only after the store answered 200; a failed push is
  read and sent again after a backoff (0.5 s doubling to 10 s), so the store being down loses
  nothing (the files are the buffer, as with Kubernetes' node agents).
- The store is `--store-url`, or else found through the API: the Endpoints of
  `kube-system/logstore`, port `http` (re-resolved after a failed push).
- Pod labels come from an informer on this node's pods (`spec.nodeName=<node>`); labels of a
  deleted pod are remembered (up to 10,000 pods), so its last lines are still shipped with them.
- Wakes when the kubelet writes under `--log-dir` (inotify, addons.logagent.notify): a line is
  read at once, and a quiet node costs no scans but one every `--rescan-s` (10 s, a safety net).
  After lines it waits `--poll-s` (0.5 s) to batch, and none while a batch came back full.
  Without inotify it polls every `--poll-s` (backing off to `--idle-poll-max-s` if set).
- SIGTERM/SIGINT: commit what was acknowledged, close the files, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections import OrderedDict
from pathlib import Path

import httpx

from addons.logagent.notify import TreeWatch
from addons.logagent.tailer import Tailer
from machinery import errors
from machinery.backoff import Backoff
from machinery.client import ApiClient
from machinery.informer import Informer
from machinery.logsetup import setup_logging
from machinery.logwire import LOGSTORE_NAMESPACE, LOGSTORE_PORT_NAME, LOGSTORE_SERVICE, Stream
from machinery.models import Endpoints, Pod

log = logging.getLogger("logagent")
REMEMBER_DELETED = 10_000


class PodLabels:
    """uid -> labels of this node's pods, keeping deleted pods' labels for late lines."""

    def __init__(self) -> None:
        self.live: dict[str, dict[str, str]] = {}
        self.gone: OrderedDict[str, dict[str, str]] = OrderedDict()

    def _set(self, pod: Pod) -> None:
        if pod.uid:
            self.live[pod.uid] = dict(pod.metadata.labels or {})

    def on_add(self, pod: Pod) -> None:
        self._set(pod)

    def on_update(self, _old: Pod, new: Pod) -> None:
        self._set(new)

    def on_delete(self, pod: Pod) -> None:
        if pod.uid:
            self.gone[pod.uid] = self.live.pop(pod.uid, dict(pod.metadata.labels or {}))
            while len(self.gone) > REMEMBER_DELETED:
                self.gone.popitem(last=False)

    def __call__(self, uid: str) -> dict[str, str]:
        return self.live.get(uid) or self.gone.get(uid) or {}


async def resolve_store(client: ApiClient) -> str:
    """The log store's URL from its Endpoints (ServiceUnavailable when it has none)."""
    ep = await client.get(Endpoints, LOGSTORE_SERVICE, namespace=LOGSTORE_NAMESPACE)
    for subset in ep.to_dict().get("subsets") or []:
        ports = {p.get("name"): p.get("port") for p in subset.get("ports") or []}
        port = ports.get(LOGSTORE_PORT_NAME) or (next(iter(ports.values())) if len(ports) == 1 else None)
        for addr in subset.get("addresses") or []:
            if port and addr.get("ip"):
                host = addr["ip"]
                return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    raise errors.ServiceUnavailable(f"no endpoints available for service {LOGSTORE_SERVICE}")


class Agent:
    def __init__(self, tailer: Tailer, *, store_url: str | None, client: ApiClient | None, poll_s: float,
                 idle_poll_max_s: float = 0.0, watch: TreeWatch | None = None, rescan_s: float = 10.0) -> None:
        self.tailer = tailer
        self.watch = watch  # None: poll (no inotify)
        self.rescan_s = rescan_s
        self.fixed_url = store_url
        self.client = client
        self.poll_s = poll_s
        # At rest the scan interval doubles per empty scan up to this (0: never longer than
        # poll_s): a quiet node costs ~4x fewer scans; the first line after a pause waits at most this.
        self.idle_poll_max_s = max(poll_s, idle_poll_max_s)
        self.url: str | None = store_url
        self.http = httpx.AsyncClient(timeout=30.0, trust_env=False)
        self.shipped = 0

    async def _push(self, streams: list[Stream]) -> None:
        if self.url is None:
            if self.client is None:
                raise errors.ServiceUnavailable("no --store-url and no API client to find the store")
            self.url = await resolve_store(self.client)
        r = await self.http.post(f"{self.url}/v1/push", json={"streams": [s.to_wire() for s in streams]})
        if r.status_code != 200:
            raise errors.ServiceUnavailable(f"log store answered {r.status_code}: {r.text[:200]}")

    async def step(self) -> int:
        """Scan, read and ship one batch; the number of lines shipped (raises when the push failed)."""
        self.tailer.scan()
        streams = await asyncio.to_thread(self.tailer.read_batch)
        if not streams:
            self.tailer.idle_settle()
            return 0
        try:
            await self._push(streams)
        except BaseException:
            self.tailer.rollback()
            if self.fixed_url is None:
                self.url = None  # the store may have moved
            raise
        await asyncio.to_thread(self.tailer.commit)
        n = sum(len(s.entries) for s in streams)
        self.shipped += n
        return n

    def next_wait_s(self, shipped: int, empty_scans: int) -> float:
        """How long to wait before the next scan: none after a full batch, poll_s after lines,
        then doubling per empty scan up to idle_poll_max_s."""
        if shipped >= self.tailer.max_lines:
            return 0.0
        if shipped:
            return self.poll_s
        return float(min(self.idle_poll_max_s, self.poll_s * 2.0 ** min(empty_scans, 16)))

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(0.5, 10.0)
        empty_scans = 0
        while not stop.is_set():
            if self.watch is not None:
                self.watch.changed.clear()  # a write during the scan wakes the next one
            try:
                n = await self.step()
            except (httpx.HTTPError, errors.ApiError, OSError) as exc:
                delay_s = backoff.next()
                log.warning("cannot ship logs (%s); retrying in %.1fs", exc, delay_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay_s)
                continue
            backoff.reset()
            wait_s = self.next_wait_s(n, empty_scans)
            empty_scans = 0 if n else empty_scans + 1
            if n == 0 and self.watch is not None:
                await _first(stop, self.watch.changed, timeout_s=self.rescan_s)
            elif wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait_s)

    async def aclose(self) -> None:
        await self.http.aclose()
        self.tailer.close()
        if self.watch is not None:
            self.watch.close()


async def _first(*events: asyncio.Event, timeout_s: float) -> None:
    """Return when any of `events` is set, or after `timeout_s`."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    labels = PodLabels()
    client: ApiClient | None = None
    informer_task: asyncio.Task[None] | None = None
    if args.kubeconfig is not None or args.store_url is None:
        client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent="kubelite-logagent")
        pods = Informer(client, Pod, field_selector=f"spec.nodeName={args.node_name}")
        pods.add_handlers(on_add=labels.on_add, on_update=labels.on_update, on_delete=labels.on_delete)
        informer_task = asyncio.create_task(pods.run())
        with contextlib.suppress(TimeoutError):
            await pods.wait_synced(timeout_s=10.0)  # ship without labels rather than not at all
    tailer = Tailer(args.log_dir, args.state_file, node=args.node_name, labels=labels,
                    max_lines=args.batch_lines)
    watch = None if args.poll_only else TreeWatch.open(args.log_dir)
    agent = Agent(tailer, store_url=args.store_url, client=client, poll_s=args.poll_s,
                  idle_poll_max_s=args.idle_poll_max_s, watch=watch, rescan_s=args.rescan_s)
    started = time.monotonic()
    log.info("log agent for node %s tailing %s (state %s; %s)", args.node_name, args.log_dir, args.state_file,
             f"inotify on {watch.watched} directories" if watch is not None else f"polling every {args.poll_s}s")
    try:
        await agent.run(stop)
    finally:
        log.info("log agent stopping: %d lines shipped in %.0fs", agent.shipped, time.monotonic() - started)
        await agent.aclose()
        if informer_task is not None:
            informer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await informer_task
        if client is not None:
            await client.aclose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m addons.logagent", description="kubelite node log agent")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument("--log-dir", default="/var/log/pods")
    p.add_argument("--state-file", default="logagent/offsets.json")
    p.add_argument("--store-url", default=None, help="the log store's base URL (default: from its Endpoints)")
    p.add_argument("--poll-s", type=float, default=0.5,
                   help="after shipping lines, wait this long to batch the next ones; without inotify, the scan interval")
    p.add_argument("--rescan-s", type=float, default=10.0,
                   help="with inotify, a quiet node is still scanned this often (a safety net)")
    p.add_argument("--poll-only", action="store_true", help="do not use inotify: scan every --poll-s")
    p.add_argument("--idle-poll-max-s", type=float, default=0.0,
                   help="without inotify, at rest scan at most this seldom (the interval doubles from --poll-s per "
                        "empty scan); the default (0) keeps --poll-s: the kubelet removes a deleted pod's log "
                        "directory at once, so a longer interval loses its last lines (CI: a TERM trap's line missed at 2 s)")
    p.add_argument("--batch-lines", type=int, default=5000)
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)
    Path(args.state_file).parent.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    asyncio.run(run(args))


__all__ = ["Agent", "PodLabels", "main", "resolve_store"]
