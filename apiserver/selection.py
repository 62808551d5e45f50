"""Selectors of list, watch and deletecollection, validated per resource as Kubernetes does.

Contract:
- `selection(cls, label_selector, field_selector) -> Selection` parses both query parameters
  and raises 400 BadRequest for any problem, before anything is read or written:
  label selector syntax (`unable to parse requirement: ...`, Kubernetes' labels.Parse), field
  selector syntax, and field labels the kind does not support
  (`field label not supported: spec.foo`, Kubernetes' per-kind field label conversion).
  Every verb that selects (list, watch, deletecollection) goes through it: there is no other
  way to get a predicate, so no verb can act on a selector nobody checked.
- Selectable fields: `metadata.name` and `metadata.namespace` for every kind, plus the kind's
  own list in `FIELD_LABELS` (copied from Kubernetes' AddFieldLabelConversionFuncs and
  ToSelectableFields). Values are computed as Kubernetes computes them: booleans
  "true"/"false" and counters as decimal strings even when the field is unset. Pods accept the
  legacy `spec.host` as `spec.nodeName`. A kind not listed (any new kind) gets the default two.
- `Selection.predicate` is None when the selectors select everything; `Selection.fields` is
  the converted field selector (the watch cache's pod index reads `spec.nodeName` from it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from machinery import errors
from machinery.fieldselectors import FieldSelector, parse_field_selector
from machinery.meta import Resource
from machinery.selectors import LabelSelector, parse_label_selector

Obj = dict[str, Any]
Extractor = Callable[[Obj], str]


def _get(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def _text(path: str) -> Extractor:
    def extract(obj: Obj) -> str:
        value = _get(obj, path)
        return value if isinstance(value, str) else ""
    return extract


def _flag(path: str) -> Extractor:
    """strconv.FormatBool of a bool field (unset is false)."""
    return lambda obj: "true" if _get(obj, path) is True else "false"


def _count(path: str) -> Extractor:
    """strconv.Itoa of an int32 field (unset is 0)."""
    def extract(obj: Obj) -> str:
        value = _get(obj, path)
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"
    return extract


def _pod_ip(obj: Obj) -> str:
    ips = _get(obj, "status.podIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], Mapping):
        first = ips[0].get("ip")
        if isinstance(first, str):
            return first
    return _text("status.podIP")(obj)


def _pod_ips(obj: Obj) -> str:
    ips = _get(obj, "status.podIPs")
    if not isinstance(ips, list):
        return _text("status.podIP")(obj)
    return ",".join(str(i.get("ip")) for i in ips if isinstance(i, Mapping) and isinstance(i.get("ip"), str))


_DEFAULT: dict[str, Extractor] = {
    "metadata.name": _text("metadata.name"),
    "metadata.namespace": _text("metadata.namespace"),
}

FIELD_LABELS: dict[tuple[str, str], dict[str, Extractor]] = {
    ("", "Pod"): {
        "spec.nodeName": _text("spec.nodeName"),
        "spec.restartPolicy": _text("spec.restartPolicy"),
        "spec.schedulerName": _text("spec.schedulerName"),
        "spec.serviceAccountName": _text("spec.serviceAccountName"),
        "spec.hostNetwork": _flag("spec.hostNetwork"),
        "status.phase": _text("status.phase"),
        "status.podIP": _pod_ip,
        "status.podIPs": _pod_ips,
        "status.nominatedNodeName": _text("status.nominatedNodeName"),
    },
    ("", "Node"): {"spec.unschedulable": _flag("spec.unschedulable")},
    ("", "Namespace"): {"status.phase": _text("status.phase")},
    ("", "Secret"): {"type": _text("type")},
    ("", "Service"): {"spec.clusterIP": _text("spec.clusterIP"), "spec.type": _text("spec.type")},
    ("", "ReplicationController"): {"status.replicas": _count("status.replicas")},
    ("", "Event"): {
        **{f"involvedObject.{f}": _text(f"involvedObject.{f}") for f in (
            "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reason": _text("reason"),
        "reportingComponent": _text("reportingComponent"),
        "source": _text("source.component"),
        "type": _text("type"),
    },
    ("apps", "ReplicaSet"): {"status.replicas": _count("status.replicas")},
    ("batch", "Job"): {"status.successful": _count("status.succeeded")},
    ("certificates.k8s.io", "CertificateSigningRequest"): {"spec.signerName": _text("spec.signerName")},
}
_RENAMED: dict[tuple[str, str], dict[str, str]] = {("", "Pod"): {"spec.host": "spec.nodeName"}}


def field_labels(cls: type[Resource]) -> dict[str, Extractor]:
    """The selectable fields of a kind and how to read each from an object."""
    return {**_DEFAULT, **FIELD_LABELS.get((cls.GROUP, cls.KIND), {})}


@dataclass(frozen=True)
class Selection:
    labels: LabelSelector | None
    fields: FieldSelector | None
    predicate: Callable[[Obj], bool] | None


def _convert_fields(cls: type[Resource], raw: str) -> tuple[FieldSelector, dict[str, Extractor]]:
    try:
        parsed = parse_field_selector(raw)
    except ValueError as e:
        raise errors.BadRequest(str(e)) from None
    known = field_labels(cls)
    renamed = _RENAMED.get((cls.GROUP, cls.KIND), {})
    terms: list[tuple[str, str, str]] = []
    for field, op, value in parsed.terms:
        field = renamed.get(field, field)
        if field not in known:
            raise errors.BadRequest(f"field label not supported: {field}")
        terms.append((field, op, value))
    fields = FieldSelector(tuple(terms))
    return fields, {f: known[f] for f, _, _ in terms}


def selection(cls: type[Resource], label_selector: str | None, field_selector: str | None) -> Selection:
    """Parse and validate both selectors for `cls` (see module doc); 400 on any problem."""
    labels: LabelSelector | None = None
    if label_selector:
        try:
            labels = parse_label_selector(label_selector)
        except ValueError as e:
            raise errors.BadRequest(str(e)) from None
        if labels.empty():
            labels = None
    fields: FieldSelector | None = None
    extractors: dict[str, Extractor] = {}
    if field_selector:
        fields, extractors = _convert_fields(cls, field_selector)
        if fields.empty():
            fields = None
    if labels is None and fields is None:
        return Selection(None, None, None)
    label_sel, field_sel = labels, fields

    def predicate(obj: Obj) -> bool:
        if label_sel is not None:
            meta = obj.get("metadata")
            have = meta.get("labels") if isinstance(meta, Mapping) else None
            if not label_sel.matches(have if isinstance(have, Mapping) else None):
                return False
        if field_sel is None:
            return True
        return field_sel.matches_fields({f: get(obj) for f, get in extractors.items()})

    return Selection(labels, fields, predicate)
