"""Pod volumes on the host: emptyDir, hostPath, configMap, secret, persistentVolumeClaim, projected.

Contract: `prepare_volumes(pod, root_dir, fetch)` returns {volume name: host path}, creating
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
import base64
import os
import shutil
import time
from pathlib import Path
from typing import Any

from kubelet import projected
from kubelet.runtime import Mount
from kubelet.volumesource import Fetch, VolumeError


def pod_dir(root_dir: str, uid: str) -> Path:
    return Path(root_dir) / "pods" / uid


def _project(dest: Path, data: dict[str, bytes], items: list[dict[str, Any]] | None, mode: int) -> None:
    """Write the keys (or the listed items) as files; replace the directory content whole."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pairs = [(i["key"], i.get("path") or i["key"]) for i in items] if items else [(k, k) for k in data]
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


def _host_path(hp: dict[str, Any]) -> str:
    """Local, quick file-system work (kept out of the async function on purpose)."""
    p = Path(hp.get("path", ""))
    if hp.get("type") == "DirectoryOrCreate":
        p.mkdir(parents=True, exist_ok=True)
    elif hp.get("type") == "FileOrCreate" and not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    elif hp.get("type") and not p.exists():
        raise VolumeError(f"hostPath {p} does not exist (type {hp['type']})")
    return str(p)


def _claim_dir(pv: dict[str, Any]) -> str:
    spec = pv.get("spec") or {}
    if spec.get("hostPath"):
        hp = dict(spec["hostPath"])
        created = hp.get("type") == "DirectoryOrCreate" and not Path(hp.get("path", "")).exists()
        path = _host_path(hp)
        if created:
            os.chmod(path, 0o777)  # any container user may write, as the local-path provisioner does
        return path
    if spec.get("local"):
        path = str((spec["local"] or {}).get("path", ""))
        if not Path(path).is_dir():
            raise VolumeError(f"local volume path {path} does not exist on this node")
        return path
    raise VolumeError(f"persistentvolume {(pv.get('metadata') or {}).get('name')}: only hostPath and local "
                      "volumes can be mounted")


async def _claim_path(source: dict[str, Any], ns: str, fetch: Fetch) -> str:
    name = str(source.get("claimName") or "")
    claim = await fetch("persistentvolumeclaims", ns, name)
    if claim is None:
        raise VolumeError(f'persistentvolumeclaim "{name}" not found')
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        raise VolumeError(f'persistentvolumeclaim "{name}" is being deleted')
    volume = (claim.get("spec") or {}).get("volumeName")
    if not volume or (claim.get("status") or {}).get("phase") != "Bound":
        raise VolumeError(f'persistentvolumeclaim "{name}" is not bound')
    pv = await fetch("persistentvolumes", "", volume)
    if pv is None:
        raise VolumeError(f'persistentvolume "{volume}" not found')
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if ref.get("uid") and ref.get("uid") != (claim.get("metadata") or {}).get("uid"):
        raise VolumeError(f'persistentvolume "{volume}" is bound to another claim')
    return await asyncio.to_thread(_claim_dir, pv)


def _empty_dir(d: Path) -> str:
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o777)  # any container user may write, as Kubernetes does
    return str(d)


async def reproject(pod: dict[str, Any], root_dir: str, fetch: Fetch, request_token: Any, names: list[str],
                    now: float) -> dict[str, float]:
    """Project the named projected volumes again (new tokens); their next refresh times."""
    uid = (pod.get("metadata") or {}).get("uid") or ""
    out: dict[str, float] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        if vol.get("name") in names and "projected" in vol:
            d = pod_dir(root_dir, uid) / "volumes" / "projected" / vol["name"]
            due = await projected.project(pod, vol, d, fetch, request_token, now)
            if due is not None:
                out[vol["name"]] = due
    return out


async def prepare_volumes(pod: dict[str, Any], root_dir: str, fetch: Fetch, *, request_token: Any = None,
                          refresh: dict[str, float] | None = None) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    ns, uid = meta.get("namespace") or "default", meta.get("uid") or ""
    base = pod_dir(root_dir, uid) / "volumes"
    paths: dict[str, str] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = vol.get("name", "")
        if "emptyDir" in vol:
            paths[name] = _empty_dir(base / "empty-dir" / name)
        elif "hostPath" in vol:
            paths[name] = _host_path(vol["hostPath"] or {})
        elif "persistentVolumeClaim" in vol:
            try:
                paths[name] = await _claim_path(vol["persistentVolumeClaim"] or {}, ns, fetch)
            except VolumeError as exc:
                raise VolumeError(f"volume {name}: {exc}") from None
        elif "configMap" in vol or "secret" in vol:
            is_cm = "configMap" in vol
            src = vol["configMap" if is_cm else "secret"] or {}
            obj_name = src.get("name" if is_cm else "secretName", "")
            obj = await fetch("configmaps" if is_cm else "secrets", ns, obj_name)
            data: dict[str, bytes] = {}
            if obj is None:
                if not src.get("optional"):
                    raise VolumeError(f"{'configmap' if is_cm else 'secret'} \"{obj_name}\" not found")
            elif is_cm:
                data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
                data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
            else:
                data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
                data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
            d = base / ("configmap" if is_cm else "secret") / name
            mode = int(src.get("defaultMode") or 0o644)
            try:
                _project(d, data, src.get("items"), mode)
            except VolumeError as exc:
                raise VolumeError(f"volume {name}: {exc}") from None
            paths[name] = str(d)
        elif "projected" in vol:
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


def read_only_volume(pod: dict[str, Any], name: str) -> bool:
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        if vol.get("name") == name:
            return "configMap" in vol or "secret" in vol or "projected" in vol or bool((vol.get("persistentVolumeClaim") or {}).get("readOnly"))
    return False


def mounts_for(pod: dict[str, Any], container: dict[str, Any], paths: dict[str, str]) -> list[Mount]:
    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name", "")
        if name not in paths:
            raise VolumeError(f"volumeMount {name!r}: volume not found or of an unsupported type")
        source = paths[name]
        if vm.get("subPath"):
            source = str(Path(source) / vm["subPath"])
            Path(source).mkdir(parents=True, exist_ok=True) if not Path(source).exists() else None
        ro = bool(vm.get("readOnly")) or read_only_volume(pod, name)
        mounts.append(Mount(source=source, target=vm.get("mountPath", ""), read_only=ro))
    return mounts


def cleanup_pod_dir(root_dir: str, uid: str) -> None:
    if uid:
        shutil.rmtree(pod_dir(root_dir, uid), ignore_errors=True)
