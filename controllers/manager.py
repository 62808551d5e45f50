"""The controller-manager: selected controllers on one set of shared informers.

Contract:
- `CONTROLLERS` maps a controller name to its constructor `(ControllerContext) -> Controller`;
  `register(name, ctor)` adds one (StatefulSet, DaemonSet, Job, Endpoints, Node lifecycle live
  in their own modules and register here). `DEFAULT_CONTROLLERS` is every registered name.
- `run_controllers(client, names, workers=2, options=ControllerOptions())`: one
  `InformerFactory`, one `EventRecorder` and the flags (`ControllerOptions`) shared by all; every controller keeps its own queue and workers. Workers start only after
  every informer has synced: a controller (above all the garbage collector) must never act on
  a partial cache. Runs until cancelled, then shuts queues and informers down.
- `serve_health(port)`: optional plain-HTTP `/healthz` answering 200 "ok" on 127.0.0.1.
- Unknown names raise `ValueError` naming the known ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from controllers.base import Controller, ControllerContext
from controllers.cronjob import CronJobController
from controllers.daemonset.controller import DaemonSetController
from controllers.deployment.controller import DeploymentController
from controllers.disruption import DisruptionController
from controllers.endpointslice import EndpointSliceController
from controllers.gc import GarbageCollector
from controllers.hpa.controller import HorizontalPodAutoscalerController
from controllers.job.controller import JobController
from controllers.namespace import NamespaceController
from controllers.nodeipam import NodeIpamController
from controllers.nodelifecycle import NodeLifecycleController
from controllers.options import ControllerOptions
from controllers.podgc import PodGarbageCollector
from controllers.replicaset import ReplicaSetController, ReplicationControllerController
from controllers.resourcequota import ResourceQuotaController
from controllers.servicelb import ServiceLBController
from controllers.statefulset.controller import StatefulSetController
from controllers.tainteviction import TaintEvictionController
from controllers.ttlafterfinished import TTLAfterFinishedController
from controllers.volume.binder import PersistentVolumeController
from controllers.volume.protection import PvcProtectionController, PvProtectionController
from machinery.events import ClientSink, EventRecorder
from machinery.informer import InformerFactory

if TYPE_CHECKING:
    from machinery.client import KubeClient

log = logging.getLogger(__name__)

ControllerCtor = Callable[[ControllerContext], Controller]

CONTROLLERS: dict[str, ControllerCtor] = {
    "replicaset": ReplicaSetController,
    "replicationcontroller": ReplicationControllerController,
    "deployment": DeploymentController,
    "garbagecollector": GarbageCollector,
    "namespace": NamespaceController,
    "nodeipam": NodeIpamController,
    "statefulset": StatefulSetController,
    "daemonset": DaemonSetController,
    "job": JobController,
    "cronjob": CronJobController,
    "ttl-after-finished": TTLAfterFinishedController,
    "persistentvolume-binder": PersistentVolumeController,
    "pvc-protection": PvcProtectionController,
    "pv-protection": PvProtectionController,
    "nodelifecycle": NodeLifecycleController,
    "tainteviction": TaintEvictionController,
    "podgc": PodGarbageCollector,
    "resourcequota": ResourceQuotaController,
    "disruption": DisruptionController,
    "endpointslice": EndpointSliceController,  # with the mirroring of selector-less Endpoints
    "horizontalpodautoscaling": HorizontalPodAutoscalerController,
    "servicelb": ServiceLBController,  # node addresses (one host) or --lb-pool (lab cloud provider)
}


def register(name: str, ctor: ControllerCtor) -> None:
    CONTROLLERS[name] = ctor


def _register_optional() -> None:
    """Controllers written in their own issues register here once their module exists."""
    try:
        from controllers.endpoints import EndpointsController
    except ImportError:  # not written yet
        return
    register("endpoints", EndpointsController)
    from controllers.serviceaccounts import RootCAPublisher, ServiceAccountsController

    register("serviceaccount", ServiceAccountsController)
    register("root-ca-cert-publisher", RootCAPublisher)
    from controllers.certificates import CSRApprovingController, CSRSigningController

    register("csrapproving", CSRApprovingController)
    register("csrsigning", CSRSigningController)


_register_optional()


def default_controllers() -> list[str]:
    return list(CONTROLLERS)


def resolve_names(spec: str | Sequence[str] | None) -> list[str]:
    """"a,b" or ["a", "b"]; None, "" or "*" = all registered. Unknown names: ValueError."""
    if spec is None or spec in ("", "*"):
        return default_controllers()
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in CONTROLLERS]
    if unknown:
        raise ValueError(f"unknown controller(s) {', '.join(unknown)}; known: {', '.join(CONTROLLERS)}")
    return names


async def run_controllers(client: KubeClient, names: Sequence[str], *, workers: int = 2,
                          identity: str = "controller-manager", options: ControllerOptions | None = None) -> None:
    factory = InformerFactory(client)
    ctx = ControllerContext(client=client, factory=factory,
                            recorder=EventRecorder(ClientSink(client), component="controller-manager",
                                                   instance=identity),
                            workers=workers, options=options or ControllerOptions())
    controllers = [CONTROLLERS[name](ctx) for name in names]
    await factory.start()
    try:
        await factory.wait_synced()
        log.info("informers synced; running controllers: %s", ", ".join(names))
        await asyncio.gather(*(c.run() for c in controllers))
    finally:
        for c in controllers:
            c.shutdown()
        await ctx.recorder.close()
        await factory.stop()


async def _health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.readline(), 5.0)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
    writer.close()


async def serve_health(port: int) -> asyncio.Server:
    return await asyncio.start_server(_health, "127.0.0.1", port)
