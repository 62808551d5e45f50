"""A namespace's pods followed by list + watch, and the rolling update timeline drawn from them
(bench/controllers.py and its `--trace`).

Contract:
- `PodTracker(client, namespace)`: `await start()` lists the namespace's pods and watches them
  from the list's resourceVersion (relisting on a 410 ERROR event) until `await stop()`;
  `pods` is {name: (phase, image, deleting)} of the pods that exist, `running(image=None)` and
  `live_other(image)` count them; `marks` keeps, per pod name ever seen, the monotonic time each
  milestone was first seen (seen, scheduled, running, ready, deleting, gone) and the index of
  its image in `images`.
- `timeline(tracker, t0, new_image, surge)`: the lines saying where a rollout that began at `t0`
  (monotonic) went: p50/p90/max of each step of the new pods and of the old pods' deletion,
  then per second what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from machinery.client import ApiClient


@dataclass
class PodTracker:
    """Keeps {pod name: (phase, image, deleting)} for a namespace from list + watch."""

    client: ApiClient
    namespace: str
    pods: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    marks: dict[str, dict[str, float]] = field(default_factory=dict)
    """Pod name -> {milestone: monotonic time first seen}: seen, scheduled, running, ready,
    deleting, gone (plus `image`'s index in `images`), for the rollout timeline."""
    images: list[str] = field(default_factory=list)

    def _put(self, obj: dict[str, Any]) -> None:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        name, image = obj["metadata"]["name"], spec["containers"][0]["image"]
        deleting = bool(obj["metadata"].get("deletionTimestamp"))
        self.pods[name] = (status.get("phase", ""), image, deleting)
        now = time.monotonic()
        m = self.marks.setdefault(name, {"seen": now})
        if image not in self.images:
            self.images.append(image)
        m.setdefault("image", float(self.images.index(image)))
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        for mark, hit in (("scheduled", bool(spec.get("nodeName"))), ("running", status.get("phase") == "Running"),
                          ("ready", ready), ("deleting", deleting)):
            if hit:
                m.setdefault(mark, now)

    def _gone(self, name: str) -> None:
        self.pods.pop(name, None)
        if name in self.marks:
            self.marks[name].setdefault("gone", time.monotonic())

    async def start(self) -> None:
        body = await self.client.request("GET", self._path())
        for obj in body["items"]:
            self._put(obj)
        self.task = asyncio.create_task(self._run(body["metadata"]["resourceVersion"]))

    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    async def _run(self, rv: str) -> None:
        while True:
            params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "60",
                      "allowWatchBookmarks": "true"}
            async for line in self.client.stream_lines(self._path(), params=params, timeout_s=60):
                if not line.strip():
                    continue
                ev = json.loads(line)
                if ev["type"] == "ERROR":  # 410: our tracker fell behind; relist
                    body = await self.client.request("GET", self._path())
                    self.pods.clear()
                    for obj in body["items"]:
                        self._put(obj)
                    rv = body["metadata"]["resourceVersion"]
                    break
                rv = ev["object"]["metadata"]["resourceVersion"]
                if ev["type"] == "DELETED":
                    self._gone(ev["object"]["metadata"]["name"])
                elif ev["type"] != "BOOKMARK":
                    self._put(ev["object"])

    def running(self, image: str | None = None) -> int:
        return sum(ph == "Running" and not dl and (image is None or im == image)
                   for ph, im, dl in self.pods.values())

    def live_other(self, image: str) -> int:
        return sum(not dl and im != image for _, im, dl in self.pods.values())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task



def _q(values: list[float]) -> str:
    """p50 / p90 / max of `values`, in seconds."""
    if not values:
        return "-"
    v = sorted(values)
    return f"p50 {v[len(v) // 2]:5.2f}  p90 {v[min(len(v) - 1, (len(v) * 9) // 10)]:5.2f}  max {v[-1]:5.2f}"


def timeline(tracker: PodTracker, t0: float, new_image: str, surge: int) -> list[str]:
    """Where the rollout's time went, from the pod watch (first time each milestone was seen).

    new pods: patch -> seen (controllers: deployment scales the new RS, RS creates the pod),
    seen -> scheduled, scheduled -> Running (kubelet start), Running -> Ready reported.
    old pods: the k-th new pod Ready -> the k-th old pod marked for deletion (RS status,
    deployment scale-down, RS delete), and the k-th old deletion -> the (k+surge)-th new pod
    seen (the surge slot it freed taken again)."""
    idx = float(tracker.images.index(new_image)) if new_image in tracker.images else -1.0
    new = [m for m in tracker.marks.values() if m.get("image") == idx and m["seen"] >= t0]
    old = [m for m in tracker.marks.values() if m.get("image") != idx and "deleting" in m and m["deleting"] >= t0]

    def span(ms: list[dict[str, float]], a: str, b: str) -> list[float]:
        return [m[b] - m[a] for m in ms if a in m and b in m]

    seen = sorted(m["seen"] - t0 for m in new)
    ready = sorted(m["ready"] - t0 for m in new if "ready" in m)
    deleting = sorted(m["deleting"] - t0 for m in old)
    lines = [f"timeline (s after the patch; {len(new)} new pods, {len(old)} old deleted):",
             f"  new pod seen after patch     {_q(seen)}",
             f"  seen -> scheduled            {_q(span(new, 'seen', 'scheduled'))}",
             f"  scheduled -> Running         {_q(span(new, 'scheduled', 'running'))}",
             f"  Running -> Ready             {_q(span(new, 'running', 'ready'))}",
             f"  k-th Ready -> k-th old delete {_q([d - r for r, d in zip(ready, deleting, strict=False)])}",
             f"  k-th old delete -> (k+{surge})-th new seen "
             f"{_q([s - d for d, s in zip(deleting, seen[surge:], strict=False)])}",
             f"  old deleting -> gone         {_q(span(old, 'deleting', 'gone'))}"]
    buckets: dict[int, list[int]] = {}
    for values, col in ((seen, 0), (ready, 1), (deleting, 2)):
        for v in values:
            buckets.setdefault(int(v), [0, 0, 0])[col] += 1
    lines.append("  second: new seen / new Ready / old deleted")
    lines.extend(f"  {sec:4d}  {c[0]:3d} {c[1]:3d} {c[2]:3d}" for sec, c in sorted(buckets.items()))
    return lines


__all__ = ["PodTracker", "timeline"]
