"""`python -m scheduler --kubeconfig F [--scheduler-name default-scheduler] [--leader-elect]`.

Contract: wires the `Scheduler` to the API: one shared Pod informer (all pods: unscheduled ones
are work, bound ones are node usage), a Node informer and a Service informer (spreading by
Service selector), PVC/PV/StorageClass informers (volume binding), all from one
`InformerFactory`; binding through `ApiClient.bind`, status through PATCH pods/NAME/status,
events through core/v1 Event. Bindings (at most `--binds-in-flight`, default 32) and Events
(at most `--events-qps` 50/s after a burst of 100, as kube-scheduler's event client) use a
second client with its own connections (`ApiClient(slots=N)`: machinery.leanhttp's transport). Informers resume lost watches
and relist on 410, and the client retries 5xx/connection errors, so an API server restart
only pauses scheduling. With `--leader-elect` only the holder of the `kube-scheduler` Lease in
kube-system schedules (`machinery.leaderelection`); losing the lease exits
the process, as Kubernetes does, so a supervisor restarts it clean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from machinery import gcsettle, prom
from machinery.client import ApiClient
from machinery.events import ClientSink, EventRecorder
from machinery.informer import InformerFactory
from machinery.leaderelection import LeaderElector
from machinery.logsetup import setup_logging
from machinery.models import (
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Service,
    StorageClass,
)
from machinery.selectors import LabelSelector, selector_from_map
from scheduler.core import Scheduler
from scheduler.info import DEFAULT_SCHEDULER, PodInfo
from scheduler.volumebinding import VolumeBinder

log = logging.getLogger("scheduler")
MERGE = {"Content-Type": "application/merge-patch+json"}
BINDS_IN_FLIGHT = 32
EVENTS_QPS = 50.0  # kube-scheduler's default client QPS / burst, which its event client has too
EVENTS_BURST = 100
EVENT_SENDERS = 4


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scheduler", description="kubelite scheduler")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default $KUBECONFIG, then $KUBELITE_HOME)")
    p.add_argument("--scheduler-name", default=DEFAULT_SCHEDULER, help="schedule pods with this spec.schedulerName")
    p.add_argument("--leader-elect", action="store_true", help="run only while holding the kube-scheduler Lease")
    p.add_argument("--seed", type=int, default=None, help="seed ties between equal scores (tests)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--binds-in-flight", type=int, default=BINDS_IN_FLIGHT,
                   help="bindings written concurrently (each on its own connection of a dedicated pool)")
    p.add_argument("--events-qps", type=float, default=EVENTS_QPS,
                   help="Events written per second at most after --events-burst (kube-scheduler's client: 50)")
    p.add_argument("--events-burst", type=int, default=EVENTS_BURST)
    p.add_argument("--metrics-bind-address", default="",
                   help="HOST:PORT to serve Prometheus /metrics on (empty or port 0: off)")
    return p.parse_args(argv)


def _service_selectors(services: Any) -> Any:
    def selectors(pod: PodInfo) -> list[LabelSelector]:
        found: list[LabelSelector] = []
        for svc in services.list():
            if svc.metadata.namespace != pod.namespace or not svc.spec or not svc.spec.selector:
                continue
            sel = selector_from_map(svc.spec.selector)
            if sel.matches(pod.labels):
                found.append(sel)
        return found

    return selectors


async def run_scheduler(client: ApiClient, *, scheduler_name: str, seed: int | None = None,
                        bind_client: ApiClient | None = None, binds_in_flight: int = BINDS_IN_FLIGHT,
                        events_qps: float = EVENTS_QPS, events_burst: int = EVENTS_BURST) -> None:
    """Run informers + the scheduling loop until cancelled. Bindings and Events go through
    `bind_client` (default `client`): give it `binds_in_flight + EVENT_SENDERS` slots
    (`ApiClient(slots=N)`), so neither waits for the other."""
    binder = bind_client or client
    factory = InformerFactory(client)
    pods = factory.informer(Pod)
    nodes = factory.informer(Node)
    services = factory.informer(Service)
    claims = factory.informer(PersistentVolumeClaim)
    volumes = factory.informer(PersistentVolume)
    classes = factory.informer(StorageClass)
    budgets = factory.informer(PodDisruptionBudget)

    async def patch_status(namespace: str, name: str, patch: dict[str, Any]) -> None:
        await client.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status", json=patch, headers=MERGE)

    async def patch_claim(namespace: str, name: str, patch: dict[str, Any]) -> None:
        await client.patch(PersistentVolumeClaim, name, patch, namespace=namespace)

    async def bind(namespace: str, name: str, node: str) -> None:
        await binder.bind(namespace, name, node)

    async def delete_pod(namespace: str, name: str, uid: str) -> None:  # a preemption victim, gracefully
        await client.delete(Pod, name, namespace=namespace, preconditions={"uid": uid} if uid else None)

    def pdbs() -> list[dict[str, Any]]:
        return [b.to_dict() for b in budgets.list()]

    # Raw JSON events: the answers are not needed, so skip the model round trip (CPU per pod).
    # Rate-limited as kube-scheduler's event client: a burst of Scheduled events waits, then
    # overflows the 1,000-event backlog and is dropped, instead of competing with bindings.
    recorder = EventRecorder(
        ClientSink(binder, raw=True, qps=events_qps, burst=events_burst), component=scheduler_name,
        instance=f"{scheduler_name}-{socket.gethostname()}", max_pending=1000, senders=EVENT_SENDERS,
    )
    sched = Scheduler(
        get_pod=pods.get,
        bind=bind,
        patch_status=patch_status,
        recorder=recorder,
        scheduler_name=scheduler_name,
        rng=random.Random(seed) if seed is not None else None,
        service_selectors=_service_selectors(services),
        volumes=VolumeBinder(get_claim=claims.get, get_volume=volumes.get, get_class=classes.get,
                             patch_claim=patch_claim),
        delete_pod=delete_pod,
        pdbs=pdbs,
        max_binds_in_flight=binds_in_flight,
    )
    nodes.add_handlers(on_add=sched.on_node_add, on_update=sched.on_node_update, on_delete=sched.on_node_delete)
    pods.add_handlers(on_add=sched.on_pod_add, on_update=sched.on_pod_update, on_delete=sched.on_pod_delete)
    services.add_handlers(
        on_add=sched.on_service_change, on_update=sched.on_service_change, on_delete=sched.on_service_change
    )
    # A claim or volume appearing or binding may make parked pods schedulable.
    for inf in (claims, volumes, classes):
        inf.add_handlers(on_add=sched.on_service_change, on_update=sched.on_service_change)
    recorder.start()
    await factory.start()
    try:
        await factory.wait_synced()
        log.info("caches synced: %d nodes, %d pods; scheduling", len(nodes.list()), len(pods.list()))
        gcsettle.settle()  # collections no longer walk the caches' objects
        await sched.run()
    finally:
        await recorder.stop()
        await factory.stop()


def lease_name(scheduler_name: str) -> str:
    """The Lease schedulers of one name compete for (Kubernetes' default: kube-scheduler)."""
    return "kube-scheduler" if scheduler_name == DEFAULT_SCHEDULER else scheduler_name


async def _run(client: ApiClient, bind_client: ApiClient, args: argparse.Namespace) -> None:
    await run_scheduler(client, scheduler_name=args.scheduler_name, seed=args.seed, bind_client=bind_client,
                        binds_in_flight=args.binds_in_flight, events_qps=args.events_qps,
                        events_burst=args.events_burst)


async def _leader_elected(client: ApiClient, bind_client: ApiClient, args: argparse.Namespace,
                          stopping: asyncio.Event) -> None:
    identity = f"{socket.gethostname()}_{os.getpid()}"
    name = lease_name(args.scheduler_name)
    elector = LeaderElector(client, name, namespace="kube-system", identity=identity)

    async def started() -> None:
        log.info("acquired the %s lease as %s", name, identity)
        await _run(client, bind_client, args)

    def stopped() -> None:
        if stopping.is_set():
            return  # our own shutdown: the elector has released the lease
        # Another scheduler may be leading now: stop at once rather than double-schedule.
        log.error("lost the %s lease; exiting", name)
        os._exit(1)

    await elector.run(started, stopped)


async def amain(args: argparse.Namespace) -> None:
    client = ApiClient.from_kubeconfig(args.kubeconfig)
    # Bindings and Events: connections of their own, spoken to by machinery.leanhttp (httpcore's
    # per-request cost was most of a binding's CPU); the same retries, errors and credentials.
    bind_client = ApiClient.from_kubeconfig(args.kubeconfig, slots=args.binds_in_flight + EVENT_SENDERS)
    stopping = asyncio.Event()
    task = asyncio.current_task()

    def on_signal() -> None:
        # Cancel cleanly so a leader releases its Lease and a successor takes over at once.
        stopping.set()
        if task is not None:
            task.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        if args.leader_elect:
            await _leader_elected(client, bind_client, args, stopping)
        else:
            await _run(client, bind_client, args)
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
    finally:
        await bind_client.aclose()
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(str(args.log_level))
    prom.serve(args.metrics_bind_address)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args))
    sys.exit(0)
