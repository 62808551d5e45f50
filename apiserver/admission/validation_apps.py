"""Validation of workloads: ReplicaSet, ReplicationController, Deployment, StatefulSet, DaemonSet, Job.

Contract: `validate_workload(errs, obj)` and `validate_workload_update(errs, new, old)` append
Kubernetes causes: selector required (Job: only when given) and matching the template labels,
template restartPolicy (Always; Job: OnFailure or Never), replicas and counters >= 0,
strategies, and the immutable fields on update (selectors, Job template, StatefulSet spec
except replicas/template/updateStrategy/ordinals/minReadySeconds/PVC retention). A
ReplicationController's selector is a plain label map, required non-empty (after defaulting
from the template labels) and, as in Kubernetes, mutable.
"""

from __future__ import annotations

from typing import Any

from apiserver.admission.validation_batch import validate_pod_failure_policy
from apiserver.admission.validation_common import Errs, dns1123_label_errors, int_or_percent
from apiserver.admission.validation_pod import validate_pod_spec
from machinery.meta import LabelSelector, Resource
from machinery.models import (
    DaemonSet,
    Deployment,
    Job,
    PersistentVolumeClaim,
    PodTemplateSpec,
    ReplicaSet,
    ReplicationController,
    StatefulSet,
)
from machinery.models.pod import Volume
from machinery.selectors import selector_from_model

WORKLOAD_KINDS = (ReplicaSet, ReplicationController, Deployment, StatefulSet, DaemonSet, Job)
_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(errs: Errs, sel: LabelSelector | None, path: str) -> None:
    """An optional metav1.LabelSelector's rules (operators, values, label syntax) at `path`."""
    _validate_selector(errs, sel, path, required=False)


