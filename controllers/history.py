"""ControllerRevision history: the revision helpers of StatefulSet and DaemonSet.

Contract (Kubernetes pkg/controller/history/controller_history.go):
- `template_patch(owner)`: the revision data of a workload, the strategic-merge patch
  `{"spec": {"template": {..., "$patch": "replace"}}}` (applying it restores the template;
  it is what `kubectl rollout undo` sends back). The owner is used as stored (defaulted).
- `hash_revision(data, probe)`: FNV-1 32 (Go's `fnv.New32`) of the canonical JSON of `data`
  (sorted keys, compact, Go's HTML escaping) plus the decimal collision count when it is set,
  encoded with the `SafeEncodeString` alphabet. Same data, same hash, in every process.
- `new_revision(parent, data, revision, collision_count, template_labels)`: an unsaved
  ControllerRevision named `<parent>-<hash>`, labelled with the template's labels plus
  `controller.kubernetes.io/hash`, controlled by `parent` (controller ownerReference),
  carrying the parent's annotations (kubernetes.io/change-cause shows in rollout history).
- `equal_revision(a, b)`, `find_equal_revisions(revisions, needle)` (same data),
  `sort_revisions(revisions)` (by revision, then creationTimestamp, then name),
  `next_revision(revisions)` (highest + 1, 1 when none).
- `revisions_to_truncate(sorted_revisions, live, limit)`: the oldest non-live revisions beyond
  `limit` (live = current, update and any revision a pod still runs).
- `History(client)`: the API operations. `create(parent, revision, collision_count)` names the
  revision from the hash with the collision count as probe (always, 0 included, as Kubernetes'
  realHistory which requires a non-nil count), retries a
  name collision with a foreign revision (different data) by bumping the collision count and
  returns `(created, collision_count)`; an existing revision with the same data is returned
  as is. `update_revision(cr, n)` renumbers (rollback to an old template), `delete(cr)`.
- `current_and_update(history, parent, revisions, current_name, collision_count)`: the
  StatefulSet step `getStatefulSetRevisions`: the update revision is the latest revision when
  it equals the template, an older equal revision renumbered to the next number (rollback),
  or a new one; the current revision is the one named `current_name`, else the update one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from controllers import podutil
from machinery import errors
from machinery.meta import ObjectMeta, Resource
from machinery.models import ControllerRevision

if TYPE_CHECKING:
    from machinery.client import KubeClient

HASH_LABEL = "controller.kubernetes.io/hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MAX_PREFIX = 223  # Kubernetes keeps names <= 253 with room for the hash


def fnv32(data: bytes) -> int:
    """FNV-1 32-bit (multiply, then xor), Go's `hash/fnv.New32`."""
    h = _FNV_OFFSET
    for byte in data:
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def safe_encode(s: str) -> str:
    return "".join(_ALPHANUMS[ord(ch) % len(_ALPHANUMS)] for ch in s)


