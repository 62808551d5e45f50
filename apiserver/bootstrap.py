"""What a fresh cluster needs before anyone uses it.

Contract: `await ensure_initial_objects(ctx)` is idempotent: it creates the namespaces
default, kube-system, kube-public and kube-node-lease, the PriorityClasses
system-node-critical and system-cluster-critical, and the `kubernetes` Service in
`default` (ClusterIP = the first address of the service range, port 443 -> the API server's
port) when they are missing, through the normal create path (defaults, validation). It never
overwrites what exists. `await recover_allocator(ctx)` rebuilds the ClusterIP/NodePort
allocator from the stored Services; call it first.
"""

from __future__ import annotations

import logging

from apiserver import handlers
from apiserver.handlers_common import Ctx, collection_key
from machinery import errors, registry
from machinery.models import SYSTEM_CLASSES

log = logging.getLogger(__name__)

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def recover_allocator(ctx: Ctx) -> None:
    service = registry.by_kind("Service")
    listed = await ctx.storage.list(collection_key(service, None))
    ctx.allocator.recover(listed.items)
    log.info("allocator: %d ClusterIPs and %d NodePorts in use", len(ctx.allocator.used_ips),
             len(ctx.allocator.used_ports))


async def ensure_initial_objects(ctx: Ctx) -> None:
    namespace = registry.by_kind("Namespace")
    for name in INITIAL_NAMESPACES:
        try:
            await handlers.create(ctx, namespace, None, {"metadata": {"name": name}})
            log.info("created namespace %s", name)
        except errors.AlreadyExists:
            pass
    priority_class = registry.by_kind("PriorityClass")
    for pc_name, value in SYSTEM_CLASSES.items():
        try:
            await handlers.create(ctx, priority_class, None, {
                "metadata": {"name": pc_name}, "value": value,
                "description": "Used for system critical pods that must not be moved from their current node."
                if pc_name == "system-node-critical" else
                "Used for system critical pods that must run in the cluster, but can be moved to another node "
                "if necessary."})
            log.info("created priorityclass %s", pc_name)
        except errors.AlreadyExists:
            pass
    service = registry.by_kind("Service")
    port = ctx.config.advertise_port or ctx.config.port
    body = {
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ctx.allocator.kubernetes_ip, "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    }
    try:
        await handlers.get(ctx, service, "default", "kubernetes")
        return
    except errors.NotFound:
        pass
    try:
        await handlers.create(ctx, service, "default", body, admit_namespace=False)
        log.info("created service default/kubernetes at %s", ctx.allocator.kubernetes_ip)
    except errors.AlreadyExists:
        pass
    except errors.Invalid as e:  # the address is taken by someone else: report, do not crash
        log.warning("could not create the kubernetes service: %s", e)
