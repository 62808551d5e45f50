"""`rollout history` and `rollout undo` for Deployments, from the ReplicaSets they own.

Contract (kubectl's history.go and rollback.go in k8s.io/kubectl/pkg/polymorphichelpers):
- A Deployment's history is the ReplicaSets whose controller ownerReference carries the
  Deployment's uid (never matched by labels alone), numbered by their
  `deployment.kubernetes.io/revision` annotation; `kubernetes.io/change-cause` is the cause.
- `history_table(rss)` is the `REVISION  CHANGE-CAUSE` table ("No rollout history found."
  when empty); `template_text(rs)` describes one revision's pod template.
- `pick_revision(rss, to_revision)`: the RS of that revision; 0 means the previous one (the
  second highest revision). Errors are kubectl's.
- `rollback_patch(deploy, rs)` -> JSON patch replacing `/spec/template` with the RS's template
  minus the `pod-template-hash` label, and the Deployment's annotations with kubectl's merge
  (keep the Deployment's own revision/last-applied bookkeeping, take the RS's others), or None
  when the template already matches (the skip case). `undo` refuses a paused Deployment.
"""

from __future__ import annotations

import copy
from typing import Any

from cli.describe_kinds import _containers
from cli.describe_writer import NONE, Writer
from cli.errors import CliError
from cli.session import coll_path, obj_path, resolve_kind
from cli.targets import Target
from machinery.client import ApiClient

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
# Annotations that describe the Deployment itself, not a revision (kubectl's annotationsToSkip).
SKIP_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION,
    "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to",
})
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def revision_of(obj: Obj) -> int | None:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def owned_by(rs: Obj, uid: str) -> bool:
    refs = (rs.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)


async def owned_replicasets(client: ApiClient, deploy: Obj, namespace: str) -> list[Obj]:
    uid = (deploy.get("metadata") or {}).get("uid") or ""
    body = await client.request("GET", coll_path(resolve_kind("replicasets"), namespace))
    return [rs for rs in body.get("items") or [] if uid and owned_by(rs, uid)]


def _by_revision(rss: list[Obj]) -> dict[int, Obj]:
    out: dict[int, Obj] = {}
    for rs in rss:
        rev = revision_of(rs)
        if rev is not None:
            out[rev] = rs
    return out


def history_table(rss: list[Obj]) -> str:
    revisions = _by_revision(rss)
    if not revisions:
        return "No rollout history found."
    rows = [["REVISION", "CHANGE-CAUSE"]]
    for rev in sorted(revisions):
        cause = ((revisions[rev].get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
        rows.append([str(rev), cause or NONE])
    # kubectl's tabbedString pads with two spaces (not the three of `get` tables).
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0].ljust(width)}  {r[1]}" for r in rows)


def template_text(rs: Obj) -> str:
    template = (rs.get("spec") or {}).get("template") or {}
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    annotations = dict(meta.get("annotations") or {})
    cause = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
    if cause:
        annotations[CHANGE_CAUSE] = cause
    w = Writer()
    w.line(0, "Pod Template")
    w.labels(1, "Labels", meta.get("labels"))
    w.labels(1, "Annotations", annotations, sep=": ")
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], [], level=1)
    _containers(w, "Containers", spec.get("containers") or [], [], level=1)
    volumes = [v.get("name", "") for v in spec.get("volumes") or []]
    w.line(1, "Volumes", ", ".join(volumes) or NONE)
    return w.render()


def history_revision(rss: list[Obj], revision: int) -> Obj:
    rs = _by_revision(rss).get(revision)
    if rs is None:
        raise CliError("unable to find the specified revision")
    return rs


def pick_revision(rss: list[Obj], to_revision: int, deploy_name: str) -> tuple[int, Obj]:
    if to_revision < 0:
        raise CliError(f"unable to find specified revision {to_revision} in history")
    revisions = _by_revision(rss)
    if to_revision > 0:
        if to_revision not in revisions:
            raise CliError(f"unable to find specified revision {to_revision} in history")
        return to_revision, revisions[to_revision]
    ordered = sorted(revisions, reverse=True)
    if len(ordered) < 2:
        raise CliError(f'no rollout history found for deployment "{deploy_name}"')
    return ordered[1], revisions[ordered[1]]


def _pruned(value: Any) -> Any:
    """Drop empty maps/lists/None, as Kubernetes' semantic equality treats nil and empty alike."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def template_without_hash(template: Obj) -> Obj:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return out


def rollback_patch(deploy: Obj, rs: Obj) -> list[Obj] | None:
    """kubectl's DeploymentRollbacker patch, or None when the template already matches."""
    wanted = template_without_hash((rs.get("spec") or {}).get("template") or {})
    current = template_without_hash((deploy.get("spec") or {}).get("template") or {})
    if _pruned(wanted) == _pruned(current):
        return None
    own = (deploy.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in own.items() if k in SKIP_ANNOTATIONS}
    for k, v in ((rs.get("metadata") or {}).get("annotations") or {}).items():
        if k not in SKIP_ANNOTATIONS:
            annotations[k] = v
    # "add" replaces an existing member and also works when the Deployment has no annotations
    # yet (a "replace" of a missing path would be rejected).
    return [{"op": "replace", "path": "/spec/template", "value": wanted},
            {"op": "add", "path": "/metadata/annotations", "value": annotations}]


async def history(client: ApiClient, target: Target, namespace: str, revision: int) -> str:
    deploy = await client.request("GET", obj_path(target.cls, target.name, namespace))
    rss = await owned_replicasets(client, deploy, namespace)
    if revision > 0:
        return f"{target.label} with revision #{revision}\n{template_text(history_revision(rss, revision))}"
    return f"{target.label}\n{history_table(rss)}"


async def undo(client: ApiClient, target: Target, namespace: str, to_revision: int) -> str:
    path = obj_path(target.cls, target.name, namespace)
    deploy = await client.request("GET", path)
    rss = await owned_replicasets(client, deploy, namespace)
    revision, rs = pick_revision(rss, to_revision, target.name)
    if (deploy.get("spec") or {}).get("paused"):
        raise CliError(f"you cannot rollback a paused deployment; resume it first with "
                       f"'kubectl rollout resume deployment/{target.name}' and try again")
    patch = rollback_patch(deploy, rs)
    if patch is None:
        return f"{target.label} skipped rollback (current template already matches revision {revision})"
    await client.request("PATCH", path, json=patch, headers=JSON_PATCH)
    return f"{target.label} rolled back"
