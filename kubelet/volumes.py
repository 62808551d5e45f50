"""Pod volumes on the host: emptyDir, hostPath, configMap, secret, persistentVolumeClaim, projected.

Contract (a typed machinery.models.Pod / Container; claims and volumes are read through their
models): `prepare_volumes(pod, root_dir, fetch)` returns {volume name: host path}, creating
what is needed under `<root_dir>/pods/<uid>/volumes/`; `mounts_for(container, paths)` maps a
container's volumeMounts to runtime Mounts (configMap/secret always read-only: projected data
is not the container's to change); `cleanup_pod_dir(root_dir, uid)` deletes everything the pod
had (emptyDir content dies with the pod, as in Kubernetes). A missing configMap/secret raises
`VolumeError` (kubelet/volumesource.py, unless `optional: true`), which the worker shows as
ContainerCreating with a message and retries.
A `persistentVolumeClaim` volume resolves claim -> bound PV and bind-mounts the PV's host
directory (`hostPath`, created when its type is DirectoryOrCreate, world-writable as the
local-path provisioner makes it; or `local`, which must exist). A claim that is missing, being
deleted, not Bound, or bound to a PV that is missing, claimed by another claim or of a type
kubelite cannot mount raises `VolumeError` (the pod waits in ContainerCreating). The volume's
data outlives the pod: `cleanup_pod_dir` never touches it.
A `projected` volume (service account token, ca.crt, namespace: kubelet/projected.py) needs
`request_token`; `refresh` (when given) receives {volume name: wall time to project it again}
so the pod worker renews tokens before they expire (`reproject`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from kubelet import projected
from kubelet.runtime import Mount
from kubelet.volumesource import Fetch, VolumeError, object_data
from machinery.meta import Resource
from machinery.models import (
    Container,
    HostPathVolumeSource,
    KeyToPath,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimVolumeSource,
    Pod,
    Volume,
)

_R = TypeVar("_R", bound=Resource)


def pod_dir(root_dir: str, uid: str) -> Path:
    return Path(root_dir) / "pods" / uid


def _project(dest: Path, data: dict[str, bytes], items: list[KeyToPath] | None, mode: int) -> None:
    """Write the keys (or the listed items) as files; replace the directory content whole."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pairs = [(i.key, i.path or i.key) for i in items] if items else [(k, k) for k in data]
    for key, rel in pairs:
        if key not in data:
            raise VolumeError(f"key {key!r} not found")
        target = tmp / rel
        if ".." in Path(rel).parts:
            raise VolumeError(f"invalid path {rel!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[key])
        os.chmod(target, mode)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _host_path(hp: HostPathVolumeSource) -> str:
    """Local, quick file-system work (kept out of the async function on purpose)."""
    p = Path(hp.path)
    if hp.type == "DirectoryOrCreate":
        p.mkdir(parents=True, exist_ok=True)
    elif hp.type == "FileOrCreate" and not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    elif hp.type and not p.exists():
        raise VolumeError(f"hostPath {p} does not exist (type {hp.type})")
    return str(p)


def _claim_dir(pv: PersistentVolume) -> str:
    spec = pv.spec
    if spec is not None and spec.hostPath is not None:
        created = spec.hostPath.type == "DirectoryOrCreate" and not Path(spec.hostPath.path).exists()
        path = _host_path(spec.hostPath)
        if created:
            os.chmod(path, 0o777)  # any container user may write, as the local-path provisioner does
        return path
    if spec is not None and spec.local is not None:
        path = spec.local.path
        if not Path(path).is_dir():
            raise VolumeError(f"local volume path {path} does not exist on this node")
        return path
    raise VolumeError(f"persistentvolume {pv.metadata.name}: only hostPath and local volumes can be mounted")


def _typed(model: type[_R], obj: dict[str, Any]) -> _R:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise VolumeError(f"{model.PLURAL} {(obj.get('metadata') or {}).get('name')!r}: {exc.errors()[0]['msg']}") \
            from None


async def _claim_path(source: PersistentVolumeClaimVolumeSource, ns: str, fetch: Fetch) -> str:
    name = source.claimName
    raw_claim = await fetch("persistentvolumeclaims", ns, name)
    if raw_claim is None:
        raise VolumeError(f'persistentvolumeclaim "{name}" not found')
    claim = _typed(PersistentVolumeClaim, raw_claim)
    if claim.metadata.deletionTimestamp:
        raise VolumeError(f'persistentvolumeclaim "{name}" is being deleted')
    volume = claim.spec.volumeName if claim.spec else None
    if not volume or claim.status is None or claim.status.phase != "Bound":
        raise VolumeError(f'persistentvolumeclaim "{name}" is not bound')
    raw_pv = await fetch("persistentvolumes", "", volume)
    if raw_pv is None:
        raise VolumeError(f'persistentvolume "{volume}" not found')
    pv = _typed(PersistentVolume, raw_pv)
    ref = pv.spec.claimRef if pv.spec else None
    if ref is not None and ref.uid and ref.uid != claim.metadata.uid:
        raise VolumeError(f'persistentvolume "{volume}" is bound to another claim')
    return await asyncio.to_thread(_claim_dir, pv)


def _empty_dir(d: Path) -> str:
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o777)  # any container user may write, as Kubernetes does
    return str(d)


