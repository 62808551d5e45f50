"""EndpointSlice controller (and its mirroring twin) for discovery.k8s.io/v1.

Contract (Kubernetes `pkg/controller/endpointslice` and `pkg/controller/endpointslicemirroring`):
- A Service with a selector (not ExternalName) gets slices labelled
  `kubernetes.io/service-name: <svc>` and `endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io` (plus the Service's own labels and
  `service.kubernetes.io/headless` for headless Services), named by `generateName: <svc>-`,
  controller-owned by the Service (the garbage collector removes them with it), addressType
  IPv4, at most `MAX_ENDPOINTS_PER_SLICE` (100) endpoints each.
- Endpoints: the pods matching the selector with a pod IP that are not Succeeded/Failed,
  terminating ones included (as Kubernetes since EndpointSliceTerminatingCondition):
  `serving` = pod Ready (or publishNotReadyAddresses), `terminating` = deletionTimestamp set,
  `ready` = publishNotReadyAddresses or (serving and not terminating); `nodeName`, `zone`
  (the Node's topology.kubernetes.io/zone label), `targetRef` Pod, `hostname` when
  spec.hostname is set and spec.subdomain is the Service's name. Pods group by their resolved
  port set (targetPort names resolved per pod, controllers/endpoints.resolve_target_port); one
  group -> one or more slices.
- Reconciling keeps churn low as Kubernetes' reconciler does: an endpoint stays in the slice
  that has it; new endpoints fill slices with room before a new slice is created; a slice is
  written only when its endpoints, ports, labels or owner changed; emptied slices are deleted.
  A Service without any endpoint keeps exactly one placeholder slice (no ports, no endpoints).
- Mirroring: a Service WITHOUT a selector whose Endpoints object exists (and is not labelled
  `endpointslice.kubernetes.io/skip-mirror: "true"`) gets that Endpoints mirrored into slices
  managed by `endpointslicemirroring-controller.k8s.io` and owned by the Endpoints object
  (addresses ready, notReadyAddresses not ready). The cluster DNS Service is such a one.
- Slices of a deleted Service, or managed by the other mode after a selector change, are deleted.
- Stale caches: every slice this controller wrote is remembered with its resourceVersion (and
  every deletion by name); a sync whose informer has not yet seen them re-queues itself after
  `STALE_RETRY_S` instead of acting on the old view (the duplicate-slice bug Kubernetes'
  EndpointSliceTracker prevents).
- Handlers only route: Service events, pod events (every Service whose selector matches the
  old or new labels), Endpoints events and events of slices we manage enqueue the Service key.

Register in the manager: `EndpointSliceController(ctx)` (NAME "endpointslice").
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from controllers.endpoints import HEADLESS_LABEL, resolve_target_port
from machinery import errors
from machinery.endpointslices import (
    SERVICE_INDEX,
    EndpointGroups,
    from_endpoints,
    port_key,
    ports_of,
    service_index,
    slice_port_key,
)
from machinery.meta import OwnerReference, Resource, split_key
from machinery.models import (
    MANAGED_BY_CONTROLLER,
    MANAGED_BY_LABEL,
    MANAGED_BY_MIRRORING,
    MAX_ENDPOINTS_PER_SLICE,
    SERVICE_NAME_LABEL,
    Endpoint,
    Endpoints,
    EndpointSlice,
    Node,
    Pod,
    Service,
)
from machinery.selectors import selector_from_map

log = logging.getLogger(__name__)

ZONE_LABEL = "topology.kubernetes.io/zone"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
STALE_RETRY_S = 0.2
OURS = (MANAGED_BY_CONTROLLER, MANAGED_BY_MIRRORING)


def _pod_ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [] if pod.status else []))


def pod_endpoint(svc: Service, pod: Pod, zone: str | None) -> dict[str, Any]:
    """The wire Endpoint for `pod` behind `svc` (podToEndpoint)."""
    assert pod.status is not None and svc.spec is not None
    publish = bool(svc.spec.publishNotReadyAddresses)
    serving = publish or _pod_ready(pod)
    terminating = pod.metadata.deletionTimestamp is not None
    ep: dict[str, Any] = {
        "addresses": [pod.status.podIP],
        "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                       "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid},
    }
    if pod.spec and pod.spec.nodeName:
        ep["nodeName"] = pod.spec.nodeName
    if zone:
        ep["zone"] = zone
    if pod.spec and pod.spec.hostname and pod.spec.subdomain == svc.name:
        ep["hostname"] = pod.spec.hostname
    return ep


def desired_groups(svc: Service, pods: list[Pod], zone_of: Any = lambda _node: None) -> EndpointGroups:
    """{port key: {ip: endpoint}} for a selector Service over the candidate `pods`."""
    assert svc.spec is not None
    selector = selector_from_map(svc.spec.selector or {})
    headless_no_ports = svc.spec.clusterIP == "None" and not svc.spec.ports
    groups: EndpointGroups = {}
    for pod in pods:
        if pod.namespace != svc.namespace or not selector.matches(pod.metadata.labels):
            continue
        if not pod.status or not pod.status.podIP or pod.status.phase in ("Succeeded", "Failed"):
            continue
        if ":" in pod.status.podIP:
            continue  # addressType IPv4 only: this cluster is single-stack
        ports = []
        for sp in svc.spec.ports or []:
            target = resolve_target_port(pod, sp)
            if target is not None:
                ports.append((sp.name or "", target, sp.protocol or "TCP"))
        if not ports and not headless_no_ports:
            continue
        node = pod.spec.nodeName if pod.spec else None
        groups.setdefault(port_key(ports), {})[pod.status.podIP] = pod_endpoint(svc, pod, zone_of(node))
    return groups


def slice_labels(svc: Service, managed_by: str) -> dict[str, str]:
    labels = {k: v for k, v in (svc.metadata.labels or {}).items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    if svc.spec is not None and svc.spec.clusterIP == "None":
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = svc.name
    labels[MANAGED_BY_LABEL] = managed_by
    return labels


def _owner(obj: Resource) -> dict[str, Any]:
    return OwnerReference(apiVersion=obj.api_version(), kind=obj.KIND, name=obj.name, uid=obj.uid,
                          controller=True, blockOwnerDeletion=True).to_dict()


def _norm(endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [Endpoint.model_validate(e).to_dict() for e in sorted(endpoints, key=lambda e: e["addresses"][0])]


class _Planned:
    def __init__(self, current: EndpointSlice | None, key: tuple[tuple[str, int, str], ...],
                 endpoints: list[dict[str, Any]]) -> None:
        self.current, self.key, self.endpoints = current, key, endpoints


class EndpointSliceController(Controller):
    NAME = "endpointslice"
    KIND = Service

    def __init__(self, ctx: ControllerContext, *, max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        super().__init__(ctx)
        self.max_per_slice = max_per_slice
        self.svc_informer = ctx.factory.informer(Service)
        self.pod_informer = ctx.factory.informer(Pod)
        self.node_informer = ctx.factory.informer(Node)
        self.ep_informer = ctx.factory.informer(Endpoints)
        self.slice_informer = ctx.factory.informer(EndpointSlice)
        self.slice_informer.add_index(SERVICE_INDEX, service_index)
        self.svc_informer.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                       on_delete=self.enqueue)
        self.pod_informer.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated,
                                       on_delete=self._pod_changed)
        self.ep_informer.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self.enqueue)
        self.slice_informer.add_handlers(on_add=self._slice_changed, on_update=lambda _o, n: self._slice_changed(n),
                                         on_delete=self._slice_changed)
        # service key -> {slice name: resourceVersion we wrote (None: we deleted it)}
        self._written: dict[str, dict[str, int | None]] = {}

    # -- handlers: route keys ----------------------------------------------------------------

    def _services_for(self, pod: Pod) -> set[str]:
        return {svc.key for svc in self.svc_informer.by_index("namespace", pod.namespace or "")
                if svc.spec and svc.spec.selector and selector_from_map(svc.spec.selector).matches(pod.metadata.labels)}

    def _pod_changed(self, pod: Pod) -> None:
        for key in self._services_for(pod):
            self.enqueue_key(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.resource_version == new.resource_version:
            return
        for key in self._services_for(old) | self._services_for(new):
            self.enqueue_key(key)

    def _slice_changed(self, es: EndpointSlice) -> None:
        key = service_key_of_ours(es)
        if key:
            self.enqueue_key(key)

    # -- sync ----------------------------------------------------------------------------------

    def _stale(self, key: str, namespace: str) -> bool:
        for name, rv in self._written.get(key, {}).items():
            cached = self.slice_informer.get(f"{namespace}/{name}")
            if rv is None and cached is not None:
                return True
            if rv is not None and (cached is None or int(cached.resource_version or 0) < rv):
                return True
        self._written.pop(key, None)
        return False

    def _zone(self, node: str | None) -> str | None:
        n = self.node_informer.get(node) if node else None
        return (n.metadata.labels or {}).get(ZONE_LABEL) if n is not None else None

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        ns = namespace or ""
        if self._stale(key, ns):
            self.queue.add_after(key, STALE_RETRY_S)
            return
        mine = [s for s in self.slice_informer.by_index(SERVICE_INDEX, key)
                if (s.metadata.labels or {}).get(MANAGED_BY_LABEL) in OURS]
        svc = self.svc_informer.get(key)
        managed_by: str | None = None
        groups: EndpointGroups | None = None
        owner: Resource | None = None
        if svc is not None and svc.spec is not None and svc.spec.type != "ExternalName":
            if svc.spec.selector:
                managed_by, owner = MANAGED_BY_CONTROLLER, svc
                groups = desired_groups(svc, self.pod_informer.by_index("namespace", ns), self._zone)
            else:
                ep = self.ep_informer.get(key)
                if ep is not None and (ep.metadata.labels or {}).get(SKIP_MIRROR_LABEL) != "true":
                    managed_by, owner, groups = MANAGED_BY_MIRRORING, ep, from_endpoints(ep)
        for es in mine:
            if (es.metadata.labels or {}).get(MANAGED_BY_LABEL) != managed_by:
                await self._delete(key, es)
        if svc is None or managed_by is None or groups is None or owner is None:
            return
        current = [s for s in mine if (s.metadata.labels or {}).get(MANAGED_BY_LABEL) == managed_by]
        await self._reconcile(key, svc, owner, managed_by, groups, current)

    def _plan(self, groups: EndpointGroups, current: list[EndpointSlice]) -> tuple[list[_Planned], list[EndpointSlice]]:
        remaining = {k: dict(v) for k, v in groups.items()}
        plan: list[_Planned] = []
        delete: list[EndpointSlice] = []
        for es in sorted(current, key=lambda s: s.name):
            key = slice_port_key(es)
            want = remaining.get(key)
            if want is None:
                delete.append(es)
                continue
            kept = [want.pop(a) for e in es.endpoints or [] for a in e.addresses[:1] if a in want]
            plan.append(_Planned(es, key, kept[: self.max_per_slice]))
        for key in sorted(remaining):
            want = remaining[key]
            for item in plan:  # fill slices with room first (fewer writes than a new slice)
                while want and item.key == key and len(item.endpoints) < self.max_per_slice:
                    item.endpoints.append(want.pop(min(want)))
            while want:
                chunk = [want.pop(a) for a in sorted(want)[: self.max_per_slice]]
                plan.append(_Planned(None, key, chunk))
        keep = [p for p in plan if p.endpoints]
        delete += [p.current for p in plan if not p.endpoints and p.current is not None]
        if not keep:  # no endpoint at all: exactly one placeholder slice (no ports, no endpoints)
            placeholder = next((s for s in delete if not s.endpoints and not s.ports), None)
            keep = [_Planned(placeholder, (), [])]
            delete = [s for s in delete if s is not placeholder]
        return keep, delete

    async def _reconcile(self, key: str, svc: Service, owner: Resource, managed_by: str,
                         groups: EndpointGroups, current: list[EndpointSlice]) -> None:
        keep, delete = self._plan(groups, current)
        labels = slice_labels(svc, managed_by)
        owners = [_owner(owner)]
        for item in keep:
            endpoints, ports = _norm(item.endpoints), ports_of(item.key)
            es = item.current
            if es is None:
                body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"generateName": f"{svc.name}-", "namespace": svc.namespace,
                                     "labels": labels, "ownerReferences": owners},
                        "addressType": "IPv4", "ports": ports, "endpoints": endpoints}
                created = await self.client.create(EndpointSlice.model_validate(body), namespace=svc.namespace)
                self._remember(key, created.name, created.resource_version)
                continue
            have = es.to_dict()
            same = (_norm(have.get("endpoints") or []) == endpoints
                    and [{"name": p.get("name") or "", "port": p.get("port"), "protocol": p.get("protocol") or "TCP"}
                         for p in have.get("ports") or []] == ports
                    and (es.metadata.labels or {}) == labels
                    and [o.to_dict() for o in es.metadata.ownerReferences or []] == owners)
            if same:
                continue
            have.update(endpoints=endpoints, ports=ports)
            have["metadata"]["labels"] = labels
            have["metadata"]["ownerReferences"] = owners
            updated = await self.client.replace(EndpointSlice.model_validate(have))  # 409 on a stale rv: retried
            self._remember(key, updated.name, updated.resource_version)
        for es in delete:
            await self._delete(key, es)

    def _remember(self, key: str, name: str, rv: str | None) -> None:
        self._written.setdefault(key, {})[name] = int(rv or 0)

    async def _delete(self, key: str, es: EndpointSlice) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(EndpointSlice, es.name, namespace=es.namespace)
        self._written.setdefault(key, {})[es.name] = None


def service_key_of_ours(es: EndpointSlice) -> str:
    labels = es.metadata.labels or {}
    name = labels.get(SERVICE_NAME_LABEL)
    return f"{es.namespace}/{name}" if name and labels.get(MANAGED_BY_LABEL) in OURS else ""


__all__ = ["EndpointSliceController", "desired_groups", "pod_endpoint", "slice_labels"]
