"""`kubelite rollout pause|resume|restart` and the dispatch of `rollout history|undo`.

Contract (kubectl's pause.go/resume.go/restart.go):
- pause/resume (deployments only): a merge patch of `spec.paused`; pausing a paused (or
  resuming a running) Deployment fails with `error: deployments.apps "web" is already paused`
  / `... is not paused` and changes nothing. Prints `deployment.apps/web paused|resumed`.
- restart (deployments, daemonsets, statefulsets): a strategic merge patch setting
  `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` to now (RFC 3339),
  which changes the template and so starts a rollout. A paused Deployment is refused as
  kubectl does. Prints `deployment.apps/web restarted`.
- history/undo: Deployments from their ReplicaSets (cli.rollout_history), DaemonSets and
  StatefulSets from their ControllerRevisions (cli.rollout_revisions).
"""

from __future__ import annotations

import sys

from cli import rollout_history, rollout_revisions
from cli.errors import CliError
from cli.session import Globals, obj_path, open_client
from cli.targets import parse_targets
from machinery.meta import now_rfc3339

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
RESTARTABLE = ("Deployment", "DaemonSet", "StatefulSet")


async def set_paused(g: Globals, args: list[str], *, paused: bool) -> int:
    verb = "pause" if paused else "resume"
    targets = parse_targets(args, allowed=("Deployment",), verb=f"rollout {verb}")
    client, namespace = open_client(g)
    failed = False
    async with client:
        for t in targets:
            path = obj_path(t.cls, t.name, namespace)
            current = bool(((await client.request("GET", path)).get("spec") or {}).get("paused"))
            if current == paused:
                # Reported per object, as kubectl does, and the others still proceed.
                print(f'error: {t.plural} "{t.name}" is {"already paused" if paused else "not paused"}',
                      file=sys.stderr)
                failed = True
                continue
            await client.request("PATCH", path, json={"spec": {"paused": paused}}, headers=MERGE)
            print(f"{t.label} {'paused' if paused else 'resumed'}", flush=True)
    return 1 if failed else 0


async def restart(g: Globals, args: list[str]) -> int:
    targets = parse_targets(args, allowed=RESTARTABLE, verb="rollout restart")
    client, namespace = open_client(g)
    async with client:
        for t in targets:
            path = obj_path(t.cls, t.name, namespace)
            obj = await client.request("GET", path)
            if t.cls.KIND == "Deployment" and (obj.get("spec") or {}).get("paused"):
                raise CliError(f"{t.plural} \"{t.name}\" can't restart paused deployment "
                               "(run rollout resume first)")
            patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_rfc3339()}}}}}
            await client.request("PATCH", path, json=patch, headers=STRATEGIC)
            print(f"{t.label} restarted", flush=True)
    return 0


async def history(g: Globals, args: list[str], *, revision: int) -> int:
    targets = parse_targets(args, allowed=RESTARTABLE, verb="rollout history")
    client, namespace = open_client(g)
    async with client:
        for t in targets:
            impl = rollout_revisions if t.cls.KIND in rollout_revisions.REVISION_KINDS else rollout_history
            print(await impl.history(client, t, namespace, revision), flush=True)
    return 0


async def undo(g: Globals, args: list[str], *, to_revision: int) -> int:
    targets = parse_targets(args, allowed=RESTARTABLE, verb="rollout undo")
    client, namespace = open_client(g)
    async with client:
        for t in targets:
            impl = rollout_revisions if t.cls.KIND in rollout_revisions.REVISION_KINDS else rollout_history
            print(await impl.undo(client, t, namespace, to_revision), flush=True)
    return 0
