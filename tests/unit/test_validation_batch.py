"""CronJob validation and the Job selector generated on create (admission/validation_batch.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.admission.validation import parse_object, validate
from apiserver.admission.validation_batch import generate_job_selector
from machinery.defaults import apply_defaults
from machinery.models import CronJob, Job

CRONJOB: dict[str, Any] = {
    "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "d"},
    "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}},
}


def _causes(changes: dict[str, Any]) -> list[tuple[str, str]]:
    data = copy.deepcopy(CRONJOB)
    for path, value in changes.items():
        cur = data
        *parents, last = path.split(".")
        for p in parents:
            cur = cur.setdefault(p, {})
        cur[last] = value
    obj, causes = parse_object(CronJob, data)
    assert not causes and obj is not None
    apply_defaults(obj)
    return [(c["field"], c["reason"]) for c in validate(obj)]


def test_defaults_and_valid_base() -> None:
    obj, _ = parse_object(CronJob, copy.deepcopy(CRONJOB))
    assert obj is not None
    spec = apply_defaults(obj).to_dict()["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]  # the Job gets it when created
    assert _causes({}) == []


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"spec.schedule": "61 * * * *"}, "spec.schedule", "FieldValueInvalid"),
    ({"spec.schedule": "TZ=UTC 0 * * * *"}, "spec.schedule", "FieldValueInvalid"),
    ({"spec.schedule": ""}, "spec.schedule", "FieldValueRequired"),
    ({"spec.timeZone": "Nowhere/City"}, "spec.timeZone", "FieldValueInvalid"),
    ({"spec.timeZone": "Local"}, "spec.timeZone", "FieldValueInvalid"),
    ({"spec.concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy", "FieldValueNotSupported"),
    ({"spec.startingDeadlineSeconds": -1}, "spec.startingDeadlineSeconds", "FieldValueInvalid"),
    ({"spec.successfulJobsHistoryLimit": -1}, "spec.successfulJobsHistoryLimit", "FieldValueInvalid"),
    ({"metadata.name": "x" * 53}, "metadata.name", "FieldValueInvalid"),
    ({"spec.jobTemplate.spec.selector": {"matchLabels": {"a": "b"}}}, "spec.jobTemplate.spec.selector",
     "FieldValueInvalid"),
    ({"spec.jobTemplate.spec.template.spec.restartPolicy": "Always"},
     "spec.jobTemplate.spec.template.spec.restartPolicy", "FieldValueNotSupported"),
])
def test_rules(changes: dict[str, Any], field: str, reason: str) -> None:
    assert (field, reason) in _causes(changes)


def test_time_zone_accepted() -> None:
    assert _causes({"spec.timeZone": "Europe/Paris", "spec.schedule": "@daily"}) == []


def test_job_selector_generated_like_kubernetes() -> None:
    body: dict[str, Any] = {"metadata": {"name": "pi", "uid": "u-1"},
                            "spec": {"template": {"metadata": {"labels": {"app": "pi", "job-name": "mine"}},
                                                  "spec": {"restartPolicy": "Never",
                                                           "containers": [{"name": "c", "image": "b"}]}}}}
    generate_job_selector(body)
    labels = body["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "pi", "job-name": "mine", "batch.kubernetes.io/job-name": "pi",
                      "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1"}
    assert body["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    job, causes = parse_object(Job, {"apiVersion": "batch/v1", "kind": "Job", **body,
                                     "metadata": {**body["metadata"], "namespace": "d"}})
    assert not causes and job is not None
    assert validate(apply_defaults(job)) == []


def test_manual_selector_left_alone() -> None:
    body: dict[str, Any] = {"metadata": {"name": "pi", "uid": "u-1"},
                            "spec": {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}},
                                     "template": {"metadata": {"labels": {"a": "b"}}}}}
    before = copy.deepcopy(body)
    generate_job_selector(body)
    assert body == before


def _job_causes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "d", "uid": "u"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "b"}]}},
                     **spec}}
    generate_job_selector(body)
    obj, causes = parse_object(Job, body)
    assert not causes and obj is not None
    return [(c["field"], c["reason"]) for c in validate(apply_defaults(obj))]


def test_pod_failure_policy_validation() -> None:
    good = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                      {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0, 1]}}]}
    assert _job_causes({"podFailurePolicy": good}) == []
    both = {"rules": [{"action": "Count", "onExitCodes": {"operator": "In", "values": [1]},
                       "onPodConditions": [{"type": "X"}]}]}
    assert ("spec.podFailurePolicy.rules[0]", "FieldValueInvalid") in _job_causes({"podFailurePolicy": both})
    zero = {"rules": [{"action": "Kill", "onExitCodes": {"operator": "In", "values": [0]}}]}
    causes = _job_causes({"podFailurePolicy": zero})
    assert ("spec.podFailurePolicy.rules[0].action", "FieldValueNotSupported") in causes
    assert ("spec.podFailurePolicy.rules[0].onExitCodes.values", "FieldValueInvalid") in causes
    body_on_failure = {"podFailurePolicy": good,
                       "template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "b"}]}}}
    assert ("spec.template.spec.restartPolicy", "FieldValueInvalid") in _job_causes(body_on_failure)
