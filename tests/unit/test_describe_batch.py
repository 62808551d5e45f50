"""describe layouts of DaemonSet, Job and CronJob (kubectl's field names and order)."""

from __future__ import annotations

from typing import Any

from cli.describe import describe_object
from cli.describe_writer import Writer

TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "a"}},
                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _text(obj: dict[str, Any], related: dict[str, list[dict[str, Any]]] | None = None) -> list[str]:
    w = Writer()
    describe_object(w, obj, related or {})
    return [line.rstrip() for line in w.render().splitlines()]


def _keys(lines: list[str]) -> list[str]:
    return [line.split(":")[0] for line in lines if line and not line.startswith(" ")]


def test_daemonset() -> None:
    ds = {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
          "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE},
          "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberMisscheduled": 0,
                     "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}}
    pods = [{"status": {"phase": "Running"}}, {"status": {"phase": "Pending"}}]
    lines = _text(ds, {"pods": pods})
    assert _keys(lines)[:12] == [
        "Name", "Namespace", "Selector", "Node-Selector", "Labels", "Annotations", "Desired Number of Nodes Scheduled",
        "Current Number of Nodes Scheduled", "Number of Nodes Scheduled with Up-to-date Pods",
        "Number of Nodes Scheduled with Available Pods", "Number of Nodes Misscheduled", "Pods Status"]
    assert any(line.endswith("1 Running / 1 Waiting / 0 Succeeded / 0 Failed") for line in lines)


def test_job() -> None:
    job = {"kind": "Job", "metadata": {"name": "pi", "namespace": "d"},
           "spec": {"parallelism": 2, "completions": 5, "completionMode": "Indexed", "backoffLimit": 4,
                    "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}, "template": TEMPLATE},
           "status": {"startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:01:05Z",
                      "succeeded": 5, "completedIndexes": "0-4"}}
    lines = _text(job)
    assert any(line.startswith("Completion Mode:") and line.endswith("Indexed") for line in lines)
    assert any(line.startswith("Duration:") and line.endswith("65s") for line in lines)
    assert any(line.endswith("0 Active (0 Ready) / 5 Succeeded / 0 Failed") for line in lines)
    assert any(line.startswith("Completed Indexes:") and line.endswith("0-4") for line in lines)


def test_cronjob() -> None:
    cj = {"kind": "CronJob", "metadata": {"name": "hello", "namespace": "d"},
          "spec": {"schedule": "*/1 * * * *", "concurrencyPolicy": "Forbid", "suspend": False,
                   "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                   "jobTemplate": {"spec": {"template": TEMPLATE}}},
          "status": {"active": [{"name": "hello-1"}]}}
    lines = _text(cj)
    keys = _keys(lines)
    assert keys.index("Schedule") < keys.index("Concurrency Policy") < keys.index("Last Schedule Time")
    assert any(line.startswith("Active Jobs:") and line.endswith("hello-1") for line in lines)
    assert any(line.startswith("Starting Deadline Seconds:") and line.endswith("<unset>") for line in lines)
