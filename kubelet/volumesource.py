"""What every pod volume source shares (kubelet/volumes.py and kubelet/projected.py).

Contract:
- `Fetch`: `await fetch(plural, namespace, name) -> object dict | None` reads a ConfigMap,
  Secret, PersistentVolumeClaim or PersistentVolume a volume needs (None: it does not exist).
- `VolumeError`: a volume that cannot be set up (missing object, bad path, unbound claim...);
  the pod worker shows its message as ContainerCreating and retries.
- `await object_data(fetch, plural, ns, name, optional=)`: the keys of a ConfigMap (`data`,
  `binaryData` base64) or Secret (`data` base64, `stringData`) as bytes, what configMap/secret
  volumes and projected sources write; None when it is missing and optional, VolumeError
  (`configmap "x" not found`) when it is missing and required.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

Fetch = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]  # (plural, ns, name) -> obj


class VolumeError(RuntimeError):
    pass


async def object_data(fetch: Fetch, plural: str, ns: str, name: str, *, optional: bool) -> dict[str, bytes] | None:
    obj = await fetch(plural, ns, name)
    if obj is None:
        if optional:
            return None
        raise VolumeError(f'{"configmap" if plural == "configmaps" else "secret"} "{name}" not found')
    if plural == "configmaps":
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    else:
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
    return data


__all__ = ["Fetch", "VolumeError", "object_data"]
