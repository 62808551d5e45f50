"""Endpoints controller: for each Service with a selector, an Endpoints object of the same name.

Contract (Kubernetes `pkg/controller/endpoint/endpoints_controller.go`):
- Pods of the Service's namespace whose labels match `spec.selector` are listed if they have a
  `status.podIP`, are not terminal (Succeeded/Failed) and are not being deleted
  (`deletionTimestamp`; with `publishNotReadyAddresses` they stay). Ready pods (condition
  Ready=True, or any pod when `publishNotReadyAddresses`) go under `addresses`, the others under
  `notReadyAddresses`, each with `targetRef` (Pod ns/name/uid), `nodeName`, and `hostname` when
  the pod's `spec.hostname` is set and `spec.subdomain` is the Service's name.
- Ports: each Service port's `targetPort` is resolved per pod: a number as is, a name through
  the pod's containerPorts of that name and protocol (a pod without it is left out of that
  port), absent -> `port`. Addresses with the same resolved ports share one subset ("repacked"
  as Kubernetes does); addresses and subsets are sorted so an unchanged state rewrites nothing.
  A headless Service without ports lists its addresses with no ports.
- The Endpoints object carries the Service's labels (plus `service.kubernetes.io/headless` for
  headless Services) and is created, or replaced with its resourceVersion (stale -> 409 ->
  retry), only when subsets or labels differ from the cached one.
- Services without a selector (and ExternalName Services) are left alone: their Endpoints are
  the user's. A deleted Service's Endpoints are deleted.
- Handlers only route: a Service event enqueues it; a Pod event enqueues every Service in the
  pod's namespace whose selector matches the pod's old or new labels (so a readiness change
  written by the kubelet reaches the proxy as fast as the watch delivers it); an Endpoints
  deletion enqueues its Service (a selector Service gets its Endpoints back).

Register in the manager: `EndpointsController(ctx)` (NAME "endpoints").
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.meta import split_key
from machinery.models import Endpoints, Pod, Service, ServicePort
from machinery.selectors import selector_from_map

log = logging.getLogger(__name__)

HEADLESS_LABEL = "service.kubernetes.io/headless"

PortKey = tuple[tuple[str, int, str], ...]  # ((name, port, protocol), ...)


def _is_ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [] if pod.status else []))


def should_list(pod: Pod, publish_not_ready: bool) -> bool:
    """kube's ShouldPodBeInEndpoints: an IP, not terminal, not being deleted."""
    if not pod.status or not pod.status.podIP:
        return False
    if pod.status.phase in ("Succeeded", "Failed"):
        return False
    return publish_not_ready or not pod.metadata.deletionTimestamp


def resolve_target_port(pod: Pod, port: ServicePort) -> int | None:
    target = port.targetPort
    if target is None:
        return port.port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    proto = port.protocol or "TCP"
    for container in (pod.spec.containers if pod.spec else []):
        for cp in container.ports or []:
            if cp.name == target and (cp.protocol or "TCP") == proto:
                return cp.containerPort
    return None


def _address(svc: Service, pod: Pod) -> dict[str, Any]:
    assert pod.status is not None
    addr: dict[str, Any] = {
        "ip": pod.status.podIP,
        "targetRef": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name},
    }
    if pod.uid:
        addr["targetRef"]["uid"] = pod.uid
    if pod.spec and pod.spec.nodeName:
        addr["nodeName"] = pod.spec.nodeName
    if pod.spec and pod.spec.hostname and pod.spec.subdomain == svc.name and pod.namespace == svc.namespace:
        addr["hostname"] = pod.spec.hostname
    return addr


