"""Pods of a Job: what the controller creates, and how it reads the pods it finds.

Contract:
- `pod_for_job(job, index)`: a Pod from the job template with generateName `<job>-` (Indexed:
  `<job>-<index>-`), the template's labels and annotations, a controller ownerReference and
  the `batch.kubernetes.io/job-tracking` finalizer (so a finished pod cannot vanish before it
  is counted). Indexed pods also get the completion index as annotation and label, hostname
  `<job>-<index>` (unless the template sets one) and the env var JOB_COMPLETION_INDEX on every
  container and init container, read through the downward API from the annotation, as
  Kubernetes does.
- `completion_index(pod)`: the annotation as an int, or None when absent/malformed.
- `is_succeeded(pod)`; `is_failed(pod)`: phase Failed, or being deleted without having
  succeeded (podReplacementPolicy TerminatingOrFailed: a terminating pod is already a failure).
- `is_terminating(pod)`: being deleted and not in a terminal phase.
- `finish_time_s(pod, now_s)`: when the pod finished: newest container `finishedAt`, else its
  deletionTimestamp, else `now_s`.
- `has_tracking_finalizer(pod)`.
"""

from __future__ import annotations

from controllers import podutil
from machinery.meta import ObjectMeta, parse_time
from machinery.models import (
    JOB_COMPLETION_INDEX,
    JOB_COMPLETION_INDEX_ENV,
    JOB_TRACKING_FINALIZER,
    Job,
    Pod,
    PodSpec,
)


def pod_for_job(job: Job, index: int | None = None) -> Pod:
    assert job.spec is not None and job.spec.template is not None
    tmeta = job.spec.template.metadata or ObjectMeta()
    labels = dict(tmeta.labels or {})
    annotations = dict(tmeta.annotations or {})
    spec = job.spec.template.spec.to_dict() if job.spec.template.spec else {}
    generate = f"{job.name}-"
    if index is not None:
        generate = f"{job.name}-{index}-"
        labels[JOB_COMPLETION_INDEX] = str(index)
        annotations[JOB_COMPLETION_INDEX] = str(index)
        spec.setdefault("hostname", f"{job.name}-{index}")
        env_ref = {"name": JOB_COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": f"metadata.annotations['{JOB_COMPLETION_INDEX}']"}}}
        for group in ("initContainers", "containers"):
            for container in spec.get(group) or []:
                env = container.setdefault("env", [])
                if not any(e.get("name") == JOB_COMPLETION_INDEX_ENV for e in env):
                    env.append(dict(env_ref))
    return Pod(
        metadata=ObjectMeta(generateName=generate, namespace=job.namespace, labels=labels or None,
                            annotations=annotations or None, finalizers=[JOB_TRACKING_FINALIZER],
                            ownerReferences=[podutil.new_controller_ref(job)]),
        spec=PodSpec.model_validate(spec),
    )


def completion_index(pod: Pod) -> int | None:
    value = (pod.metadata.annotations or {}).get(JOB_COMPLETION_INDEX, "")
    return int(value) if value.isdigit() else None


def _phase(pod: Pod) -> str:
    return (pod.status.phase if pod.status else None) or "Pending"


def is_succeeded(pod: Pod) -> bool:
    return _phase(pod) == "Succeeded"


def is_failed(pod: Pod) -> bool:
    phase = _phase(pod)
    return phase == "Failed" or (bool(pod.metadata.deletionTimestamp) and phase != "Succeeded")


def is_terminating(pod: Pod) -> bool:
    return bool(pod.metadata.deletionTimestamp) and _phase(pod) not in ("Succeeded", "Failed")


def has_tracking_finalizer(pod: Pod) -> bool:
    return JOB_TRACKING_FINALIZER in (pod.metadata.finalizers or [])


def finish_time_s(pod: Pod, now_s: float) -> float:
    latest: float | None = None
    for cs in (pod.status.containerStatuses or []) if pod.status else []:
        term = cs.state.terminated if cs.state else None
        when = parse_time(term.finishedAt) if term is not None and term.finishedAt else None
        if when is not None and (latest is None or when.timestamp() > latest):
            latest = when.timestamp()
    if latest is not None:
        return latest
    deleted = parse_time(pod.metadata.deletionTimestamp) if pod.metadata.deletionTimestamp else None
    return deleted.timestamp() if deleted is not None else now_s


__all__ = ["completion_index", "finish_time_s", "has_tracking_finalizer", "is_failed", "is_succeeded",
           "is_terminating", "pod_for_job"]
