"""CPU/memory history for the dashboard's charts, from whatever source the cluster has.

Contract: `History(client, *, sample_every_s=5.0, keep_s=900.0)`; `await h.points(kind, ns, name)`
-> `{"source": ..., "points": [{"timestamp", "cpuNanoCores", "memoryBytes"}], "message": str}`
with `kind` "pod" or "node", oldest first:
1. `metrics-history`: the metrics add-on's own history through the API server
   (`/apis/metrics.k8s.io/v1beta1/namespaces/NS/pods/NAME/history`, `.../nodes/NAME/history`);
2. else `dashboard-sampler`: the dashboard samples the current PodMetrics/NodeMetrics
   (`/apis/metrics.k8s.io/v1beta1/...`) itself every `sample_every_s` for the objects asked
   about in the last two minutes, keeping `keep_s` of points;
3. else `none`, with the API server's answer in `message` (no metrics add-on running).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from machinery import errors
from machinery.clock import now_rfc3339
from machinery.quantity import parse_quantity

METRICS = "/apis/metrics.k8s.io/v1beta1"
WANTED_FOR_S = 120.0


def metrics_path(kind: str, ns: str, name: str) -> str:
    return f"{METRICS}/nodes/{name}" if kind == "node" else f"{METRICS}/namespaces/{ns}/pods/{name}"


def usage_point(obj: dict[str, Any], at: str) -> dict[str, Any]:
    """A NodeMetrics/PodMetrics object -> one chart point (pod: the sum of its containers)."""
    usages = [obj.get("usage") or {}] if "usage" in obj else [c.get("usage") or {} for c in obj.get("containers") or []]
    cpu = sum(parse_quantity(str(u.get("cpu", "0"))) for u in usages)
    mem = sum(parse_quantity(str(u.get("memory", "0"))) for u in usages)
    return {"timestamp": obj.get("timestamp") or at, "cpuNanoCores": int(cpu * 1_000_000_000),
            "memoryBytes": int(mem)}


class History:
    def __init__(self, client: Any, *, sample_every_s: float = 5.0, keep_s: float = 900.0) -> None:
        self.client = client
        self.sample_every_s = sample_every_s
        self.keep_s = keep_s
        self.samples: dict[tuple[str, str, str], deque[dict[str, Any]]] = {}
        self.wanted: dict[tuple[str, str, str], float] = {}
        self._task: asyncio.Task[None] | None = None

    async def points(self, kind: str, ns: str, name: str) -> dict[str, Any]:
        try:
            body = await self.client.request("GET", metrics_path(kind, ns, name) + "/history")
            if isinstance(body, dict) and isinstance(body.get("points"), list):
                return {"source": "metrics-history", "points": body["points"], "message": ""}
        except errors.ApiError:
            pass
        key = (kind, ns, name)
        self.wanted[key] = time.monotonic()
        self._ensure_sampler()
        message = ""
        if not self.samples.get(key):
            message = await self._sample(key)
        pts = list(self.samples.get(key) or [])
        return {"source": "dashboard-sampler" if pts else "none", "points": pts, "message": message}

    async def _sample(self, key: tuple[str, str, str]) -> str:
        kind, ns, name = key
        try:
            obj = await self.client.request("GET", metrics_path(kind, ns, name))
        except errors.ApiError as exc:
            return f"no metrics for {kind} {name}: {exc.message}"
        if not isinstance(obj, dict):
            return "the metrics API answered something unexpected"
        buf = self.samples.setdefault(key, deque(maxlen=max(2, int(self.keep_s / self.sample_every_s))))
        point = usage_point(obj, now_rfc3339())
        if not buf or buf[-1]["timestamp"] != point["timestamp"]:
            buf.append(point)
        return ""

    def _ensure_sampler(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.wanted:
            await asyncio.sleep(self.sample_every_s)
            now = time.monotonic()
            for key, at in list(self.wanted.items()):
                if now - at > WANTED_FOR_S:
                    del self.wanted[key]
                    self.samples.pop(key, None)
                else:
                    await self._sample(key)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
