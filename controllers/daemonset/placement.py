"""Where a DaemonSet's pods belong (Kubernetes pkg/controller/daemon/util and NodeShouldRunDaemonPod).

Contract (pure, no I/O):
- `DAEMON_TOLERATIONS`: what every DaemonSet pod tolerates, as Kubernetes adds them:
  not-ready and unreachable NoExecute, disk-pressure, memory-pressure, pid-pressure and
  unschedulable NoSchedule; `network-unavailable` NoSchedule only for hostNetwork pods.
  `add_daemon_tolerations(spec_dict)` adds the missing ones (same key, effect and operator).
- `should_run(ds, node, spec=None) -> (should_run, should_continue_running)`: evaluated on the pod the
  DaemonSet would create (template + tolerations): a node whose name, nodeSelector or required
  node affinity does not fit gets no pod and loses its pod; an untolerated NoSchedule/NoExecute
  taint means no new pod, and only an untolerated NoExecute taint removes a running one.
- `target_node(pod)`: spec.nodeName, else the `metadata.name` In value of the pod's required
  node affinity (a DaemonSet pod not yet bound), else None.
- `pod_for_node(ds, node_name, hash_)`: generateName `<ds>-`, template labels plus
  `controller-revision-hash`, template annotations, controller ownerReference, the daemon
  tolerations, and required node affinity replaced by `matchFields metadata.name In [node]` so
  the default scheduler binds it to that node (the DaemonSet checks the user's own affinity).
"""

from __future__ import annotations

from typing import Any

from controllers import podutil
from machinery import nodematch
from machinery.meta import ObjectMeta
from machinery.models import DaemonSet, Node, Pod, PodSpec

REVISION_HASH_LABEL = "controller-revision-hash"
_NO_EXECUTE = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_NO_SCHEDULE = ("node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
                "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable")
DAEMON_TOLERATIONS: list[dict[str, str]] = (
    [{"key": k, "operator": "Exists", "effect": "NoExecute"} for k in _NO_EXECUTE]
    + [{"key": k, "operator": "Exists", "effect": "NoSchedule"} for k in _NO_SCHEDULE])
NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}


def add_daemon_tolerations(spec: dict[str, Any]) -> None:
    tolerations = list(spec.get("tolerations") or [])
    wanted = DAEMON_TOLERATIONS + ([NETWORK_UNAVAILABLE] if spec.get("hostNetwork") else [])
    for tol in wanted:
        if not any((t.get("key"), t.get("effect"), t.get("operator") or "Equal") ==
                   (tol["key"], tol["effect"], tol["operator"]) for t in tolerations):
            tolerations.append(dict(tol))
    spec["tolerations"] = tolerations


def _template_spec(ds: DaemonSet) -> dict[str, Any]:
    template = ds.spec.template if ds.spec else None
    spec = template.spec.to_dict() if template is not None and template.spec is not None else {}
    add_daemon_tolerations(spec)
    return spec


def daemon_pod_spec(ds: DaemonSet) -> dict[str, Any]:
    """The template's pod spec with the daemon tolerations: compute once per sync and pass it to
    `should_run` for every node (the dump is the costly part on large clusters)."""
    return _template_spec(ds)


def should_run(ds: DaemonSet, node: Node, spec: dict[str, Any] | None = None) -> tuple[bool, bool]:
    spec = spec if spec is not None else _template_spec(ds)
    name = node.name
    labels = node.metadata.labels or {}
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    if not nodematch.node_selector_matches(spec.get("nodeSelector"), labels):
        return False, False
    terms = nodematch.required_terms(spec.get("affinity"))
    if terms is not None and not nodematch.terms_match(terms, labels, name):
        return False, False
    tolerations = spec.get("tolerations") or []
    taints = [t.to_dict() for t in (node.spec.taints or [])] if node.spec else []
    untolerated = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")
                   and not nodematch.tolerates(tolerations, t)]
    if untolerated:
        return False, not any(t.get("effect") == "NoExecute" for t in untolerated)
    return True, True


def target_node(pod: Pod) -> str | None:
    if pod.spec is None:
        return None
    if pod.spec.nodeName:
        return pod.spec.nodeName
    spec = pod.spec.to_dict()
    for term in nodematch.required_terms(spec.get("affinity")) or []:
        for field in term.get("matchFields") or []:
            values = field.get("values") or []
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


def pod_for_node(ds: DaemonSet, node_name: str, hash_: str) -> Pod:
    assert ds.spec is not None and ds.spec.template is not None
    tmeta = ds.spec.template.metadata or ObjectMeta()
    spec = _template_spec(ds)
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    affinity = spec.setdefault("affinity", {}) or {}
    spec["affinity"] = affinity
    node_aff = affinity.setdefault("nodeAffinity", {}) or {}
    affinity["nodeAffinity"] = node_aff
    node_aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}
    return Pod(
        metadata=ObjectMeta(generateName=f"{ds.name}-", namespace=ds.namespace,
                            labels={**(tmeta.labels or {}), REVISION_HASH_LABEL: hash_},
                            annotations=dict(tmeta.annotations or {}) or None,
                            ownerReferences=[podutil.new_controller_ref(ds)]),
        spec=PodSpec.model_validate(spec),
    )


__all__ = ["DAEMON_TOLERATIONS", "REVISION_HASH_LABEL", "add_daemon_tolerations", "daemon_pod_spec", "pod_for_node", "should_run",
           "target_node"]
