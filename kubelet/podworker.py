"""One worker per pod: a level-triggered reconcile loop between the pod spec and Docker.

Contract: `PodWorker.run()` loops `sync()` until the pod is gone and cleaned up. `sync()` reads
the containers Docker has for the pod uid (by label: a restarted kubelet adopts them, its probes
seeded from the published status), then, in order: sandbox (pause container owning the network
namespace on the pod bridge, publishing the hostPorts: `kubelet.sandbox`), init containers one
by one (each must exit 0; failures follow restartPolicy), app containers joined with
`network_mode=container:<sandbox>`, probes, restart policy with CrashLoopBackOff
(`kubelet.restarts`), and finally the status (`kubelet.status`) written through `/status` when
it changed (`kubelet.podrecord`, which keeps the pod's dicts and typed model between passes).
A new sandbox (the old one died) re-runs the init containers and restarts the apps in it
without back-off; a Never pod gets none.
On `deletionTimestamp` (or when the pod vanished) it stops the containers with the grace period
(SIGTERM, wait, SIGKILL: `docker stop -t`), removes them, the sandbox and the pod's volume/log
directories, then deletes the pod with gracePeriodSeconds=0.
Wake-ups: `update(pod)`, `wake()` (Docker events, probe changes) and timers for backoffs.
A pass that creates or starts a container first takes a slot of the node's `StartGate` (FIFO,
`WorkerConfig.max_parallel_starts`) and gives it back before writing the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from datetime import UTC, datetime
from typing import Any

from kubelet import containers as cspec
from kubelet import logs, restarts, volumes
from kubelet import metrics as kubelet_metrics
from kubelet.api import KubeletApi
from kubelet.podrecord import PodRecord
from kubelet.probes import ContainerProber
from kubelet.runtime import (
    LABEL_BACKOFF,
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_KIND,
    LABEL_SANDBOX,
    LABEL_UID,
    SANDBOX_NAME,
    ContainerInfo,
    ContainerSpec,
    Mount,
    NameInUse,
    Runtime,
)
from kubelet.sandbox import ensure_sandbox, write_resolv
from kubelet.startgate import StartGate
from kubelet.status import (
    ContainerView,
    Outcome,
    PodView,
    qos_class,
    ts_seconds,
)
from kubelet.status import published_container_status as published_status
from kubelet.volumesource import VolumeError
from kubelet.workerconfig import WorkerConfig
from machinery import errors
from machinery.events import NORMAL, WARNING, EventRecorder, ObjectRef

log = logging.getLogger(__name__)


class PodWorker:
    def __init__(self, pod: dict[str, Any], *, cfg: WorkerConfig, runtime: Runtime, api: KubeletApi,
                 copiers: logs.LogCopiers, recorder: EventRecorder | None = None,
                 gate: StartGate | None = None) -> None:
        meta = pod.get("metadata") or {}
        self.uid: str = meta.get("uid") or ""
        self.ns: str = meta.get("namespace") or "default"
        self.name: str = meta.get("name") or ""
        self.rec = PodRecord(pod)  # the pod's dicts, typed model and published status
        self.cfg, self.runtime, self.api, self.copiers = cfg, runtime, api, copiers
        self.recorder = recorder
        self._gate = gate
        self._in_gate = False  # this pass holds a start slot (taken at its first create/start)
        self._wake = asyncio.Event()
        self._next_s: float | None = None
        self._probers: dict[str, ContainerProber] = {}
        self._volumes: dict[str, str] | None = None
        self._refresh: dict[str, float] = {}  # projected volume -> wall time its token is renewed
        self._terminal = False  # the pod reached Succeeded/Failed: nothing starts any more
        self._resolv: str | None = None
        self.finished = False

    # --- wake-ups --------------------------------------------------------------------------
    def update(self, pod: dict[str, Any] | None) -> None:
        self.rec.update(pod)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _event(self, type_: str, reason: str, message: str, container: str = "", kind: str = "app") -> None:
        """An Event on this pod (a container's when named), worded as Kubernetes' kubelet words it."""
        if self.recorder is None:
            return
        field = f"spec.{'initContainers' if kind == 'init' else 'containers'}{{{container}}}" if container else ""
        ref = ObjectRef(kind="Pod", api_version="v1", namespace=self.ns, name=self.name, uid=self.uid,
                        field_path=field)
        self.recorder.record(ref, type_, reason, message)

    async def _renew_tokens(self, pod: dict[str, Any]) -> None:
        """Project again the volumes whose service account token is due for renewal (80% of
        its lifetime, as the kubelet's token manager); a failure is retried in 5 s, the old
        token stays in place meanwhile."""
        now = time.time()
        due = [name for name, at in self._refresh.items() if at <= now]
        if not due:
            return
        try:
            self._refresh.update(await volumes.reproject(self.rec.model(pod), self.cfg.root_dir, self.api.fetch,
                                                         getattr(self.api, "request_token", None), due, now))
        except VolumeError as exc:
            log.warning("pod %s/%s: token renewal failed: %s", self.ns, self.name, exc)
            for name in due:
                self._refresh[name] = now + 5.0

    def _retry_in(self, delay_s: float) -> None:
        self._next_s = delay_s if self._next_s is None else min(self._next_s, delay_s)

    async def run(self) -> None:
        while True:
            self._next_s = None
            self._wake.clear()
            try:
                if await self.sync():
                    self.finished = True
                    return
            except errors.ApiError as exc:  # API server down or busy: no traceback, just retry
                log.warning("pod %s/%s: sync failed (%s: %s); retrying", self.ns, self.name, exc.reason, exc.message)
                self._retry_in(2.0)
            except Exception:
                log.exception("pod %s/%s: sync failed; retrying", self.ns, self.name)
                self._retry_in(2.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_s or self.cfg.resync_s)

    async def close(self) -> None:
        for p in self._probers.values():
            await p.stop()
        self._probers.clear()

    # --- the reconcile -----------------------------------------------------------------------
    async def _enter_gate(self) -> None:
        """Take a start slot before this pass's first create/start; kept to the end of its
        container phase, so a pod admitted does its sandbox and containers back to back."""
        if self._gate is not None and not self._in_gate:
            began = time.monotonic()
            await self._gate.acquire()
            self._in_gate = True
            kubelet_metrics.START_GATE_WAIT.observe(time.monotonic() - began)

    def _leave_gate(self) -> None:
        if self._gate is not None and self._in_gate:
            self._in_gate = False
            self._gate.release()

    async def sync(self) -> bool:
        """One pass. Returns True when the pod is gone and everything is cleaned up."""
        began = time.monotonic()
        try:
            return await self._sync()
        finally:
            self._leave_gate()
            kubelet_metrics.POD_WORKER_DURATION.labels("sync").observe(time.monotonic() - began)

    async def _sync(self) -> bool:
        insts = await self.runtime.list_containers({LABEL_CLUSTER: self.cfg.cluster, LABEL_UID: self.uid})
        pod = self.rec.pod
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            await self.terminate(insts)
            return True
        by_name: dict[str, list[ContainerInfo]] = {}
        for i in sorted(insts, key=lambda i: (i.restarts, i.created_at or "")):
            by_name.setdefault(i.container, []).append(i)
        spec = pod.get("spec") or {}
        view = PodView(host_ip=self.cfg.node_ip, pod_ip=None, start_time=self.rec.start_time(pod), init=[], apps=[],
                       qos_class=qos_class(spec))
        others = [i for i in insts if i.container != SANDBOX_NAME]
        got = await ensure_sandbox(self.rec, pod, by_name.get(SANDBOX_NAME, []), others=others,
                                   terminal=self._terminal, cfg=self.cfg, runtime=self.runtime, ns=self.ns,
                                   name=self.name, uid=self.uid, create=self._create)
        sandbox = got.info
        if got.message is not None:
            view.message = got.message
        if got.retry_s is not None:
            self._retry_in(got.retry_s)
        if sandbox is not None:
            view.pod_ip = sandbox.ip
            if self._volumes is None:
                try:
                    self._resolv = await asyncio.to_thread(write_resolv, self.cfg, pod, self.uid)
                    self._volumes = await volumes.prepare_volumes(
                        self.rec.model(pod), self.cfg.root_dir, self.api.fetch, refresh=self._refresh,
                        request_token=getattr(self.api, "request_token", None))
                except VolumeError as exc:
                    view.message = f"MountVolume.SetUp failed: {exc}"
                    self._retry_in(5.0)
            else:
                await self._renew_tokens(pod)
            if self._refresh:
                self._retry_in(max(0.5, min(self._refresh.values()) - time.time()))
        may_start = sandbox is not None and self._volumes is not None
        for c in spec.get("initContainers") or []:
            v, outcome = await self._container(pod, c, "init", by_name.get(c["name"], []), sandbox, may_start)
            view.init.append(v)
            if outcome is Outcome.FAILED:
                view.init_failed = True
            if outcome is not Outcome.DONE:
                may_start = False
        for c in spec.get("containers") or []:
            v, _ = await self._container(pod, c, "app", by_name.get(c["name"], []), sandbox,
                                         may_start and not view.init_failed)
            view.apps.append(v)
        self._leave_gate()  # the status write needs no start slot
        await self._drop_stale_probers({i.id for i in insts})
        phase = await self.rec.write_status(self.api, self.ns, self.name, pod, view)
        if phase in ("Succeeded", "Failed"):
            self._terminal = True
            if sandbox is not None and sandbox.running:  # as Kubernetes: a finished pod keeps no sandbox
                await self.runtime.stop(sandbox.id, 0)
        return False

    async def _create(self, spec: ContainerSpec) -> str:
        await self._enter_gate()
        try:
            return await self.runtime.create(spec)
        except NameInUse:  # a leftover of the same name (crash between create and label)
            await self.runtime.remove(spec.name)
            return await self.runtime.create(spec)

    async def _container(self, pod: dict[str, Any], c: dict[str, Any], kind: str, insts: list[ContainerInfo],
                         sandbox: ContainerInfo | None, may_start: bool) -> tuple[ContainerView, Outcome]:
        name = c.get("name", "")
        latest = insts[-1] if insts else None
        v = ContainerView(name=name, image=c.get("image", ""), current=latest,
                          previous=insts[-2] if len(insts) > 1 else None,
                          restart_count=latest.restarts if latest else 0)
        for i in insts:
            self.copiers.ensure(i.id, self._log_path(name, i.restarts))
        if latest is None:
            if not may_start or sandbox is None:
                return v, Outcome.PENDING
            return await self._start_and_probe(pod, c, kind, sandbox, v, restarts=0, steps=0)
        # Joined a sandbox that is gone (its network namespace died with it): as Kubernetes, kill it and
        # start it again in the new sandbox; init containers re-run in order (they set up the pod).
        stale = sandbox is not None and latest.labels.get(LABEL_SANDBOX) not in (None, sandbox.id)
        if stale and latest.running:
            await self.runtime.stop(latest.id, 0)
            v.current = latest = await self.runtime.inspect(latest.id) or latest
        if latest.state == "created" and latest.exit_code is None and not stale:
            await self._enter_gate()
            await self.runtime.start(latest.id)
            v.current = await self.runtime.inspect(latest.id) or latest
            return v, Outcome.RUNNING
        if latest.running:
            if kind == "app":
                await self._probe(pod, c, latest, sandbox, v)
            return v, Outcome.RUNNING
        started_s = ts_seconds(latest.started_at) or ts_seconds(latest.created_at) or 0.0
        finished_s = ts_seconds(latest.finished_at) or started_s
        now = datetime.now(UTC).timestamp()
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        d = restarts.decide(policy=policy, exit_code=latest.exit_code or 0, is_init=kind == "init",
                            backoff_steps=int(latest.labels.get(LABEL_BACKOFF, "0") or 0),
                            ran_s=max(0.0, finished_s - started_s), since_exit_s=now - finished_s)
        if stale and (kind == "init" or d.action in (restarts.Action.RESTART, restarts.Action.WAIT)):
            if not may_start or sandbox is None:
                return v, Outcome.PENDING  # waits for the init containers of the new sandbox
            # No back-off: the sandbox changed, the container did not fail.
            return await self._restart(pod, c, kind, insts, sandbox, v,
                                       steps=int(latest.labels.get(LABEL_BACKOFF, "0") or 0))
        if d.action is restarts.Action.DONE:
            v.terminal = True
            return v, Outcome.DONE
        if d.action is restarts.Action.FAIL_POD:
            v.terminal = True
            return v, Outcome.FAILED
        if d.action is restarts.Action.WAIT or not may_start or sandbox is None:
            v.waiting_reason = "CrashLoopBackOff"
            v.waiting_message = (f"back-off {restarts.backoff_delay_s(d.next_backoff_steps):g}s restarting failed "
                                 f"container={name} pod={self.name}_{self.ns}({self.uid})")
            self._event(WARNING, "BackOff", f"Back-off restarting failed container {name} in pod "
                        f"{self.name}_{self.ns}({self.uid})", name, kind)
            self._retry_in(max(0.1, d.delay_s))
            return v, Outcome.PENDING
        return await self._restart(pod, c, kind, insts, sandbox, v, steps=d.next_backoff_steps)

    async def _restart(self, pod: dict[str, Any], c: dict[str, Any], kind: str, insts: list[ContainerInfo],
                       sandbox: ContainerInfo, v: ContainerView, *, steps: int) -> tuple[ContainerView, Outcome]:
        name, latest = c.get("name", ""), insts[-1]
        for old in insts[:-1]:  # keep only the latest exited instance (for lastState/--previous)
            await self.runtime.remove(old.id)
            self.copiers.forget(old.id)
            # ... and its logs: a pod crash-looping for days must not pile up files.
            await asyncio.to_thread(logs.remove_instance_logs, self._log_path(name, old.restarts))
        v.previous = latest
        return await self._start_and_probe(pod, c, kind, sandbox, v, restarts=latest.restarts + 1, steps=steps)

    async def _start_and_probe(self, pod: dict[str, Any], c: dict[str, Any], kind: str, sandbox: ContainerInfo,
                               v: ContainerView, *, restarts: int, steps: int) -> tuple[ContainerView, Outcome]:
        if not await self._start(pod, c, kind, sandbox, v, restarts=restarts, steps=steps):
            return v, Outcome.PENDING
        if kind == "app" and v.current is not None:
            await self._probe(pod, c, v.current, sandbox, v)  # no readiness probe: ready at once
        return v, Outcome.RUNNING

    async def _start(self, pod: dict[str, Any], c: dict[str, Any], kind: str, sandbox: ContainerInfo,
                     v: ContainerView, *, restarts: int, steps: int) -> bool:
        image, name = c.get("image", ""), c.get("name", "")
        if await self.runtime.image_id(image) is None:
            if c.get("imagePullPolicy") == "Never":
                v.waiting_reason = "ErrImageNeverPull"
                v.waiting_message = (f'Container image "{image}" is not present with pull policy of Never '
                                     f"(node {self.cfg.node}; copy it there with `kubelite image load {image}`)")
                self._event(WARNING, "ErrImageNeverPull", v.waiting_message, name, kind)
            else:
                v.waiting_reason = "ImagePullBackOff"
                v.waiting_message = (f'Back-off pulling image "{image}": the image is not present on node '
                                     f"{self.cfg.node} and kubelite never pulls from a registry (build it locally, then "
                                     f"`kubelite image load {image}`)")
                self._event(WARNING, "Failed", f'Failed to pull image "{image}": the image is not present on node '
                            f"{self.cfg.node} and kubelite never pulls from a registry", name, kind)
                self._event(NORMAL, "BackOff", f'Back-off pulling image "{image}"', name, kind)
            self._retry_in(self.cfg.image_retry_s)
            return False
        self._event(NORMAL, "Pulled", f'Container image "{image}" already present on machine', name, kind)
        try:
            typed, model = cspec.container_of(c), self.rec.model(pod)
            env = await cspec.resolve_env(model, typed, self.api.fetch, pod_ip=sandbox.ip, host_ip=self.cfg.node_ip)
            mounts = volumes.mounts_for(model, typed, self._volumes or {})
            if self._resolv:
                mounts.append(Mount(source=self._resolv, target="/etc/resolv.conf", read_only=True))
            spec = cspec.build_spec(model, typed, cluster=self.cfg.cluster, node=self.cfg.node, kind=kind,
                                    sandbox_id=sandbox.id, restarts=restarts, backoff_steps=steps, env=env, mounts=mounts)
        except (cspec.ConfigError, VolumeError) as exc:
            v.waiting_reason, v.waiting_message = "CreateContainerConfigError", str(exc)
            self._event(WARNING, "Failed", f"Error: {exc}", name, kind)
            self._retry_in(5.0)
            return False
        spec.labels[LABEL_SANDBOX] = sandbox.id
        cid = await self._create(spec)
        self._event(NORMAL, "Created", f"Created container: {name}", name, kind)
        try:
            await self.runtime.start(cid)
        except Exception as exc:  # noqa: BLE001 - e.g. executable not found: the container stays "created"
            log.info("pod %s/%s container %s failed to start: %s", self.ns, self.name, name, exc)
            self._event(WARNING, "Failed", f"Error: {exc}", name, kind)
            self.wake()
        else:
            self._event(NORMAL, "Started", f"Started container {name}", name, kind)
        self.copiers.ensure(cid, self._log_path(c.get("name", ""), restarts))
        v.current = await self.runtime.inspect(cid)
        v.restart_count = restarts
        return v.current is not None and v.current.running

    async def _probe(self, pod: dict[str, Any], c: dict[str, Any], inst: ContainerInfo,
                     sandbox: ContainerInfo | None, v: ContainerView) -> None:
        prober = self._probers.get(inst.id)
        if prober is None:
            seen = published_status(pod, c.get("name", ""), inst.id)
            name = c.get("name", "")
            prober = ContainerProber(cspec.container_of(c), runtime=self.runtime, cid=inst.id, pod_ip=sandbox.ip if sandbox else None,
                                     on_change=self.wake, seed_ready=seen.get("ready"), seed_started=seen.get("started"),
                                     on_failure=lambda message: self._event(WARNING, "Unhealthy", message, name))
            self._probers[inst.id] = prober
            prober.start()
        v.ready, v.started = prober.ready, prober.started
        if prober.liveness_failed:
            grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 30)
            log.info("pod %s/%s container %s: %s; killing", self.ns, self.name, c.get("name"), prober.last_message)
            probe = prober.failed_probe or "liveness"
            self._event(NORMAL, "Killing", f"Container {c.get('name', '')} failed {probe} probe, will be restarted",
                        c.get("name", ""))
            await prober.stop()
            self._probers.pop(inst.id, None)
            await self.runtime.stop(inst.id, grace)
            v.ready = False
            self.wake()

    async def _drop_stale_probers(self, live_ids: set[str]) -> None:
        for cid in [k for k in self._probers if k not in live_ids]:
            await self._probers.pop(cid).stop()

    def _log_path(self, container: str, restart: int) -> Any:
        return logs.container_log_path(self.cfg.log_dir, self.ns, self.name, self.uid, container, restart)

    async def terminate(self, insts: list[ContainerInfo]) -> None:
        grace = self.rec.termination_grace_s()
        await self.close()
        apps = [i for i in insts if i.running and i.container != SANDBOX_NAME]
        for i in apps:
            self._event(NORMAL, "Killing", f"Stopping container {i.container}", i.container,
                        "init" if i.labels.get(LABEL_KIND) == "init" else "app")
        await asyncio.gather(*(self.runtime.stop(i.id, grace) for i in apps))
        for i in insts:
            await self.copiers.wait(i.id, 1.0)
            self.copiers.forget(i.id)
        await asyncio.gather(*(self.runtime.remove(i.id) for i in insts if i.container != SANDBOX_NAME))
        await asyncio.gather(*(self.runtime.remove(i.id) for i in insts if i.container == SANDBOX_NAME))
        volumes.cleanup_pod_dir(self.cfg.root_dir, self.uid)
        shutil.rmtree(logs.pod_log_dir(self.cfg.log_dir, self.ns, self.name, self.uid), ignore_errors=True)
        if self.rec.pod is not None:
            await self.api.delete_pod_now(self.ns, self.name, self.uid)
        log.info("pod %s/%s (%s) terminated and removed", self.ns, self.name, self.uid)


# WorkerConfig (kubelet.workerconfig) stays importable from here: PodWorker takes it.
__all__ = ["LABEL_CONTAINER", "PodWorker", "WorkerConfig"]
