"""Projected volumes on the host: serviceAccountToken, configMap, secret and downwardAPI sources
merged into one directory (what the ServiceAccount admission mounts at
/var/run/secrets/kubernetes.io/serviceaccount: token, ca.crt, namespace).

Contract: `await project(pod, volume, dest, fetch, request_token, now) -> float | None` (a typed
Pod and Volume; the projection is read through machinery.models.ProjectedVolumeSource) writes
every source's files into `dest` (created 0755) and returns when the volume must be projected
again (a wall-clock time: 80% of the shortest token's lifetime, as the kubelet's token manager
refreshes, at most 24 h), or None when it holds no token.
- Files are replaced one by one with a rename inside `dest`, never by replacing `dest` itself:
  a container bind-mounts the directory, so a new token must appear in the same directory
  (Kubernetes swaps a `..data` symlink for the same reason).
- `serviceAccountToken {path, audience?, expirationSeconds (default 3600)}`: a TokenRequest
  for the pod's ServiceAccount bound to the pod (`request_token(ns, sa, audiences,
  expiration_s, pod_name, pod_uid) -> (token, expires_at_unix)`); file mode 0600 unless the
  pod sets another defaultMode... (Kubernetes: 0644 by default from the admission's volume).
- `configMap`/`secret {name, items?, optional?}`: missing and not optional -> VolumeError.
- `downwardAPI {items: [{path, fieldRef: {fieldPath}}]}`: metadata.name, metadata.namespace,
  metadata.uid, spec.serviceAccountName, spec.nodeName, metadata.labels['k'],
  metadata.annotations['k'].
Any failure raises VolumeError (the pod waits in ContainerCreating and the worker retries).
The token is never logged.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from kubelet.typedpod import PodModelError, field_value
from kubelet.volumesource import Fetch, VolumeError, object_data
from machinery.models import Pod, ProjectedVolumeSource, Volume

TokenFn = Callable[[str, str, list[str] | None, int, str, str], Awaitable[tuple[str, float]]]
REFRESH_FRACTION = 0.8
MAX_REFRESH_S = 24 * 3600.0


def _safe(rel: str) -> str:
    if not rel or rel.startswith("/") or ".." in Path(rel).parts:
        raise VolumeError(f"invalid path {rel!r}")
    return rel


def _write(dest: Path, rel: str, data: bytes, mode: int) -> None:
    target = dest / _safe(rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, target)


def _source(volume: Volume) -> ProjectedVolumeSource:
    try:
        return ProjectedVolumeSource.model_validate(volume.projected or {})
    except ValidationError as exc:
        errs = exc.errors()
        where = (".".join(str(p) for p in errs[0]["loc"]) + ": " + errs[0]["msg"]) if errs else str(exc)
        raise VolumeError(f"projected: {where}") from None


async def project(pod: Pod, volume: Volume, dest: Path, fetch: Fetch,
                  request_token: TokenFn | None, now: float) -> float | None:
    meta = pod.metadata
    ns = meta.namespace or "default"
    proj = _source(volume)
    default_mode = proj.defaultMode if proj.defaultMode is not None else 0o644
    files: list[tuple[str, bytes, int]] = []
    refresh_at: float | None = None
    for source in proj.sources or []:
        st = source.serviceAccountToken
        if st is not None:
            if request_token is None:
                raise VolumeError("service account tokens are not available on this kubelet")
            aud = [st.audience] if st.audience else None
            ttl = st.expirationSeconds or 3600
            sa = (pod.spec.serviceAccountName if pod.spec else None) or "default"
            try:
                token, expires_at = await request_token(ns, sa, aud, ttl, meta.name or "", meta.uid or "")
            except Exception as exc:  # noqa: BLE001 - any API failure: the pod waits and retries
                raise VolumeError(f"failed to fetch token: {exc}") from None
            files.append((st.path, token.encode(), default_mode))
            due = now + min(MAX_REFRESH_S, REFRESH_FRACTION * max(0.0, expires_at - now))
            refresh_at = due if refresh_at is None else min(refresh_at, due)
        for kind, src in (("configMap", source.configMap), ("secret", source.secret)):
            if src is None:
                continue
            data = await object_data(fetch, "configmaps" if kind == "configMap" else "secrets", ns, src.name or "",
                                     optional=bool(src.optional))
            if data is None:
                continue
            pairs = [(i.key, i.path or i.key, i.mode) for i in src.items] if src.items else \
                [(k, k, None) for k in data]
            for key, rel, mode in pairs:
                if key not in data:
                    raise VolumeError(f'{kind.lower()} "{src.name}": key {key!r} not found')
                files.append((rel, data[key], mode if mode is not None else default_mode))
        if source.downwardAPI is not None:
            for item in source.downwardAPI.items or []:
                path = item.fieldRef.fieldPath if item.fieldRef is not None else ""
                try:
                    value = field_value(pod, path)
                except PodModelError as exc:
                    raise VolumeError(str(exc)) from None
                files.append((item.path, value.encode(), item.mode if item.mode is not None else default_mode))
    await asyncio.to_thread(_write_all, dest, files)
    return refresh_at


def _write_all(dest: Path, files: list[tuple[str, bytes, int]]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)
    for rel, content, mode in files:
        _write(dest, rel, content, mode)