def desired_subsets(svc: Service, pods: list[Pod]) -> list[dict[str, Any]]:
    """The repacked, sorted subsets (wire dicts) for `svc` over the candidate `pods`."""
    assert svc.spec is not None
    publish = bool(svc.spec.publishNotReadyAddresses)
    selector = selector_from_map(svc.spec.selector or {})
    headless = svc.spec.clusterIP == "None"
    groups: dict[PortKey, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"ready": [], "not": []})
    for pod in pods:
        if pod.namespace != svc.namespace or not selector.matches(pod.metadata.labels):
            continue
        if not should_list(pod, publish):
            continue
        ports: list[tuple[str, int, str]] = []
        for sp in svc.spec.ports or []:
            target = resolve_target_port(pod, sp)
            if target is not None:
                ports.append((sp.name or "", target, sp.protocol or "TCP"))
        if not ports and not (headless and not svc.spec.ports):
            continue  # no port of this Service resolves on this pod
        bucket = "ready" if publish or _is_ready(pod) else "not"
        groups[tuple(sorted(ports))][bucket].append(_address(svc, pod))
    subsets: list[dict[str, Any]] = []
    for key in sorted(groups):
        group = groups[key]
        subset: dict[str, Any] = {}
        for bucket, field in (("ready", "addresses"), ("not", "notReadyAddresses")):
            if group[bucket]:
                subset[field] = sorted(group[bucket], key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if key:
            subset["ports"] = [{"name": n or None, "port": p, "protocol": proto} for n, p, proto in key]
            for port in subset["ports"]:
                if port["name"] is None:
                    del port["name"]
        subsets.append(subset)
    return subsets


def desired_labels(svc: Service) -> dict[str, str]:
    labels = dict(svc.metadata.labels or {})
    if svc.spec is not None and svc.spec.clusterIP == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


class EndpointsController(Controller):
    NAME = "endpoints"
    KIND = Service

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.svc_informer = ctx.factory.informer(Service)
        self.pod_informer = ctx.factory.informer(Pod)
        self.ep_informer = ctx.factory.informer(Endpoints)
        self.svc_informer.add_handlers(on_add=self.enqueue, on_update=self._svc_updated, on_delete=self.enqueue)
        self.pod_informer.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                                       on_delete=self._pod_added)
        self.ep_informer.add_handlers(on_delete=self.enqueue)

    # -- handlers: route keys, nothing else ---------------------------------------------------

    def _svc_updated(self, old: Service, new: Service) -> None:
        self.enqueue(new)

    def _services_for(self, pod: Pod) -> list[str]:
        keys = []
        for svc in self.svc_informer.by_index("namespace", pod.namespace or ""):
            if svc.spec and svc.spec.selector and selector_from_map(svc.spec.selector).matches(pod.metadata.labels):
                keys.append(svc.key)
        return keys

    def _pod_added(self, pod: Pod) -> None:
        for key in self._services_for(pod):
            self.enqueue_key(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.resource_version == new.resource_version:
            return  # a resync: nothing changed
        for key in set(self._services_for(old)) | set(self._services_for(new)):
            self.enqueue_key(key)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        svc = self.svc_informer.get(key)
        if svc is None:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(Endpoints, name, namespace=namespace)
            return
        if svc.spec is None or not svc.spec.selector or svc.spec.type == "ExternalName":
            return  # the user's Endpoints (or none at all): not ours to manage
        pods = self.pod_informer.by_index("namespace", namespace or "")
        subsets = desired_subsets(svc, pods)
        labels = desired_labels(svc)
        current = self.ep_informer.get(key)
        if current is not None and _same(current, subsets, labels):
            return
        meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or None}
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
                                "subsets": subsets or None}
        if current is None:
            try:
                await self.client.create(Endpoints.model_validate(body), namespace=namespace)
                return
            except errors.AlreadyExists:
                # The cache lags behind (or a user created it): update the stored one instead.
                current = await self.client.get(Endpoints, name, namespace=namespace)
        assert current is not None
        merged = current.to_dict()
        merged["metadata"]["labels"] = labels or None
        merged["subsets"] = subsets or None
        # replace carries current's resourceVersion: a concurrent write gets 409 and we retry.
        await self.client.replace(Endpoints.model_validate(_drop_none(merged)))


def _same(current: Endpoints, subsets: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    have = [s.to_dict() for s in current.subsets or []]
    return have == subsets and dict(current.metadata.labels or {}) == labels


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None} | {
        "metadata": {k: v for k, v in d["metadata"].items() if v is not None}}


__all__ = ["EndpointsController", "desired_subsets", "resolve_target_port"]
