"""Setup helpers of the controller unit tests, over the one fake clientset (fake_client.py).

Contract: `preload(informer, *objs)` fills an informer's cache without handlers, so tests
call `sync(key)` on exactly the state they built (`unpreload` takes keys out again);
builders: `make_context`, `make_rs`, `make_pod`, `owner_ref`, namespace `NS`.
"""

from __future__ import annotations

from typing import Any

from controllers.base import ControllerContext
from machinery.events import ClientSink, EventRecorder
from machinery.informer import Informer, InformerFactory
from machinery.meta import Resource
from machinery.models import Deployment, Pod, ReplicaSet
from tests.unit.fake_client import FakeClient


def preload(informer: Informer[Any], *objs: Resource) -> None:
    """Put objects in an informer's cache (indexes included) without calling handlers."""
    for obj in objs:
        informer._store(obj.key, obj)  # test-only shortcut past list+watch
    informer._synced.set()


def unpreload(informer: Informer[Any], *keys: str) -> None:
    for key in keys:
        informer._store(key, None)


# -- object builders for controller tests ------------------------------------------------------

NS = "ns1"
TEMPLATE_SPEC: dict[str, Any] = {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}


def make_context(client: FakeClient | None = None) -> ControllerContext:
    client = client or FakeClient(namespace=NS)
    return ControllerContext(client=client, factory=InformerFactory(client),
                             recorder=EventRecorder(ClientSink(client), component="controller-manager",
                                                      background=False), workers=1)


def make_rs(name: str = "web", *, replicas: int = 3, labels: dict[str, str] | None = None, uid: str = "rs-uid",
            min_ready: int = 0, generation: int = 1, owner: Any = None,
            annotations: dict[str, str] | None = None) -> ReplicaSet:
    labels = labels or {"app": "web"}
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "10",
                            "generation": generation, "creationTimestamp": "2026-01-01T00:00:00Z"}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    if annotations:
        meta["annotations"] = annotations
    return ReplicaSet.from_dict({
        "metadata": meta,
        "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": TEMPLATE_SPEC}},
    })


def make_pod(name: str, *, labels: dict[str, str] | None = None, owner: Any = None, ready: bool = False,
             phase: str = "Running", node: str | None = "n1", created: str = "2026-01-01T00:00:00Z",
             ready_since: str = "2026-01-01T00:00:00Z", rv: str = "5", deleting: bool = False) -> Pod:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": rv,
                            "labels": labels if labels is not None else {"app": "web"},
                            "creationTimestamp": created}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec = dict(TEMPLATE_SPEC)
    if node:
        spec["nodeName"] = node
    status: dict[str, Any] = {"phase": phase}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": ready_since}]
    return Pod.from_dict({"metadata": meta, "spec": spec, "status": status})


def owner_ref(obj: ReplicaSet | Deployment) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": obj.KIND, "name": obj.name, "uid": obj.uid,
            "controller": True, "blockOwnerDeletion": True}
