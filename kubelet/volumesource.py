"""What every pod volume source shares (kubelet/volumes.py and kubelet/projected.py).

Contract:
- `Fetch`: `await fetch(plural, namespace, name) -> object dict | None` reads a ConfigMap,
  Secret, PersistentVolumeClaim or PersistentVolume a volume needs (None: it does not exist).
- `VolumeError`: a volume that cannot be set up (missing object, bad path, unbound claim...);
  the pod worker shows its message as ContainerCreating and retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Fetch = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]  # (plural, ns, name) -> obj


class VolumeError(RuntimeError):
    pass


__all__ = ["Fetch", "VolumeError"]
