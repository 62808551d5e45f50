"""Routes pod events to per-pod workers, wakes them on Docker events, removes orphans.

Contract: `PodManager.on_pod(pod)` / `on_pod_deleted(pod)` are the informer's handlers (sync,
they only route: the worker decides). One `PodWorker` per pod uid (a pod re-created with the
same name is another pod). `remove_orphans(known_uids)` removes containers of this
cluster+node whose pod uid is not known (after a kubelet restart: adoption keeps the others).
`follow(informer)` is start-up step 3: routing starts after the orphans are removed, with every
pod the informer holds at that moment (also those that arrived during the removal).
`watch_docker_events()` wakes the worker owning a container that died, so exits are seen
at once instead of at the next resync, and feeds the runtime's inspect cache (kubelet.inspectcache).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import httpx

from kubelet.api import KubeletApi
from kubelet.inspectcache import InspectCache
from kubelet.logs import LogCopiers, docker_http
from kubelet.podworker import PodWorker
from kubelet.runtime import LABEL_CLUSTER, LABEL_NODE, LABEL_UID, Runtime
from kubelet.startgate import StartGate
from kubelet.workerconfig import WorkerConfig
from machinery.backoff import Backoff
from machinery.events import EventRecorder
from machinery.informer import Informer

log = logging.getLogger(__name__)
# Container events that change what an inspect returns (they drop the cached inspection) ...
CHANGE_EVENTS = frozenset({"create", "start", "restart", "die", "oom", "pause", "unpause", "rename", "destroy"})
# ... and those a pod worker must react to.
WAKE_EVENTS = frozenset({"die", "start", "oom", "destroy"})


class PodManager:
    def __init__(self, cfg: WorkerConfig, runtime: Runtime, api: KubeletApi, *,
                 docker_socket: str = "/var/run/docker.sock", recorder: EventRecorder | None = None) -> None:
        self.cfg, self.runtime, self.api = cfg, runtime, api
        self.recorder = recorder
        self.docker_socket = docker_socket
        self.copiers = LogCopiers(max_bytes=cfg.log_max_bytes, max_files=cfg.log_max_files, socket=docker_socket)
        self.workers: dict[str, PodWorker] = {}
        self.gate = StartGate(cfg.max_parallel_starts)  # one per node: Docker is the shared resource
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: set[str] = set()

    # --- informer handlers (routing only) ---------------------------------------------------
    def on_pod(self, pod: dict[str, Any]) -> None:
        uid = (pod.get("metadata") or {}).get("uid") or ""
        if not uid or uid in self._finished:
            return
        worker = self.workers.get(uid)
        if worker is None:
            worker = PodWorker(pod, cfg=self.cfg, runtime=self.runtime, api=self.api, copiers=self.copiers,
                               recorder=self.recorder, gate=self.gate)
            self.workers[uid] = worker
            self._tasks[uid] = asyncio.create_task(self._run(uid, worker), name=f"pod-{uid}")
        else:
            worker.update(pod)

    def on_pod_deleted(self, pod: dict[str, Any]) -> None:
        uid = (pod.get("metadata") or {}).get("uid") or ""
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(None)

    async def _run(self, uid: str, worker: PodWorker) -> None:
        try:
            await worker.run()
        finally:
            self._finished.add(uid)
            if self.recorder is not None:
                self.recorder.forget(uid)
            self.workers.pop(uid, None)
            self._tasks.pop(uid, None)

    def worker_for(self, ns: str, name: str) -> PodWorker | None:
        for w in self.workers.values():
            if w.ns == ns and w.name == name:
                return w
        return None

    async def follow(self, informer: Informer[Any]) -> None:
        """Route `informer`'s pods to workers once this node's orphans are removed. The handlers
        go in first but route nothing until then; then every pod the informer holds *now* is
        routed, with no await in between, so none is lost: a pod bound to this node while the
        orphans were being removed arrived in that await (a lab kubelet never started one pod
        when its routing used the list read before the removal)."""
        ready = False

        def on_add(obj: Any) -> None:
            if ready:
                self.on_pod(obj.to_dict())

        informer.add_handlers(on_add=on_add, on_update=lambda _old, new: on_add(new),
                              on_delete=lambda obj: self.on_pod_deleted(obj.to_dict()))
        await informer.wait_synced()
        await self.remove_orphans({(p.to_dict().get("metadata") or {}).get("uid") or "" for p in informer.list()})
        ready = True
        for p in informer.list():
            self.on_pod(p.to_dict())

    # --- orphans and Docker events ----------------------------------------------------------
    async def remove_orphans(self, known_uids: set[str]) -> int:
        mine = {LABEL_CLUSTER: self.cfg.cluster, LABEL_NODE: self.cfg.node}
        orphans = [c for c in await self.runtime.list_containers(mine) if c.labels.get(LABEL_UID) not in known_uids]
        await asyncio.gather(*(self.runtime.remove(c.id) for c in orphans))
        if orphans:
            log.info("removed %d containers of pods that no longer exist", len(orphans))
        return len(orphans)

    async def watch_docker_events(self) -> None:
        """Wake workers on container die/start/oom/destroy events and keep the runtime's inspect
        cache honest (enabled only while this stream is up, an entry dropped on any event of
        its container); reconnect with backoff forever."""
        filters = json.dumps({"type": ["container"], "label": [f"{LABEL_CLUSTER}={self.cfg.cluster}"],
                              "event": sorted(CHANGE_EVENTS)})
        cache: InspectCache[Any] | None = getattr(self.runtime, "inspect_cache", None)
        backoff = Backoff(0.5, 10.0)
        while True:
            try:
                # `since` a second ago: Docker replays what happened while it subscribed us.
                params = {"filters": filters, "since": f"{time.time() - 1.0:.6f}"}
                async with docker_http(self.docker_socket) as http, \
                        http.stream("GET", "/events", params=params) as resp:
                    resp.raise_for_status()
                    backoff.reset()
                    if cache is not None:
                        cache.enable()
                    try:
                        async for line in resp.aiter_lines():
                            self._route_event(line, cache)
                    finally:
                        if cache is not None:
                            cache.disable()
            except (httpx.HTTPError, OSError) as exc:
                log.warning("docker events stream lost (%s); reconnecting", exc)
            await asyncio.sleep(backoff.next())

    def _route_event(self, line: str, cache: InspectCache[Any] | None = None) -> None:
        if not line.strip():
            return
        try:
            ev = json.loads(line)
        except ValueError:
            return
        actor = ev.get("Actor") or {}
        cid = actor.get("ID") or ev.get("id") or ""
        if cache is not None and cid:
            cache.changed(cid)
        if (ev.get("Action") or ev.get("status")) not in WAKE_EVENTS:
            return
        uid = (actor.get("Attributes") or {}).get(LABEL_UID)
        worker = self.workers.get(uid or "")
        if worker is not None:
            worker.wake()

    async def close(self) -> None:
        """Stop the workers (containers keep running: a restarted kubelet adopts them)."""
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for w in list(self.workers.values()):
            await w.close()
        await self.copiers.close()
