"""`describe` layouts of DaemonSet, Job and CronJob, in kubectl's field order and wording.

Contract: `describe_daemonset`, `describe_job`, `describe_cronjob(w, obj, related)` write the
fields kubectl's DaemonSetDescriber/JobDescriber/CronJobDescriber print; `related["pods"]` (the
pods the workload controls, filled by cli/describe.py) gives the "Pods Status(es)" counts.
"""

from __future__ import annotations

from typing import Any

from cli.describe_kinds import _common, _containers
from cli.describe_writer import NONE, Writer, format_time
from machinery.tables import format_selector, human_duration, labels_string, parse_ts

Obj = dict[str, Any]


def _phases(pods: list[Obj]) -> dict[str, int]:
    out = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for p in pods:
        phase = (p.get("status") or {}).get("phase") or "Pending"
        out[phase] = out.get(phase, 0) + 1
    return out


def _template(w: Writer, template: Obj, level: int = 0) -> None:
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    w.line(level, "Pod Template")
    w.labels(level + 1, "Labels", meta.get("labels"))
    if meta.get("annotations"):
        w.labels(level + 1, "Annotations", meta.get("annotations"), sep=": ")
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], [], level=level + 1)
    _containers(w, "Containers", spec.get("containers") or [], [], level=level + 1)
    volumes = [v.get("name", "") for v in spec.get("volumes") or []]
    w.line(level + 1, "Volumes", ", ".join(volumes) or NONE)
    w.labels(level + 1, "Node-Selectors", spec.get("nodeSelector"))
    tols = [f"{t.get('key', '')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect', '')}"
            f"{' op=Exists' if t.get('operator') == 'Exists' else ''}" for t in spec.get("tolerations") or []]
    w.line(level + 1, "Tolerations", tols[0] if tols else NONE)
    for t in tols[1:]:
        w.line(level + 1, "", t)


def describe_daemonset(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    meta = o.get("metadata") or {}
    w.line(0, "Name", meta.get("name", ""))
    w.line(0, "Namespace", meta.get("namespace", ""))
    w.line(0, "Selector", format_selector(spec.get("selector")))
    w.line(0, "Node-Selector", labels_string(((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")))
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", {k: v for k, v in (meta.get("annotations") or {}).items()
                                if k != "kubectl.kubernetes.io/last-applied-configuration"}, sep=": ")
    w.line(0, "Desired Number of Nodes Scheduled", status.get("desiredNumberScheduled", 0))
    w.line(0, "Current Number of Nodes Scheduled", status.get("currentNumberScheduled", 0))
    w.line(0, "Number of Nodes Scheduled with Up-to-date Pods", status.get("updatedNumberScheduled", 0))
    w.line(0, "Number of Nodes Scheduled with Available Pods", status.get("numberAvailable", 0))
    w.line(0, "Number of Nodes Misscheduled", status.get("numberMisscheduled", 0))
    ph = _phases(related.get("pods", []))
    w.line(0, "Pods Status", f"{ph['Running']} Running / {ph['Pending']} Waiting / {ph['Succeeded']} Succeeded / "
                            f"{ph['Failed']} Failed")
    _template(w, spec.get("template") or {})


def describe_job(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    meta = o.get("metadata") or {}
    w.line(0, "Name", meta.get("name", ""))
    w.line(0, "Namespace", meta.get("namespace", ""))
    w.line(0, "Selector", format_selector(spec.get("selector")))
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", {k: v for k, v in (meta.get("annotations") or {}).items()
                                if k != "kubectl.kubernetes.io/last-applied-configuration"}, sep=": ")
    ref = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if ref:
        w.line(0, "Controlled By", f"{ref.get('kind')}/{ref.get('name')}")
    w.line(0, "Parallelism", spec.get("parallelism", 0))
    w.line(0, "Completions", spec["completions"] if spec.get("completions") is not None else "<unset>")
    w.line(0, "Completion Mode", spec.get("completionMode") or "NonIndexed")
    w.line(0, "Suspend", str(bool(spec.get("suspend"))).lower())
    w.line(0, "Backoff Limit", spec.get("backoffLimit", 6))
    if spec.get("ttlSecondsAfterFinished") is not None:
        w.line(0, "TTL Seconds After Finished", spec["ttlSecondsAfterFinished"])
    if spec.get("activeDeadlineSeconds") is not None:
        w.line(0, "Active Deadline Seconds", f"{spec['activeDeadlineSeconds']}s")
    start, done = parse_ts(status.get("startTime")), parse_ts(status.get("completionTime"))
    if start:
        w.line(0, "Start Time", format_time(status.get("startTime")))
    if done:
        w.line(0, "Completed At", format_time(status.get("completionTime")))
    if start and done:
        w.line(0, "Duration", human_duration((done - start).total_seconds()))
    w.line(0, "Pods Statuses", f"{status.get('active', 0)} Active ({status.get('ready', 0)} Ready) / "
                               f"{status.get('succeeded', 0)} Succeeded / {status.get('failed', 0)} Failed")
    if spec.get("completionMode") == "Indexed":
        w.line(0, "Completed Indexes", status.get("completedIndexes") or NONE)
    _template(w, spec.get("template") or {})


def describe_cronjob(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    jspec = (spec.get("jobTemplate") or {}).get("spec") or {}
    _common(w, o)

    def unset(value: Any) -> Any:
        return "<unset>" if value is None else value

    w.line(0, "Schedule", spec.get("schedule", ""))
    if spec.get("timeZone"):
        w.line(0, "Time Zone", spec["timeZone"])
    w.line(0, "Concurrency Policy", spec.get("concurrencyPolicy") or "Allow")
    w.line(0, "Suspend", str(bool(spec.get("suspend"))))
    w.line(0, "Successful Job History Limit", unset(spec.get("successfulJobsHistoryLimit")))
    w.line(0, "Failed Job History Limit", unset(spec.get("failedJobsHistoryLimit")))
    w.line(0, "Starting Deadline Seconds", f"{spec['startingDeadlineSeconds']}s"
           if spec.get("startingDeadlineSeconds") is not None else "<unset>")
    w.line(0, "Selector", format_selector(jspec.get("selector")) if jspec.get("selector") else "<unset>")
    w.line(0, "Parallelism", unset(jspec.get("parallelism")))
    w.line(0, "Completions", unset(jspec.get("completions")))
    _template(w, jspec.get("template") or {})
    w.line(0, "Last Schedule Time", format_time(status.get("lastScheduleTime"))
           if status.get("lastScheduleTime") else "<unset>")
    active = [a.get("name", "") for a in status.get("active") or []]
    w.line(0, "Active Jobs", ", ".join(active) or NONE)


BATCH_DESCRIBERS = {"DaemonSet": describe_daemonset, "Job": describe_job, "CronJob": describe_cronjob}

__all__ = ["BATCH_DESCRIBERS", "describe_cronjob", "describe_daemonset", "describe_job"]
