"""HorizontalPodAutoscaler controller (Kubernetes pkg/controller/podautoscaler, resource metrics).

Contract:
- Every HPA is synced when it changes and again every `hpa_sync_period_s` (15 s), level-
  triggered: read the target's `/scale` subresource (Deployments, ReplicaSets, StatefulSets,
  ReplicationControllers: anything the API serves /scale for), list the pods of
  `scale.status.selector` from the pod informer, read their PodMetrics from the resource
  metrics API (`/apis/metrics.k8s.io/v1beta1/namespaces/NS/pods?labelSelector=`: the metrics
  add-on through the API server), and compute one proposal per metric (`Resource` and
  `ContainerResource` metrics of cpu/memory, `Utilization` of the requests or `AverageValue`;
  controllers/hpa/replicas.py); the largest wins. No `metrics` means cpu at 80% (v1's default).
- The proposal is normalized (controllers/hpa/normalize.py: stabilization window, behavior
  policies, min/max) and, when it differs from the current scale, written to `/scale` with a
  Normal Event `SuccessfulRescale` "New size: N; reason: ...", and `status.lastScaleTime`.
- Status (through /status): currentReplicas, desiredReplicas, currentMetrics, observedGeneration,
  and the conditions AbleToScale (SucceededRescale | ReadyForNewScale | ScaleDownStabilized |
  ScaleUpStabilized | FailedGetScale | FailedUpdateScale), ScalingActive (ValidMetricFound |
  FailedGetResourceMetric | ScalingDisabled when the target has 0 replicas), ScalingLimited
  (TooManyReplicas | TooFewReplicas | ScaleUpLimit | ScaleDownLimit | DesiredWithinRange),
  messages worded as Kubernetes'; a condition's lastTransitionTime changes only with its status.
  Failures to get the scale or metrics are Warning Events (FailedGetScale,
  FailedGetResourceMetric, FailedComputeMetricsReplicas, FailedRescale) and leave the scale
  alone.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from controllers.base import Controller, ControllerContext
from controllers.hpa.normalize import Normalizer, default_behavior
from controllers.hpa.replicas import MetricsError, PodInfo, Recommendation, raw_replicas, resource_replicas
from controllers.options import parse_duration_s
from machinery import errors, registry
from machinery.clock import REAL_CLOCK, Clock, format_time, parse_time
from machinery.events import NORMAL, WARNING
from machinery.models import HorizontalPodAutoscaler, Pod
from machinery.quantity import cpu_millis, memory_bytes, parse_quantity
from machinery.selectors import parse_label_selector

log = logging.getLogger(__name__)
METRICS_PODS = "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"
DEFAULT_METRICS = [{"type": "Resource", "resource": {"name": "cpu",
                                                     "target": {"type": "Utilization", "averageUtilization": 80}}}]
MERGE = {"Content-Type": "application/merge-patch+json"}


def _amount(resource: str, q: Any) -> float:
    """Quantity -> millicores (cpu) or bytes (memory and the rest)."""
    return float(cpu_millis(str(q))) if resource == "cpu" else float(memory_bytes(str(q)))


def _quantity(resource: str, value: float) -> str:
    return f"{round(value)}m" if resource == "cpu" else str(round(value))


def _epoch(ts: Any) -> float | None:
    parsed = parse_time(ts) if ts else None
    return parsed.timestamp() if parsed is not None else None


def pod_info(pod: dict[str, Any], resource: str) -> PodInfo:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    requests: dict[str, float | None] = {}
    for c in spec.get("containers") or []:
        req = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        requests[str(c.get("name") or "")] = None if req is None else _amount(resource, req)
    ts = ready.get("lastTransitionTime") if ready else None
    return PodInfo(name=str(meta.get("name") or ""), phase=str(status.get("phase") or "Pending"),
                   ready=bool(ready and ready.get("status") == "True"),
                   ready_transition_s=_epoch(ts), start_s=_epoch(status.get("startTime")),
                   deleted=bool(meta.get("deletionTimestamp")), requests=requests)


def _metric_name(spec: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    if spec.get("type") == "ContainerResource":
        src = spec.get("containerResource") or {}
        return str(src.get("name") or ""), str(src.get("container") or ""), src.get("target") or {}
    src = spec.get("resource") or {}
    return str(src.get("name") or ""), None, src.get("target") or {}


def _describe(resource: str, target: dict[str, Any]) -> str:
    if target.get("type") == "Utilization":
        return f"{resource} resource utilization (percentage of request)"
    return f"{resource} resource"


class HorizontalPodAutoscalerController(Controller):
    NAME = "horizontalpodautoscaling"
    KIND = HorizontalPodAutoscaler

    def __init__(self, ctx: ControllerContext, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(ctx)
        self.opts = ctx.options
        self.clock = clock
        self.normalizer = Normalizer(self.opts.hpa_downscale_stabilization_s, clock)
        self.hpas = ctx.factory.informer(HorizontalPodAutoscaler)
        self.pods = ctx.factory.informer(Pod)
        self.hpas.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                               on_delete=lambda o: self.normalizer.forget(getattr(o, "key", "")))

    # --- metrics ---------------------------------------------------------------------------
    async def _pod_metrics(self, ns: str, selector: str) -> tuple[dict[str, dict[str, dict[str, float]]], float | None,
                                                                  float]:
        """{resource: {pod: {container: value}}}, the newest sample time, the window (s)."""
        body = await self.client.request("GET", METRICS_PODS.format(ns=ns), params={"labelSelector": selector})
        usage: dict[str, dict[str, dict[str, float]]] = {"cpu": {}, "memory": {}}
        newest, window = None, 0.0
        for item in body.get("items") or []:
            name = item["metadata"]["name"]
            for c in item.get("containers") or []:
                for res, q in (c.get("usage") or {}).items():
                    value = float(parse_quantity(q) * 1000) if res == "cpu" else float(parse_quantity(q))
                    usage.setdefault(res, {}).setdefault(name, {})[c.get("name", "")] = value
            at = _epoch(item.get("timestamp"))
            if at is not None:
                newest = at if newest is None else max(newest, at)
            if item.get("window"):
                window = max(window, parse_duration_s(str(item["window"])))
        return usage, newest, window

    def _proposal(self, spec: dict[str, Any], current: int, pods: list[dict[str, Any]],
                  usage: dict[str, dict[str, dict[str, float]]], at_s: float | None,
                  window_s: float) -> tuple[Recommendation, dict[str, Any]]:
        resource, container, target = _metric_name(spec)
        infos = [pod_info(p, resource) for p in pods]
        per_pod = usage.get(resource, {})
        now_s = self.clock.now().timestamp()
        if target.get("type") == "Utilization":
            rec = resource_replicas(current, int(target.get("averageUtilization") or 0) or 1, infos, per_pod,
                                    resource=resource, container=container, now_s=now_s,
                                    tolerance=self.opts.hpa_tolerance, metric_at_s=at_s, metric_window_s=window_s,
                                    cpu_initialization_period_s=self.opts.hpa_cpu_initialization_period_s,
                                    initial_readiness_delay_s=self.opts.hpa_initial_readiness_delay_s)
            current_status = {"averageUtilization": rec.utilization,
                              "averageValue": _quantity(resource, rec.average)}
        elif target.get("type") == "AverageValue":
            rec = raw_replicas(current, _amount(resource, target.get("averageValue") or "0"), infos, per_pod,
                               resource=resource, container=container, now_s=now_s, tolerance=self.opts.hpa_tolerance)
            current_status = {"averageValue": _quantity(resource, rec.average)}
        else:
            raise MetricsError("FailedGetResourceMetric",
                               f"invalid target type {target.get('type')!r} for the {resource} resource metric")
        if spec.get("type") == "ContainerResource":
            return rec, {"type": "ContainerResource", "containerResource": {
                "name": resource, "container": container, "current": current_status}}
        return rec, {"type": "Resource", "resource": {"name": resource, "current": current_status}}

    # --- sync ------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        hpa = self.hpas.get(key)
        if hpa is None:
            self.normalizer.forget(key)
            return
        try:
            await self._reconcile(hpa)
        finally:
            if self.hpas.get(key) is not None:
                self.queue.add_after(key, self.opts.hpa_sync_period_s)

    async def _reconcile(self, hpa: HorizontalPodAutoscaler) -> None:
        data = hpa.to_dict()
        ns = hpa.namespace or "default"
        spec, old_status = data.get("spec") or {}, data.get("status") or {}
        conds = _Conditions(old_status.get("conditions") or [], self.clock.now())
        status: dict[str, Any] = {"observedGeneration": hpa.metadata.generation,
                                  "currentReplicas": int(old_status.get("currentReplicas") or 0),
                                  "desiredReplicas": int(old_status.get("desiredReplicas") or 0)}
        if old_status.get("lastScaleTime"):
            status["lastScaleTime"] = old_status["lastScaleTime"]
        if old_status.get("currentMetrics"):
            status["currentMetrics"] = old_status["currentMetrics"]
        ref = spec.get("scaleTargetRef") or {}
        kind_label = f"{ref.get('kind', '')}/{ref.get('name', '')}"
        try:
            cls = registry.by_kind(str(ref.get("kind") or ""), ref.get("apiVersion") or None)
            scale_path = registry.object_path(cls, str(ref.get("name") or ""), ns, "scale")
            scale = await self.client.request("GET", scale_path)
        except (KeyError, ValueError, errors.ApiError) as exc:
            msg = f"the HPA controller was unable to get the target's current scale: {exc}"
            await self.recorder.event(hpa, WARNING, "FailedGetScale", msg)
            conds.set("AbleToScale", "False", "FailedGetScale", msg)
            await self._write(hpa, status, conds)
            if isinstance(exc, errors.ApiError) and errors.is_temporary(exc):
                raise
            return
        conds.set("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale")
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        status["currentReplicas"] = int((scale.get("status") or {}).get("replicas") or 0)
        min_r, max_r = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 0)
        if current == 0 and min_r != 0:
            conds.set("ScalingActive", "False", "ScalingDisabled",
                      "scaling is disabled since the replica count of the target is zero")
            status["desiredReplicas"] = 0
            await self._write(hpa, status, conds)
            return
        selector_text = str((scale.get("status") or {}).get("selector") or "")
        try:
            if not selector_text:
                raise MetricsError("InvalidSelector", "the HPA target's scale is missing a selector")
            selector = parse_label_selector(selector_text)
            pods = [p.to_dict() for p in self.pods.list()
                    if p.namespace == ns and selector.matches(p.metadata.labels)]
            try:
                usage, at_s, window_s = await self._pod_metrics(ns, selector_text)
            except errors.ApiError as exc:
                raise MetricsError("FailedGetResourceMetric",
                                   f"unable to fetch metrics from resource metrics API: {exc}") from None
            best: Recommendation | None = None
            best_desc, statuses = "", []
            for mspec in spec.get("metrics") or DEFAULT_METRICS:
                rec, mstatus = self._proposal(mspec, current, pods, usage, at_s, window_s)
                statuses.append(mstatus)
                if best is None or rec.replicas > best.replicas:
                    best, best_desc = rec, _describe(*_metric_name(mspec)[::2])
        except MetricsError as exc:
            msg = f"the HPA was unable to compute the replica count: {exc.message}"
            await self.recorder.event(hpa, WARNING, exc.reason, exc.message)
            await self.recorder.event(hpa, WARNING, "FailedComputeMetricsReplicas",
                                      f"invalid metrics ({len(spec.get('metrics') or DEFAULT_METRICS)} invalid out of "
                                      f"{len(spec.get('metrics') or DEFAULT_METRICS)}), first error is: {exc.message}")
            conds.set("ScalingActive", "False", exc.reason, msg)
            status["desiredReplicas"] = current
            await self._write(hpa, status, conds)
            return
        assert best is not None
        status["currentMetrics"] = statuses
        conds.set("ScalingActive", "True", "ValidMetricFound",
                  f"the HPA was able to successfully calculate a replica count from {best_desc}")
        behavior = default_behavior(spec.get("behavior"))
        norm = self.normalizer.normalize(hpa.key, behavior, current=current, desired=best.replicas,
                                         min_replicas=min_r, max_replicas=max_r)
        conds.set("AbleToScale", "True", norm.able_reason, norm.able_message)
        conds.set("ScalingLimited", "True" if norm.limited else "False", norm.limited_reason, norm.limited_message)
        desired = norm.replicas
        status["desiredReplicas"] = desired
        if desired != current:
            reason = f"{best_desc} above target" if desired > current else "All metrics below target"
            try:
                await self.client.request("PATCH", scale_path, json={"spec": {"replicas": desired}}, headers=MERGE)
            except errors.ApiError as exc:
                msg = f"New size: {desired}; reason: {reason}; error: {exc}"
                await self.recorder.event(hpa, WARNING, "FailedRescale", msg)
                conds.set("AbleToScale", "False", "FailedUpdateScale",
                          f"the HPA controller was unable to update the target scale: {exc}")
                await self._write(hpa, status, conds)
                raise
            self.normalizer.record_scale(hpa.key, behavior, current, desired)
            conds.set("AbleToScale", "True", "SucceededRescale",
                      f"the HPA controller was able to update the target scale to {desired}")
            await self.recorder.event(hpa, NORMAL, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            log.info("hpa %s: %s %d -> %d (%s)", hpa.key, kind_label, current, desired, reason)
            status["lastScaleTime"] = format_time(self.clock.now())
        await self._write(hpa, status, conds)

    async def _write(self, hpa: HorizontalPodAutoscaler, status: dict[str, Any], conds: _Conditions) -> None:
        status["conditions"] = conds.items
        old = (hpa.to_dict().get("status") or {})
        if all(old.get(k) == v for k, v in status.items()):
            return
        try:
            await self.client.request("PATCH", registry.object_path(HorizontalPodAutoscaler, hpa.name or "",
                                                                      hpa.namespace, "status"),
                                      json={"status": status}, headers=MERGE)
        except errors.NotFound:
            return  # deleted meanwhile


class _Conditions:
    """The HPA's conditions in Kubernetes' order; lastTransitionTime kept while the status holds."""

    ORDER = ("AbleToScale", "ScalingActive", "ScalingLimited")

    def __init__(self, current: list[dict[str, Any]], now: datetime) -> None:
        self.by_type = {c.get("type"): dict(c) for c in current}
        self.now = format_time(now)

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        old = self.by_type.get(type_)
        at = old.get("lastTransitionTime") if old and old.get("status") == status else self.now
        self.by_type[type_] = {"type": type_, "status": status, "lastTransitionTime": at, "reason": reason,
                               "message": message}

    @property
    def items(self) -> list[dict[str, Any]]:
        return [self.by_type[t] for t in self.ORDER if t in self.by_type]
