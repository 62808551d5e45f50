"""`rollout history` and `rollout undo` for DaemonSets and StatefulSets, from ControllerRevisions.

Contract (kubectl's DaemonSetHistoryViewer/StatefulSetHistoryViewer and their Rollbackers):
- The history is the ControllerRevisions matching the workload's selector whose controller
  ownerReference carries its uid, keyed by `revision`; `kubernetes.io/change-cause` is the
  cause. Without `--revision`: the `REVISION  CHANGE-CAUSE` table ("No rollout history
  found." when empty); with it: that revision's pod template ("unable to find the specified
  revision" when absent).
- `undo`: `--to-revision` 0 means the second highest revision ("no last revision to roll
  back to" with fewer than two); a missing or negative one is "unable to find specified
  revision N in history". When the revision's data equals the current template patch
  (`{"spec": {"template": {..., "$patch": "replace"}}}`) it prints `... skipped rollback
  (current template already matches revision N)`; otherwise the revision's data is sent as a
  strategic merge patch (restoring the template) and it prints `... rolled back`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from cli.errors import CliError
from cli.rollout_history import history_table, template_text
from cli.session import coll_path, obj_path, resolve_kind
from cli.targets import Target
from machinery.client import ApiClient

Obj = dict[str, Any]
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
REVISION_KINDS = ("DaemonSet", "StatefulSet")


def _selector_string(sel: Obj | None) -> str:
    parts = [f"{k}={v}" for k, v in sorted(((sel or {}).get("matchLabels") or {}).items())]
    for expr in (sel or {}).get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key", ""), ",".join(expr.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op or "", key))
    return ",".join(parts)


async def owned_revisions(client: ApiClient, workload: Obj, namespace: str) -> dict[int, Obj]:
    uid = (workload.get("metadata") or {}).get("uid")
    params = {"labelSelector": _selector_string((workload.get("spec") or {}).get("selector"))}
    body = await client.request("GET", coll_path(resolve_kind("controllerrevisions"), namespace), params=params)
    out: dict[int, Obj] = {}
    for rev in body.get("items") or []:
        refs = (rev.get("metadata") or {}).get("ownerReferences") or []
        if uid and any(r.get("uid") == uid and r.get("controller") for r in refs):
            out[int(rev.get("revision") or 0)] = rev
    return out


def current_patch(workload: Obj) -> Obj:
    template = copy.deepcopy((workload.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _as_revision_rs(rev: Obj) -> Obj:
    template = copy.deepcopy(((rev.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return {"metadata": rev.get("metadata") or {}, "spec": {"template": template}}


def _table(revisions: dict[int, Obj]) -> str:
    # history_table reads the revision number from the Deployment annotation: give it that shape.
    shaped = [{"metadata": {"annotations": {**((r.get("metadata") or {}).get("annotations") or {}),
                                            "deployment.kubernetes.io/revision": str(n)}}}
              for n, r in revisions.items()]
    return history_table(shaped)


async def history(client: ApiClient, target: Target, namespace: str, revision: int) -> str:
    workload = await client.request("GET", obj_path(target.cls, target.name, namespace))
    revisions = await owned_revisions(client, workload, namespace)
    if revision > 0:
        if revision not in revisions:
            raise CliError("unable to find the specified revision")
        return f"{target.label} with revision #{revision}\n{template_text(_as_revision_rs(revisions[revision]))}"
    return f"{target.label}\n{_table(revisions)}"


async def undo(client: ApiClient, target: Target, namespace: str, to_revision: int) -> str:
    if to_revision < 0:
        raise CliError(f"unable to find specified revision {to_revision} in history")
    path = obj_path(target.cls, target.name, namespace)
    workload = await client.request("GET", path)
    revisions = await owned_revisions(client, workload, namespace)
    if to_revision == 0:
        if len(revisions) <= 1:
            raise CliError("no last revision to roll back to")
        to_revision = sorted(revisions)[-2]
    rev = revisions.get(to_revision)
    if rev is None:
        raise CliError(f"unable to find specified revision {to_revision} in history")
    data = rev.get("data") or {}
    if _same(data, current_patch(workload)):
        return f"{target.label} skipped rollback (current template already matches revision {to_revision})"
    await client.request("PATCH", path, json=data, headers=STRATEGIC)
    return f"{target.label} rolled back"


__all__ = ["REVISION_KINDS", "current_patch", "history", "owned_revisions", "undo"]