def _validate_selector(errs: Errs, sel: LabelSelector | None, path: str, *, required: bool) -> None:
    if sel is None:
        if required:
            errs.required(path)
        return
    errs.labels(f"{path}.matchLabels", sel.matchLabels)
    for i, req in enumerate(sel.matchExpressions or []):
        rpath = f"{path}.matchExpressions[{i}]"
        errs.enum(f"{rpath}.operator", req.operator, _SELECTOR_OPS, required=True)
        if req.operator in ("In", "NotIn") and not req.values:
            errs.required(f"{rpath}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        if req.operator in ("Exists", "DoesNotExist") and req.values:
            errs.forbidden(f"{rpath}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    if required and not sel.matchLabels and not sel.matchExpressions:
        errs.invalid(path, sel.to_dict(), "empty selector is invalid for deployment")


def _validate_template(errs: Errs, template: PodTemplateSpec | None, sel: LabelSelector | None,
                       path: str, restart_policies: tuple[str, ...]) -> None:
    if template is None:
        errs.required(path)
        return
    labels = (template.metadata.labels if template.metadata else None) or {}
    errs.labels(f"{path}.metadata.labels", labels)
    if sel is not None:
        try:
            matches = selector_from_model(sel).matches(labels)
        except ValueError:
            matches = True  # the selector itself is invalid: already reported above
        if not matches:
            errs.invalid(f"{path}.metadata.labels", labels, "`selector` does not match template `labels`")
    if template.spec is None:
        errs.required(f"{path}.spec")
        return
    validate_pod_spec(errs, template.spec, f"{path}.spec", restart_policies)


def _template_name(template: Any) -> str:
    meta = template.get("metadata") if isinstance(template, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def _validate_claim_templates(errs: Errs, templates: list[Any] | None) -> None:
    """Each template is a PersistentVolumeClaim (name, access modes, storage request)."""
    seen: set[str] = set()
    for i, template in enumerate(templates or []):
        path = f"spec.volumeClaimTemplates[{i}]"
        name = _template_name(template)
        if not name:
            errs.required(f"{path}.metadata.name")
        elif name in seen:
            errs.duplicate(f"{path}.metadata.name", name)
        else:
            for why in dns1123_label_errors(name):
                errs.invalid(f"{path}.metadata.name", name, why)
        seen.add(name)
        spec = template.get("spec") if isinstance(template, dict) else None
        if not isinstance(spec, dict):
            errs.required(f"{path}.spec")
            continue
        try:
            claim = PersistentVolumeClaim.model_validate({"metadata": {"name": name or "x"}, "spec": spec})
        except ValueError:
            errs.invalid(f"{path}.spec", "", "must be a PersistentVolumeClaim spec")
            continue
        cspec = claim.spec
        if cspec is None or not cspec.accessModes:
            errs.required(f"{path}.spec.accessModes")
        requests = (cspec.resources.requests or {}) if cspec and cspec.resources else {}
        if "storage" not in requests:
            errs.required(f"{path}.spec.resources.requests[storage]")


def _with_claim_volumes(sts: StatefulSet, template: PodTemplateSpec) -> PodTemplateSpec:
    """The template as the pods will have it: one persistentVolumeClaim volume per claim
    template, so volumeMounts may name claim templates (the controller adds the volumes)."""
    assert sts.spec is not None and template.spec is not None
    names = [_template_name(t) for t in sts.spec.volumeClaimTemplates or []]
    if not names:
        return template
    clone = template.model_copy(deep=True)
    assert clone.spec is not None
    have = {v.name for v in clone.spec.volumes or []}
    extra = [Volume(name=n, persistentVolumeClaim={"claimName": n}) for n in names if n and n not in have]
    clone.spec.volumes = [*(clone.spec.volumes or []), *extra]
    return clone


def _validate_rolling(errs: Errs, surge: Any, unavailable: Any, path: str) -> None:
    surge_v = int_or_percent(errs, f"{path}.maxSurge", surge)
    unavail_v = int_or_percent(errs, f"{path}.maxUnavailable", unavailable)
    if isinstance(unavailable, str) and unavail_v is not None and unavail_v > 100:
        errs.invalid(f"{path}.maxUnavailable", unavailable, "must not be greater than 100%")
    if surge_v == 0 and unavail_v == 0:
        errs.invalid(f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0")


def _validate_deployment(errs: Errs, d: Deployment) -> None:
    spec = d.spec
    assert spec is not None
    strategy = spec.strategy
    if strategy is not None:
        errs.enum("spec.strategy.type", strategy.type, ("Recreate", "RollingUpdate"))
        if strategy.type == "Recreate" and strategy.rollingUpdate is not None:
            errs.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
        elif strategy.rollingUpdate is not None:
            ru = strategy.rollingUpdate
            _validate_rolling(errs, ru.maxSurge, ru.maxUnavailable, "spec.strategy.rollingUpdate")
    errs.min_value("spec.revisionHistoryLimit", spec.revisionHistoryLimit, 0)
    if spec.progressDeadlineSeconds is not None:
        errs.min_value("spec.progressDeadlineSeconds", spec.progressDeadlineSeconds, 1)
        if spec.progressDeadlineSeconds <= (spec.minReadySeconds or 0):
            errs.invalid("spec.progressDeadlineSeconds", spec.progressDeadlineSeconds,
                         "must be greater than minReadySeconds")


def _validate_statefulset(errs: Errs, s: StatefulSet) -> None:
    spec = s.spec
    assert spec is not None
    errs.enum("spec.podManagementPolicy", spec.podManagementPolicy, ("OrderedReady", "Parallel"))
    strategy = spec.updateStrategy
    if strategy is not None:
        errs.enum("spec.updateStrategy.type", strategy.type, ("RollingUpdate", "OnDelete"))
        if strategy.type == "OnDelete" and strategy.rollingUpdate is not None:
            errs.forbidden("spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'")
        elif strategy.rollingUpdate is not None:
            errs.min_value("spec.updateStrategy.rollingUpdate.partition", strategy.rollingUpdate.partition, 0)
            if strategy.rollingUpdate.maxUnavailable is not None:
                value = int_or_percent(errs, "spec.updateStrategy.rollingUpdate.maxUnavailable",
                                       strategy.rollingUpdate.maxUnavailable)
                if value == 0:
                    errs.invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", 0, "must be greater than 0")
    errs.min_value("spec.revisionHistoryLimit", spec.revisionHistoryLimit, 0)
    _validate_claim_templates(errs, spec.volumeClaimTemplates)
    policy = spec.persistentVolumeClaimRetentionPolicy
    if isinstance(policy, dict):
        for key in ("whenDeleted", "whenScaled"):
            value = policy.get(key)
            if value is not None and value not in ("Retain", "Delete"):
                errs.not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", value, ("Retain", "Delete"))
    if spec.ordinals is not None:
        errs.min_value("spec.ordinals.start", spec.ordinals.start, 0)


def _validate_daemonset(errs: Errs, ds: DaemonSet) -> None:
    spec = ds.spec
    assert spec is not None
    strategy = spec.updateStrategy
    if strategy is not None:
        errs.enum("spec.updateStrategy.type", strategy.type, ("RollingUpdate", "OnDelete"))
        if strategy.rollingUpdate is not None and strategy.type == "RollingUpdate":
            ru = strategy.rollingUpdate
            _validate_rolling(errs, ru.maxSurge, ru.maxUnavailable, "spec.updateStrategy.rollingUpdate")
    errs.min_value("spec.revisionHistoryLimit", spec.revisionHistoryLimit, 0)


def _validate_job(errs: Errs, job: Job) -> None:
    spec = job.spec
    assert spec is not None
    for name in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        errs.min_value(f"spec.{name}", getattr(spec, name), 0)
    errs.min_value("spec.activeDeadlineSeconds", spec.activeDeadlineSeconds, 1)
    errs.enum("spec.completionMode", spec.completionMode, ("NonIndexed", "Indexed"))
    if spec.completionMode == "Indexed" and spec.completions is None:
        errs.required("spec.completions", "when completion mode is Indexed")
    validate_pod_failure_policy(errs, spec)


def validate_workload(errs: Errs, obj: Resource) -> None:
    """All rules of a workload's spec (the object must be one of `WORKLOAD_KINDS`)."""
    spec = getattr(obj, "spec", None)
    if spec is None:
        errs.required("spec")
        return
    is_job = isinstance(obj, Job)
    selector: LabelSelector | None
    if isinstance(obj, ReplicationController):
        errs.labels("spec.selector", spec.selector)
        if not spec.selector:
            errs.required("spec.selector")
        selector = LabelSelector(matchLabels=spec.selector) if spec.selector else None
    else:
        _validate_selector(errs, spec.selector, "spec.selector", required=not is_job)
        selector = spec.selector
    if hasattr(spec, "replicas"):
        errs.min_value("spec.replicas", spec.replicas, 0)
    errs.min_value("spec.minReadySeconds", getattr(spec, "minReadySeconds", None), 0)
    policies = ("OnFailure", "Never") if is_job else ("Always",)
    template = spec.template
    if isinstance(obj, StatefulSet) and template is not None and template.spec is not None:
        template = _with_claim_volumes(obj, template)
    _validate_template(errs, template, selector, "spec.template", policies)
    if isinstance(obj, Deployment):
        _validate_deployment(errs, obj)
    elif isinstance(obj, StatefulSet):
        _validate_statefulset(errs, obj)
    elif isinstance(obj, DaemonSet):
        _validate_daemonset(errs, obj)
    elif isinstance(obj, Job):
        _validate_job(errs, obj)


def _dump(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value


def _immutable(errs: Errs, field: str, new: Any, old: Any) -> None:
    if _dump(new) != _dump(old):
        errs.invalid(field, _dump(new), "field is immutable")


_STS_MUTABLE = ("replicas", "template", "updateStrategy", "ordinals", "minReadySeconds",
                "persistentVolumeClaimRetentionPolicy", "revisionHistoryLimit")


def validate_workload_update(errs: Errs, new: Resource, old: Resource) -> None:
    """Immutable fields of workloads (see module docstring)."""
    nspec, ospec = getattr(new, "spec", None), getattr(old, "spec", None)
    if nspec is None or ospec is None:
        return
    if not isinstance(new, ReplicationController):
        _immutable(errs, "spec.selector", nspec.selector, ospec.selector)
    if isinstance(new, StatefulSet):
        ndump = {k: v for k, v in nspec.to_dict().items() if k not in _STS_MUTABLE}
        odump = {k: v for k, v in ospec.to_dict().items() if k not in _STS_MUTABLE}
        if ndump != odump:
            errs.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', "
                           "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
                           "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
    if isinstance(new, Job):
        _immutable(errs, "spec.template", nspec.template, ospec.template)
        _immutable(errs, "spec.completionMode", nspec.completionMode, ospec.completionMode)
        if nspec.completions != ospec.completions:
            errs.invalid("spec.completions", nspec.completions, "field is immutable")


__all__ = ["WORKLOAD_KINDS", "validate_label_selector", "validate_workload", "validate_workload_update"]
