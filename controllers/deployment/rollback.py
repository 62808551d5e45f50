"""Rollback in apps/v1: a rollback is a template change, nothing more.

`kubectl rollout undo` reads the ReplicaSet of the wanted revision and patches the
Deployment's template with that RS's template minus the `pod-template-hash` label. The
controller then finds that RS as the new one (`equal_ignore_hash`) and gives it revision
max(others)+1 (`sync.get_all_rs_and_sync_revision`), keeping its earlier revisions in the
revision-history annotation. This module gives clients (CLI, tests) the two pieces:
- `find_revision(rs_list, revision)`: the RS with that revision (0 = the previous one), or None.
- `rollback_patch(rs)`: the JSON patch (patch_type="json") replacing spec.template with it.
"""

from __future__ import annotations

from typing import Any

from controllers.deployment import util
from controllers.deployment.hashing import HASH_LABEL
from machinery.models import ReplicaSet


def find_revision(rs_list: list[ReplicaSet], revision: int = 0) -> ReplicaSet | None:
    ordered = sorted(rs_list, key=util.revision)
    if revision == 0:
        return ordered[-2] if len(ordered) >= 2 else None  # the one before the current
    return next((rs for rs in ordered if util.revision(rs) == revision), None)


def rollback_patch(rs: ReplicaSet) -> list[dict[str, Any]]:
    assert rs.spec is not None and rs.spec.template is not None
    template = rs.spec.template.to_dict()
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(HASH_LABEL, None)
    meta = template.setdefault("metadata", {})
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    # A JSON patch "replace" (as kubectl does): fields added since that revision go away too,
    # which a merge patch would keep.
    return [{"op": "replace", "path": "/spec/template", "value": template}]
