"""Job selector generation and CronJob validation (Kubernetes' pkg/registry/batch/job
strategy and pkg/apis/batch/validation).

Contract:
- `generate_job_selector(body)` runs on a Job create before parsing, unless
  `spec.manualSelector` is true: the template gets the labels `controller-uid`,
  `batch.kubernetes.io/controller-uid` (= the new uid), `job-name`,
  `batch.kubernetes.io/job-name` (= the name) where the user did not set them, and
  `spec.selector.matchLabels` gets `batch.kubernetes.io/controller-uid`. A user label that
  contradicts them is then rejected by the selector/template check of validation.
- `validate_cronjob(errs, cj)`: name at most 52 characters (the Job names get 11 more),
  schedule required and parseable (`machinery.cron`, TZ= prefixes refused), timeZone an IANA
  name (not "" or "Local"), concurrencyPolicy Allow|Forbid|Replace, startingDeadlineSeconds
  and the history limits >= 0, a job template whose pod template restartPolicy is OnFailure or
  Never, no `selector` and no `manualSelector: true` in the job template.
- `validate_pod_failure_policy(errs, job_spec, path)`: the podFailurePolicy rules of a Job (or a
  CronJob's job template) as Kubernetes validates them.
"""

from __future__ import annotations

from typing import Any

from apiserver.admission.validation_common import Errs
from apiserver.admission.validation_pod import validate_pod_spec
from machinery.cron import load_zone, parse_schedule
from machinery.models import (
    CONTROLLER_UID_LABEL,
    JOB_NAME_LABEL,
    LEGACY_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
    CronJob,
    JobSpec,
)

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
CRONJOB_NAME_MAX = 52


def _dict_at(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def generate_job_selector(body: dict[str, Any]) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    meta = body.get("metadata") or {}
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    labels = _dict_at(_dict_at(_dict_at(spec, "template"), "metadata"), "labels")
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, uid)
    match = _dict_at(_dict_at(spec, "selector"), "matchLabels")
    match.setdefault(CONTROLLER_UID_LABEL, uid)


POD_FAILURE_ACTIONS = ("FailJob", "FailIndex", "Ignore", "Count")


def validate_pod_failure_policy(errs: Errs, spec: JobSpec, path: str = "spec") -> None:
    """Kubernetes' validatePodFailurePolicy: restartPolicy Never, rules with an action and exactly
    one of onExitCodes (In/NotIn, 1-255 unique values, no 0 with In) / onPodConditions."""
    policy = spec.podFailurePolicy
    if policy is None:
        return
    restart = spec.template.spec.restartPolicy if spec.template and spec.template.spec else None
    if restart != "Never":
        errs.invalid(f"{path}.template.spec.restartPolicy", restart,
                     'only "Never" is supported when podFailurePolicy is specified')
    rules = policy.get("rules")
    if not isinstance(rules, list):
        errs.required(f"{path}.podFailurePolicy.rules")
        return
    for i, rule in enumerate(rules):
        rpath = f"{path}.podFailurePolicy.rules[{i}]"
        if not isinstance(rule, dict):
            errs.invalid(rpath, rule, "must be an object")
            continue
        errs.enum(f"{rpath}.action", rule.get("action"), POD_FAILURE_ACTIONS, required=True)
        if rule.get("action") == "FailIndex" and spec.backoffLimitPerIndex is None:
            errs.invalid(f"{rpath}.action", "FailIndex", "requires the backoffLimitPerIndex to be set")
        codes, conds = rule.get("onExitCodes"), rule.get("onPodConditions")
        if (codes is None) == (conds is None):
            errs.invalid(rpath, "", "specifying one of OnExitCodes and OnPodConditions is required")
            continue
        if codes is not None:
            errs.enum(f"{rpath}.onExitCodes.operator", codes.get("operator"), ("In", "NotIn"), required=True)
            values = codes.get("values") or []
            if not values or len(values) > 255:
                errs.invalid(f"{rpath}.onExitCodes.values", values, "must have between 1 and 255 values")
            elif len(set(values)) != len(values):
                errs.invalid(f"{rpath}.onExitCodes.values", values, "must not contain duplicates")
            elif codes.get("operator") == "In" and 0 in values:
                errs.invalid(f"{rpath}.onExitCodes.values", 0, "must not be 0 for the In operator")
        for j, cond in enumerate(conds or []):
            if not cond.get("type"):
                errs.required(f"{rpath}.onPodConditions[{j}].type")
            errs.enum(f"{rpath}.onPodConditions[{j}].status", cond.get("status"), ("True", "False", "Unknown"))


def validate_cronjob(errs: Errs, cj: CronJob) -> None:
    if cj.metadata.name and len(cj.metadata.name) > CRONJOB_NAME_MAX:
        errs.invalid("metadata.name", cj.metadata.name, f"must be no more than {CRONJOB_NAME_MAX} characters")
    spec = cj.spec
    if spec is None:
        errs.required("spec")
        return
    if not spec.schedule:
        errs.required("spec.schedule")
    else:
        try:
            parse_schedule(spec.schedule)
        except ValueError as exc:
            errs.invalid("spec.schedule", spec.schedule, str(exc))
    if spec.timeZone is not None:
        if spec.timeZone == "":
            errs.invalid("spec.timeZone", "", "timeZone must be nil or non-empty string")
        elif spec.timeZone.lower() == "local":
            errs.invalid("spec.timeZone", spec.timeZone,
                         "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")
        else:
            try:
                load_zone(spec.timeZone)
            except ValueError as exc:
                errs.invalid("spec.timeZone", spec.timeZone, str(exc))
    errs.enum("spec.concurrencyPolicy", spec.concurrencyPolicy, CONCURRENCY_POLICIES, required=True)
    for name in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs.min_value(f"spec.{name}", getattr(spec, name), 0)
    template = spec.jobTemplate
    jspec = template.spec if template is not None else None
    if jspec is None:
        errs.required("spec.jobTemplate.spec")
        return
    path = "spec.jobTemplate.spec"
    if jspec.selector is not None:
        errs.invalid(f"{path}.selector", jspec.selector.to_dict(), "`selector` will be auto-generated")
    if jspec.manualSelector:
        errs.not_supported(f"{path}.manualSelector", True, ("nil", "false"))
    for name in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        errs.min_value(f"{path}.{name}", getattr(jspec, name), 0)
    errs.min_value(f"{path}.activeDeadlineSeconds", jspec.activeDeadlineSeconds, 1)
    errs.enum(f"{path}.completionMode", jspec.completionMode, ("NonIndexed", "Indexed"))
    if jspec.template is None or jspec.template.spec is None:
        errs.required(f"{path}.template.spec")
        return
    errs.labels(f"{path}.template.metadata.labels",
                jspec.template.metadata.labels if jspec.template.metadata else None)
    validate_pod_spec(errs, jspec.template.spec, f"{path}.template.spec", ("OnFailure", "Never"))
    validate_pod_failure_policy(errs, jspec, path)


__all__ = ["CONCURRENCY_POLICIES", "POD_FAILURE_ACTIONS", "generate_job_selector", "validate_cronjob",
           "validate_pod_failure_policy"]