async def reproject(pod: Pod, root_dir: str, fetch: Fetch, request_token: Any, names: list[str],
                    now: float) -> dict[str, float]:
    """Project the named projected volumes again (new tokens); their next refresh times."""
    uid = pod.metadata.uid or ""
    out: dict[str, float] = {}
    for vol in _volumes(pod):
        if vol.name in names and vol.projected is not None:
            d = pod_dir(root_dir, uid) / "volumes" / "projected" / vol.name
            due = await projected.project(pod, vol, d, fetch, request_token, now)
            if due is not None:
                out[vol.name] = due
    return out


def _volumes(pod: Pod) -> list[Volume]:
    return (pod.spec.volumes if pod.spec else None) or []


def _claim_source(vol: Volume) -> PersistentVolumeClaimVolumeSource:
    try:
        return PersistentVolumeClaimVolumeSource.model_validate(vol.persistentVolumeClaim or {})
    except ValidationError as exc:
        raise VolumeError(f"persistentVolumeClaim: {exc.errors()[0]['msg']}") from None


async def _object_volume(vol: Volume, ns: str, base: Path, fetch: Fetch) -> str:
    """A configMap or secret volume: its keys (or items) projected as files, read-only."""
    cm, sec = vol.configMap, vol.secret
    is_cm = cm is not None
    obj_name = (cm.name if cm is not None else sec.secretName if sec is not None else None) or ""
    optional = bool(cm.optional if cm is not None else sec.optional if sec is not None else False)
    items = cm.items if cm is not None else sec.items if sec is not None else None
    default_mode = cm.defaultMode if cm is not None else sec.defaultMode if sec is not None else None
    data = await object_data(fetch, "configmaps" if is_cm else "secrets", ns, obj_name, optional=optional) or {}
    d = base / ("configmap" if is_cm else "secret") / vol.name
    try:
        _project(d, data, items, int(default_mode or 0o644))
    except VolumeError as exc:
        raise VolumeError(f"volume {vol.name}: {exc}") from None
    return str(d)


async def prepare_volumes(pod: Pod, root_dir: str, fetch: Fetch, *, request_token: Any = None,
                          refresh: dict[str, float] | None = None) -> dict[str, str]:
    meta = pod.metadata
    ns, uid = meta.namespace or "default", meta.uid or ""
    base = pod_dir(root_dir, uid) / "volumes"
    paths: dict[str, str] = {}
    for vol in _volumes(pod):
        name = vol.name
        if vol.emptyDir is not None:
            paths[name] = _empty_dir(base / "empty-dir" / name)
        elif vol.hostPath is not None:
            paths[name] = _host_path(vol.hostPath)
        elif vol.persistentVolumeClaim is not None:
            try:
                paths[name] = await _claim_path(_claim_source(vol), ns, fetch)
            except VolumeError as exc:
                raise VolumeError(f"volume {name}: {exc}") from None
        elif vol.configMap is not None or vol.secret is not None:
            paths[name] = await _object_volume(vol, ns, base, fetch)
        elif vol.projected is not None:
            d = base / "projected" / name
            try:
                due = await projected.project(pod, vol, d, fetch, request_token, time.time())
            except VolumeError as exc:
                raise VolumeError(f"volume {name}: {exc}") from None
            if due is not None and refresh is not None:
                refresh[name] = due
            paths[name] = str(d)
        # Other volume types are not supported here; the container mount below reports it.
    return paths


def read_only_volume(pod: Pod, name: str) -> bool:
    for vol in _volumes(pod):
        if vol.name == name:
            return (vol.configMap is not None or vol.secret is not None or vol.projected is not None
                    or bool((vol.persistentVolumeClaim or {}).get("readOnly")))
    return False


def mounts_for(pod: Pod, container: Container, paths: dict[str, str]) -> list[Mount]:
    mounts: list[Mount] = []
    for vm in container.volumeMounts or []:
        name = vm.name
        if name not in paths:
            raise VolumeError(f"volumeMount {name!r}: volume not found or of an unsupported type")
        source = paths[name]
        if vm.subPath:
            source = str(Path(source) / vm.subPath)
            Path(source).mkdir(parents=True, exist_ok=True) if not Path(source).exists() else None
        ro = bool(vm.readOnly) or read_only_volume(pod, name)
        mounts.append(Mount(source=source, target=vm.mountPath, read_only=ro))
    return mounts


def cleanup_pod_dir(root_dir: str, uid: str) -> None:
    if uid:
        shutil.rmtree(pod_dir(root_dir, uid), ignore_errors=True)