def canonical_json(data: Any) -> bytes:
    """Go's json.Marshal of a map: sorted keys, compact, `<`, `>`, `&` escaped."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()


def hash_revision(data: Any, probe: int | None = None) -> str:
    raw = canonical_json(data) if data is not None else b""
    if probe is not None:
        raw += str(probe).encode()
    return safe_encode(str(fnv32(raw)))


def revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def template_patch(owner: Resource) -> dict[str, Any]:
    spec = getattr(owner, "spec", None)
    template = spec.template.to_dict() if spec is not None and spec.template is not None else {}
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_labels(owner: Resource) -> dict[str, str]:
    spec = getattr(owner, "spec", None)
    meta = spec.template.metadata if spec is not None and spec.template is not None else None
    return dict(meta.labels or {}) if meta is not None else {}


def new_revision(parent: Resource, data: dict[str, Any], revision: int, collision_count: int | None,
                 labels: dict[str, str] | None = None) -> ControllerRevision:
    hash_ = hash_revision(data, collision_count)
    annotations = dict(parent.metadata.annotations or {})
    return ControllerRevision(
        metadata=ObjectMeta(name=revision_name(parent.name, hash_), namespace=parent.namespace,
                            labels={**(labels or {}), HASH_LABEL: hash_},
                            annotations=annotations or None,
                            ownerReferences=[podutil.new_controller_ref(parent)]),
        data=data, revision=revision)


def equal_revision(a: ControllerRevision | None, b: ControllerRevision | None) -> bool:
    if a is None or b is None:
        return a is b
    return canonical_json(a.data) == canonical_json(b.data)


def find_equal_revisions(revisions: Iterable[ControllerRevision],
                         needle: ControllerRevision) -> list[ControllerRevision]:
    return [r for r in revisions if equal_revision(r, needle)]


def sort_revisions(revisions: Iterable[ControllerRevision]) -> list[ControllerRevision]:
    return sorted(revisions, key=lambda r: (r.revision, r.metadata.creationTimestamp or "", r.name))


def next_revision(revisions: Sequence[ControllerRevision]) -> int:
    return max((r.revision for r in revisions), default=0) + 1


def revisions_to_truncate(revisions: Sequence[ControllerRevision], live: set[str],
                          limit: int) -> list[ControllerRevision]:
    """The revisions to delete, oldest first (`revisions` sorted ascending)."""
    historic = [r for r in revisions if r.name not in live]
    return historic[:max(len(historic) - max(limit, 0), 0)]


class History:
    """ControllerRevision writes for one controller (client-go `realHistory`)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def create(self, parent: Resource, revision: ControllerRevision,
                     collision_count: int) -> tuple[ControllerRevision, int]:
        while True:
            clone = revision.model_copy(deep=True)
            hash_ = hash_revision(clone.data, collision_count)
            clone.metadata.name = revision_name(parent.name, hash_)
            clone.metadata.labels = {**(clone.metadata.labels or {}), HASH_LABEL: hash_}
            try:
                created = await self.client.create(clone, namespace=parent.namespace)
            except errors.AlreadyExists:
                existing = await self.client.get(ControllerRevision, clone.metadata.name or "",
                                                 namespace=parent.namespace)
                if canonical_json(existing.data) == canonical_json(clone.data):
                    return existing, collision_count
                collision_count += 1
                continue
            return created, collision_count

    async def update_revision(self, cr: ControllerRevision, revision: int) -> ControllerRevision:
        if cr.revision == revision:
            return cr
        patch = {"metadata": {"resourceVersion": cr.resource_version}, "revision": revision}
        updated: ControllerRevision = await self.client.patch(ControllerRevision, cr.name, patch,
                                                              namespace=cr.namespace)
        return updated

    async def delete(self, cr: ControllerRevision) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(ControllerRevision, cr.name, namespace=cr.namespace)


async def current_and_update(history: History, parent: Resource, revisions: Sequence[ControllerRevision],
                             current_name: str | None,
                             collision_count: int) -> tuple[ControllerRevision, ControllerRevision, int]:
    """(current, update, collision_count) as Kubernetes' getStatefulSetRevisions."""
    ordered = sort_revisions(revisions)
    candidate = new_revision(parent, template_patch(parent), next_revision(ordered), collision_count,
                             template_labels(parent))
    equal = find_equal_revisions(ordered, candidate)
    if equal and ordered and equal_revision(ordered[-1], equal[-1]):
        update = ordered[-1]  # the template did not change
    elif equal:
        update = await history.update_revision(equal[-1], candidate.revision)  # rollback
    else:
        update, collision_count = await history.create(parent, candidate, collision_count)
    current = next((r for r in ordered if current_name and r.name == current_name), None)
    return current or update, update, collision_count


__all__ = [
    "HASH_LABEL", "History", "canonical_json", "current_and_update", "equal_revision",
    "find_equal_revisions", "fnv32", "hash_revision", "new_revision", "next_revision",
    "revision_name", "revisions_to_truncate", "safe_encode", "sort_revisions", "template_labels",
    "template_patch",
]
