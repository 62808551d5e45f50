"""What a pod worker keeps of its pod between passes: the wire dicts, the typed model, the
status it published.

Contract:
- `PodRecord(pod)`: `pod` is the latest dict the informer gave (None once the pod is gone
  from the API server, `update(None)`), `last` the latest one ever given (termination reads
  its grace period there after the pod vanished).
- `model(pod)`: the typed pod (kubelet.typedpod) the container/volume/probe modules read,
  parsed once per dict (raises typedpod.PodModelError for a pod the model refuses).
- `start_time(pod)`: the pod's startTime, fixed at the first pass: the published one (a
  restarted kubelet keeps it), else now.
- `write_status(api, ns, name, pod, view)`: the status computed from what the pass observed
  (kubelet.status) is written through /status when it differs from the published one and from
  the last one this record sent; observes kubelet.metrics POD_STATUS_SYNC (the write) and, the
  first time the pod is Running, POD_START_DURATION (from the record's creation, for pods
  that were not running yet then: a restarted kubelet adopts those). Returns the phase.
- `termination_grace_s()`: deletionGracePeriodSeconds of the last dict, else its
  terminationGracePeriodSeconds (30 when unset), in whole seconds as Docker takes them.
The grace period and the phase are read from the wire dicts, not the model: termination must
work even for a pod the model refuses.
"""

from __future__ import annotations

import time
from typing import Any

from kubelet import metrics as kubelet_metrics
from kubelet import typedpod
from kubelet.api import KubeletApi
from kubelet.status import PodView, compute_pod_status, status_changed
from machinery.clock import now_rfc3339
from machinery.models import Pod


class PodRecord:
    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod: dict[str, Any] | None = pod
        self.last: dict[str, Any] = pod
        self._model_src: dict[str, Any] | None = None
        self._model_pod: Pod | None = None
        self._start_time: str | None = None
        self._last_sent: dict[str, Any] | None = None
        self._seen_s: float | None = (time.monotonic() if (pod.get("status") or {}).get("phase") in (None, "Pending")
                                      else None)

    def update(self, pod: dict[str, Any] | None) -> None:
        self.pod = pod
        if pod is not None:
            self.last = pod

    def model(self, pod: dict[str, Any]) -> Pod:
        if self._model_src is not pod or self._model_pod is None:
            self._model_src, self._model_pod = pod, typedpod.pod_of(pod)
        return self._model_pod

    def start_time(self, pod: dict[str, Any]) -> str:
        self._start_time = self._start_time or (pod.get("status") or {}).get("startTime") or now_rfc3339()
        return self._start_time

    def termination_grace_s(self) -> int:
        meta, spec = self.last.get("metadata") or {}, self.last.get("spec") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        return int(spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace)

    async def write_status(self, api: KubeletApi, ns: str, name: str, pod: dict[str, Any], view: PodView) -> str:
        old = pod.get("status") or {}
        new = compute_pod_status(view, old_status=old, now=now_rfc3339())
        if status_changed(old, new) and new != self._last_sent:
            began = time.monotonic()
            await api.patch_pod_status(ns, name, new)
            kubelet_metrics.POD_STATUS_SYNC.observe(time.monotonic() - began)
            self._last_sent = new
        if new["phase"] == "Running" and self._seen_s is not None:
            kubelet_metrics.POD_START_DURATION.observe(time.monotonic() - self._seen_s)
            self._seen_s = None
        return str(new["phase"])


__all__ = ["PodRecord"]
