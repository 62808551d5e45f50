"""`describe` layouts of StatefulSet, PersistentVolume, PersistentVolumeClaim and StorageClass,
in kubectl's field order and wording (its StatefulSet/PersistentVolume/PersistentVolumeClaim/
StorageClass describers).

Contract: `STORAGE_DESCRIBERS[kind](w, obj, related)`. `related["pods"]`: for a StatefulSet
the pods it controls ("Pods Status"), for a claim the pods that mount it ("Used By"); both are
filled by cli/describe.py.
"""

from __future__ import annotations

from typing import Any

from cli.describe_batch import _phases, _template
from cli.describe_writer import NONE, Writer, format_time
from machinery.tables import access_modes, format_selector

Obj = dict[str, Any]
_HIDDEN = "kubectl.kubernetes.io/last-applied-configuration"


def _meta_lines(w: Writer, meta: Obj, *, namespaced: bool) -> None:
    w.line(0, "Name", meta.get("name", ""))
    if namespaced:
        w.line(0, "Namespace", meta.get("namespace", ""))


def _annotations(meta: Obj) -> dict[str, str]:
    return {k: v for k, v in (meta.get("annotations") or {}).items() if k != _HIDDEN}


def _finalizers(meta: Obj) -> str:
    return "[" + " ".join(meta.get("finalizers") or []) + "]"


def describe_statefulset(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    meta, spec, status = o.get("metadata") or {}, o.get("spec") or {}, o.get("status") or {}
    _meta_lines(w, meta, namespaced=True)
    w.line(0, "CreationTimestamp", format_time(meta.get("creationTimestamp")))
    w.line(0, "Selector", format_selector(spec.get("selector")))
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", _annotations(meta), sep=": ")
    w.line(0, "Replicas", f"{spec.get('replicas', 1)} desired | {status.get('replicas', 0)} total")
    strategy = spec.get("updateStrategy") or {}
    w.line(0, "Update Strategy", strategy.get("type") or "RollingUpdate")
    rolling = strategy.get("rollingUpdate") or {}
    if rolling.get("partition") is not None:
        w.line(1, "Partition", rolling["partition"])
    phases = _phases(related.get("pods", []))
    w.line(0, "Pods Status", f"{phases['Running']} Running / {phases['Pending']} Waiting / "
           f"{phases['Succeeded']} Succeeded / {phases['Failed']} Failed")
    _template(w, spec.get("template") or {})
    templates = spec.get("volumeClaimTemplates") or []
    if not templates:
        w.line(0, "Volume Claims", NONE)
    else:
        w.line(0, "Volume Claims")
        for t in templates:
            tmeta, tspec = t.get("metadata") or {}, t.get("spec") or {}
            w.line(1, "Name", tmeta.get("name", ""))
            w.line(1, "StorageClass", tspec.get("storageClassName") or "")
            w.labels(1, "Labels", tmeta.get("labels"))
            w.labels(1, "Annotations", tmeta.get("annotations"), sep=": ")
            w.line(1, "Capacity", ((tspec.get("resources") or {}).get("requests") or {}).get("storage", ""))
            w.line(1, "Access Modes", "[" + " ".join(tspec.get("accessModes") or []) + "]")


def _phase(o: Obj) -> str:
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return str((o.get("status") or {}).get("phase") or "")


def describe_pvc(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    meta, spec, status = o.get("metadata") or {}, o.get("spec") or {}, o.get("status") or {}
    _meta_lines(w, meta, namespaced=True)
    w.line(0, "StorageClass", spec.get("storageClassName") or "")
    w.line(0, "Status", _phase(o))
    w.line(0, "Volume", spec.get("volumeName") or "")
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", _annotations(meta), sep=": ")
    w.line(0, "Finalizers", _finalizers(meta))
    bound = bool(spec.get("volumeName"))
    w.line(0, "Capacity", (status.get("capacity") or {}).get("storage", "") if bound else "")
    w.line(0, "Access Modes", access_modes(status.get("accessModes")) if bound else "")
    w.line(0, "VolumeMode", spec.get("volumeMode") or "Filesystem")
    users = sorted(str((p.get("metadata") or {}).get("name", "")) for p in related.get("pods", []))
    w.line(0, "Used By", ", ".join(users) or NONE)


def _source(w: Writer, spec: Obj) -> None:
    w.line(0, "Source")
    if spec.get("hostPath"):
        hp = spec["hostPath"]
        w.line(1, "Type", "HostPath (bare host directory volume)")
        w.line(1, "Path", hp.get("path", ""))
        w.line(1, "HostPathType", hp.get("type") or "")
    elif spec.get("local"):
        w.line(1, "Type", "LocalVolume (a persistent volume backed by local storage on a node)")
        w.line(1, "Path", (spec["local"] or {}).get("path", ""))


def _node_affinity(w: Writer, spec: Obj) -> None:
    required = ((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
    if not required:
        w.line(0, "Node Affinity", NONE)
        return
    w.line(0, "Node Affinity")
    w.line(1, "Required Terms")
    for i, term in enumerate(required):
        reqs = [*(term.get("matchExpressions") or []), *(term.get("matchFields") or [])]
        text = ", ".join(f"{r.get('key')} {str(r.get('operator', '')).lower()} [{', '.join(r.get('values') or [])}]"
                         for r in reqs)
        w.line(2, f"Term {i}", text or NONE)


def describe_pv(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    meta, spec, status = o.get("metadata") or {}, o.get("spec") or {}, o.get("status") or {}
    _meta_lines(w, meta, namespaced=False)
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", _annotations(meta), sep=": ")
    w.line(0, "Finalizers", _finalizers(meta))
    w.line(0, "StorageClass", spec.get("storageClassName") or "")
    w.line(0, "Status", _phase(o))
    ref = spec.get("claimRef") or {}
    w.line(0, "Claim", f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else "")
    w.line(0, "Reclaim Policy", spec.get("persistentVolumeReclaimPolicy") or "")
    w.line(0, "Access Modes", access_modes(spec.get("accessModes")))
    w.line(0, "VolumeMode", spec.get("volumeMode") or "Filesystem")
    w.line(0, "Capacity", (spec.get("capacity") or {}).get("storage", ""))
    _node_affinity(w, spec)
    w.line(0, "Message", status.get("message") or "")
    _source(w, spec)


def describe_storageclass(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    meta = o.get("metadata") or {}
    _meta_lines(w, meta, namespaced=False)
    default = (meta.get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    w.line(0, "IsDefaultClass", "Yes" if default else "No")
    w.labels(0, "Annotations", _annotations(meta))
    w.line(0, "Provisioner", o.get("provisioner") or "")
    w.labels(0, "Parameters", o.get("parameters"))
    allow = o.get("allowVolumeExpansion")
    w.line(0, "AllowVolumeExpansion", "<unset>" if allow is None else str(allow))
    w.line(0, "MountOptions", ", ".join(o.get("mountOptions") or []) or NONE)
    w.line(0, "ReclaimPolicy", o.get("reclaimPolicy") or "Delete")
    w.line(0, "VolumeBindingMode", o.get("volumeBindingMode") or "Immediate")


STORAGE_DESCRIBERS = {"StatefulSet": describe_statefulset, "PersistentVolumeClaim": describe_pvc,
                      "PersistentVolume": describe_pv, "StorageClass": describe_storageclass}

__all__ = ["STORAGE_DESCRIBERS", "describe_pv", "describe_pvc", "describe_statefulset", "describe_storageclass"]
