"""PV binder with the local-path provisioner, PVC protection, scheduler volume binding and the
kubelet's claim mounts: sync(key) with the recording fake, exact API calls."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from controllers.options import ControllerOptions
from controllers.volume import localpath
from controllers.volume.binder import PersistentVolumeController
from controllers.volume.protection import PvcProtectionController, PvProtectionController
from kubelet import volumes
from kubelet.volumesource import VolumeError
from machinery import errors
from machinery.informer import Informer
from machinery.models import PersistentVolume, PersistentVolumeClaim, Pod, StorageClass
from scheduler.info import node_info, pod_info
from scheduler.volumebinding import UNBOUND_IMMEDIATE, VOLUME_CONFLICT, VolumeBinder, VolumeBindingError
from tests.unit.builders import NS, make_context, make_pod, preload
from tests.unit.fake_client import FakeClient

Calls = list[tuple[str, str, str]]


def _claim(name: str = "data", *, cls: str | None = "local", node: str | None = None, uid: str = "c-uid",
           volume: str | None = None, phase: str = "Pending") -> PersistentVolumeClaim:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "7"}
    if node:
        meta["annotations"] = {"volume.kubernetes.io/selected-node": node}
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    return PersistentVolumeClaim.from_dict({"metadata": meta, "spec": spec, "status": {"phase": phase}})


def _class(name: str = "local", *, default: bool = False, mode: str = "WaitForFirstConsumer",
           provisioner: str = localpath.PROVISIONER) -> StorageClass:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return StorageClass.from_dict({"metadata": meta, "provisioner": provisioner, "reclaimPolicy": "Delete",
                                   "volumeBindingMode": mode})


def _binder(*objs: Any, options: ControllerOptions | None = None) -> tuple[FakeClient, PersistentVolumeController]:
    client = FakeClient(namespace=NS)
    client.add(*objs)
    ctx = make_context(client)
    if options is not None:
        ctx.options = options
    c = PersistentVolumeController(ctx)
    for inf in (c.claims, c.volumes, c.classes, c.pods):
        preload(inf)
    for obj in objs:
        infs: dict[str, Informer[Any]] = {"PersistentVolumeClaim": c.claims, "PersistentVolume": c.volumes,
                                          "StorageClass": c.classes, "Pod": c.pods}
        preload(infs[obj.KIND], obj)
    return client, c


async def _sync(client: FakeClient, c: Any, key: str) -> Calls:
    client.calls.clear()
    await c.sync(key)
    return [(x.verb, x.kind, x.name) for x in client.calls if x.kind != "Event"]


def _events(client: FakeClient) -> list[str]:
    return [x.body["reason"] for x in client.calls if x.kind == "Event" and x.verb == "create"]


async def test_claim_waits_for_first_consumer_then_gets_a_volume_on_the_selected_node() -> None:
    client, c = _binder(_class(), _claim(), options=ControllerOptions(local_path_dir="/srv/lp"))
    assert await _sync(client, c, f"claim:{NS}/data") == []
    assert _events(client) == ["WaitForFirstConsumer"]
    claim = _claim(node="node-a")
    client.add(claim)
    preload(c.claims, claim)
    calls = await _sync(client, c, f"claim:{NS}/data")
    assert calls == [("patch", "PersistentVolumeClaim", "data"), ("create", "PersistentVolume", "pvc-c-uid"),
                     ("patch/status", "PersistentVolume", "pvc-c-uid"), ("patch", "PersistentVolumeClaim", "data"),
                     ("patch/status", "PersistentVolumeClaim", "data")]
    assert "ProvisioningSucceeded" in _events(client)
    pv = client.stored(PersistentVolume, "pvc-c-uid")
    assert pv.spec.hostPath.path == f"/srv/lp/pvc-c-uid_{NS}_data" and pv.spec.hostPath.type == "DirectoryOrCreate"
    assert localpath.volume_node(pv) == "node-a" and pv.spec.persistentVolumeReclaimPolicy == "Delete"
    assert (pv.spec.claimRef.name, pv.spec.claimRef.uid) == ("data", "c-uid")
    assert pv.status.phase == "Bound"
    stored = client.stored(PersistentVolumeClaim, "data", NS)
    assert stored.spec.volumeName == "pvc-c-uid" and stored.status.phase == "Bound"
    assert stored.status.capacity == {"storage": "1Gi"} and stored.status.accessModes == ["ReadWriteOnce"]


async def test_default_class_is_written_into_a_claim_without_class() -> None:
    client, c = _binder(_class("standard", default=True), _claim(cls=None))
    assert await _sync(client, c, f"claim:{NS}/data") == [("patch", "PersistentVolumeClaim", "data")]
    assert client.calls[0].body == {"spec": {"storageClassName": "standard"}}


async def test_static_volume_that_fits_is_bound_smallest_first() -> None:
    def pv(name: str, size: str) -> PersistentVolume:
        return PersistentVolume.from_dict({"metadata": {"name": name, "resourceVersion": "3"}, "spec": {
            "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
            "hostPath": {"path": f"/tmp/{name}"}}, "status": {"phase": "Available"}})
    client, c = _binder(pv("big", "10Gi"), pv("small", "2Gi"), pv("tiny", "100Mi"), _claim(cls="manual"))
    calls = await _sync(client, c, f"claim:{NS}/data")
    assert calls == [("patch", "PersistentVolume", "small"), ("patch/status", "PersistentVolume", "small"),
                     ("patch", "PersistentVolumeClaim", "data"), ("patch/status", "PersistentVolumeClaim", "data")]


async def test_released_volume_retain_keeps_it_and_delete_runs_the_helper_pod() -> None:
    claim = _claim(node="node-a")
    pv = localpath.new_volume(claim, _class(), "node-a", "/srv/lp")
    pv.metadata.resourceVersion = "4"
    retained = pv.model_copy(deep=True)
    assert retained.spec is not None
    retained.metadata.name = "kept"
    retained.spec.persistentVolumeReclaimPolicy = "Retain"
    client, c = _binder(pv, retained)  # the claim is gone
    client.fail("get", "PersistentVolumeClaim", errors.NotFound("gone"))
    calls = await _sync(client, c, "volume:kept")
    assert calls == [("get", "PersistentVolumeClaim", "data"), ("patch/status", "PersistentVolume", "kept")]
    assert client.stored(PersistentVolume, "kept").status.phase == "Released"
    calls = await _sync(client, c, f"volume:{pv.name}")
    helper = localpath.helper_name(pv)
    assert calls == [("get", "PersistentVolumeClaim", "data"), ("patch/status", "PersistentVolume", pv.name),
                     ("create", "Pod", helper)]
    pod = client.stored(Pod, helper, localpath.HELPER_NAMESPACE)
    assert pod.spec.nodeName == "node-a" and pod.spec.containers[0].command == ["rm", "-rf", f"/data/{pv.name}_{NS}_data"]
    assert pod.spec.volumes[0].hostPath.path == "/srv/lp"
    preload(c.pods, Pod.from_dict({**pod.to_dict(), "status": {"phase": "Succeeded"}}))
    preload(c.volumes, client.stored(PersistentVolume, pv.name))
    calls = await _sync(client, c, f"volume:{pv.name}")
    assert calls[-2:] == [("delete", "Pod", helper), ("delete", "PersistentVolume", pv.name)]


async def test_pvc_protection_adds_finalizer_and_waits_for_pods() -> None:
    client = FakeClient(namespace=NS)
    claim = _claim()
    client.add(claim)
    c = PvcProtectionController(make_context(client))
    preload(c.claims, claim)
    preload(c.pods)
    assert await _sync(client, c, f"{NS}/data") == [("patch", "PersistentVolumeClaim", "data")]
    assert client.calls[0].body["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    deleting = client.stored(PersistentVolumeClaim, "data", NS)
    deleting.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    preload(c.claims, deleting)
    user = make_pod("user")
    assert user.spec is not None
    user.spec.volumes = [type(user.spec).model_validate({"containers": [], "volumes": [
        {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}).volumes[0]]  # type: ignore[index]
    preload(c.pods, user)
    assert await _sync(client, c, f"{NS}/data") == []  # in use: the finalizer stays
    done = user.model_copy(deep=True)
    assert done.status is not None
    done.status.phase = "Succeeded"
    preload(c.pods, done)
    calls = await _sync(client, c, f"{NS}/data")
    assert calls == [("list", "Pod", ""), ("patch", "PersistentVolumeClaim", "data")]
    assert client.calls[-1].body["metadata"]["finalizers"] is None


def _binder_for(objs: dict[str, Any]) -> tuple[VolumeBinder, list[tuple[str, str, dict[str, Any]]]]:
    patches: list[tuple[str, str, dict[str, Any]]] = []

    async def patch(ns: str, name: str, body: dict[str, Any]) -> None:
        patches.append((ns, name, body))

    return VolumeBinder(get_claim=lambda k: objs.get(f"claim/{k}"), get_volume=lambda k: objs.get(f"pv/{k}"),
                        get_class=lambda k: objs.get(f"sc/{k}"), patch_claim=patch, poll_s=0.01), patches


def _claim_pod() -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": NS}, "spec": {"containers": [], "volumes": [
        {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}


async def test_scheduler_volume_binding_prefilter_filter_and_prebind() -> None:
    objs: dict[str, Any] = {}
    binder, patches = _binder_for(objs)
    assert binder.prefilter(_claim_pod()) == 'persistentvolumeclaim "data" not found'
    objs[f"claim/{NS}/data"] = _claim(cls="fast").to_dict()
    objs["sc/fast"] = _class("fast", mode="Immediate").to_dict()
    assert binder.prefilter(_claim_pod()) == UNBOUND_IMMEDIATE
    objs["sc/fast"] = _class("fast").to_dict()
    state = binder.prefilter(_claim_pod())
    assert not isinstance(state, str) and state.delayed == [(NS, "data")]
    # prebind annotates the claim with the node and waits until it is Bound.

    async def bind_later() -> None:
        await asyncio.sleep(0.05)
        objs[f"claim/{NS}/data"] = _claim(cls="fast", volume="pv1", phase="Bound").to_dict()

    task = asyncio.create_task(bind_later())
    await binder.prebind(state, "node-a", timeout_s=5)
    await task
    assert patches == [(NS, "data", {"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "node-a"}}})]
    # Bound to a node-local PV: only that node passes the filter.
    pv = localpath.new_volume(_claim(), _class(), "node-a", "/x")
    objs["pv/pv1"] = pv.to_dict()
    state = binder.prefilter(_claim_pod())
    assert not isinstance(state, str) and not state.delayed
    check = binder.node_filter(state)
    pod = pod_info(_claim_pod())
    node_a = node_info({"metadata": {"name": "node-a"}})
    node_b = node_info({"metadata": {"name": "node-b"}})
    assert check(pod, node_a) == [] and check(pod, node_b) == [VOLUME_CONFLICT]
    objs[f"claim/{NS}/data"] = _claim(cls="fast").to_dict()
    state = binder.prefilter(_claim_pod())
    assert not isinstance(state, str)
    with pytest.raises(VolumeBindingError):
        await binder.prebind(state, "node-a", timeout_s=0.05)


async def test_kubelet_mounts_a_bound_claim_and_refuses_an_unbound_one(tmp_path: Path) -> None:
    store: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def fetch(plural: str, ns: str, name: str) -> dict[str, Any] | None:
        return store.get((plural, ns, name))

    pod = Pod.model_validate({"metadata": {"namespace": NS, "uid": "u1"}, "spec": {"containers": [], "volumes": [
        {"name": "www", "persistentVolumeClaim": {"claimName": "data"}}]}})
    with pytest.raises(VolumeError, match='persistentvolumeclaim "data" not found'):
        await volumes.prepare_volumes(pod, str(tmp_path), fetch)
    store[("persistentvolumeclaims", NS, "data")] = _claim().to_dict()
    with pytest.raises(VolumeError, match="is not bound"):
        await volumes.prepare_volumes(pod, str(tmp_path), fetch)
    store[("persistentvolumeclaims", NS, "data")] = _claim(volume="pv1", phase="Bound").to_dict()
    pv = localpath.new_volume(_claim(), _class(), "n", str(tmp_path / "lp"))
    store[("persistentvolumes", "", "pv1")] = pv.to_dict()
    paths = await volumes.prepare_volumes(pod, str(tmp_path), fetch)
    assert pv.spec is not None and pv.spec.hostPath is not None
    host_dir = os.path.isdir
    assert paths == {"www": pv.spec.hostPath.path} and host_dir(pv.spec.hostPath.path)
    volumes.cleanup_pod_dir(str(tmp_path), "u1")
    assert host_dir(pv.spec.hostPath.path)  # the claim's data outlives the pod


async def test_pv_protection_keeps_a_bound_volume() -> None:
    client = FakeClient(namespace=NS)
    pv = localpath.new_volume(_claim(), _class(), "n", "/x")
    pv.metadata.resourceVersion = "2"
    client.add(pv)
    c = PvProtectionController(make_context(client))
    preload(c.volumes, pv)
    assert await _sync(client, c, pv.name) == [("patch", "PersistentVolume", pv.name)]
    assert client.calls[0].body["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    deleting = client.stored(PersistentVolume, pv.name)
    deleting.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    deleting = PersistentVolume.from_dict({**deleting.to_dict(), "status": {"phase": "Bound"}})
    preload(c.volumes, deleting)
    assert await _sync(client, c, pv.name) == []
    preload(c.volumes, PersistentVolume.from_dict({**deleting.to_dict(), "status": {"phase": "Released"}}))
    assert await _sync(client, c, pv.name) == [("patch", "PersistentVolume", pv.name)]
    assert client.calls[0].body["metadata"]["finalizers"] is None
