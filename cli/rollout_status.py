"""`kubelite rollout status deployment/NAME|statefulset/NAME|daemonset/NAME`.

Contract: the status functions are pure ports of kubectl's status viewers
(k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go): given the object as a JSON dict
they return `(line, done)` or raise CliError (progress deadline exceeded, revision mismatch,
a non-rolling update strategy). Nothing is judged before `status.observedGeneration` has
caught up with `metadata.generation`: until then the line is "Waiting for ... spec update to
be observed...".

`follow_status` reads the object once, then (with `watch`) follows a watch on that one name,
resuming from the last resourceVersion it saw when the server ends the watch, re-listing the
object on a 410 and after a dropped connection. It prints a line whenever the status line
changes (kubectl prints one per event, so it may repeat a line; we do not), stops at done, and
fails when the object is deleted or `timeout_s` (> 0) passes: `timed out waiting for the
condition`, exit code 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from cli.errors import CliError
from cli.session import Globals, coll_path, obj_path, open_client
from cli.targets import Target, parse_targets
from machinery import errors
from machinery.client import ApiClient

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
MAX_WATCH_FAILURES = 8  # with the growing delay: ~18 s of API server outage
RESUME_DELAY_S = 0.5
WATCH_WINDOW_S = 300.0


def _revision_of(obj: Obj) -> int:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0")
    return int(raw) if str(raw).isdigit() else 0


def _generation_seen(obj: Obj) -> bool:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    return int(meta.get("generation") or 0) <= int(status.get("observedGeneration") or 0)


def deployment_status(obj: Obj, revision: int = 0) -> tuple[str, bool]:
    name = (obj.get("metadata") or {}).get("name", "")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if revision > 0 and _revision_of(obj) != revision:
        raise CliError(f"desired revision ({revision}) is different from the running revision "
                       f"({_revision_of(obj)})")
    if not _generation_seen(obj):
        return "Waiting for deployment spec update to be observed...", False
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            raise CliError(f'deployment "{name}" exceeded its progress deadline')
    want = spec.get("replicas")
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if want is not None and updated < int(want):
        return f"{waiting}{updated} out of {want} new replicas have been updated...", False
    if total > updated:
        return f"{waiting}{total - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{waiting}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True


def _strategy(obj: Obj) -> Obj:
    return (obj.get("spec") or {}).get("updateStrategy") or {"type": "RollingUpdate"}


def daemonset_status(obj: Obj, revision: int = 0) -> tuple[str, bool]:
    name = (obj.get("metadata") or {}).get("name", "")
    status = obj.get("status") or {}
    if _strategy(obj).get("type", "RollingUpdate") != "RollingUpdate":
        raise CliError("rollout status is only available for RollingUpdate strategy type")
    if not _generation_seen(obj):
        return "Waiting for daemon set spec update to be observed...", False
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    if updated < desired:
        return (f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} '
                "new pods have been updated..."), False
    if available < desired:
        return (f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} '
                "updated pods are available..."), False
    return f'daemon set "{name}" successfully rolled out', True


def statefulset_status(obj: Obj, revision: int = 0) -> tuple[str, bool]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    strategy = _strategy(obj)
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise CliError("rollout status is only available for RollingUpdate strategy type")
    if not status.get("observedGeneration") or not _generation_seen(obj):
        return "Waiting for statefulset spec update to be observed...", False
    want = spec.get("replicas")
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    if want is not None and ready < int(want):
        return f"Waiting for {int(want) - ready} pods to be ready...", False
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        partition = rolling.get("partition")
        if want is not None and partition is not None and updated < int(want) - int(partition):
            return (f"Waiting for partitioned roll out to finish: {updated} out of "
                    f"{int(want) - int(partition)} new pods have been updated..."), False
        return f"partitioned roll out complete: {updated} new pods have been updated...", True
    if status.get("updateRevision") != status.get("currentRevision"):
        return (f"waiting for statefulset rolling update to complete {updated} pods at revision "
                f"{status.get('updateRevision')}..."), False
    return (f"statefulset rolling update complete {int(status.get('currentReplicas') or 0)} pods at "
            f"revision {status.get('currentRevision')}..."), True


VIEWERS: dict[str, Callable[[Obj, int], tuple[str, bool]]] = {
    "Deployment": deployment_status, "DaemonSet": daemonset_status, "StatefulSet": statefulset_status,
}


class _Follower:
    """Prints changed status lines; remembers the resourceVersion to resume from."""

    def __init__(self, target: Target, revision: int, out: Callable[[str], None]) -> None:
        self.view = VIEWERS[target.cls.KIND]
        self.revision = revision
        self.out = out
        self.last_line = ""
        self.rv: str | None = None

    def judge(self, obj: Obj) -> bool:
        self.rv = str((obj.get("metadata") or {}).get("resourceVersion") or "") or self.rv
        line, done = self.view(obj, self.revision)
        if line != self.last_line:
            self.out(line)
            self.last_line = line
        return done


async def _follow(client: ApiClient, target: Target, namespace: str, f: _Follower, watch: bool) -> None:
    path = obj_path(target.cls, target.name, namespace)
    if f.judge(await client.request("GET", path)) or not watch:
        return
    failures = 0
    relist = False
    while True:
        try:
            if relist:
                if await _relist(client, target, namespace, f):
                    return
                relist = False
            async for event in client.watch(target.cls, namespace=namespace, resource_version=f.rv,
                                            field_selector=f"metadata.name={target.name}",
                                            timeout_s=WATCH_WINDOW_S):
                obj = (event.raw or {}).get("object") or {}
                failures = 0
                if event.type == "BOOKMARK":
                    f.rv = str((obj.get("metadata") or {}).get("resourceVersion") or "") or f.rv
                elif event.type == "DELETED":
                    raise CliError("object has been deleted")
                elif event.type in ("ADDED", "MODIFIED") and f.judge(obj):
                    return
        except (errors.Expired, errors.Gone, errors.ConnectionFailed):
            # Our resourceVersion is too old, or the server went away (a restart): back off,
            # then read the object afresh and watch from there, so no state change is missed.
            failures += 1
            if failures > MAX_WATCH_FAILURES:
                raise
            await asyncio.sleep(RESUME_DELAY_S * failures)
            relist = True


async def _relist(client: ApiClient, target: Target, namespace: str, f: _Follower) -> bool:
    """Judge the object as a fresh list shows it, and resume from the list's resourceVersion
    (the object's own may be older than what the server still keeps)."""
    body = await client.request("GET", coll_path(target.cls, namespace),
                                params={"fieldSelector": f"metadata.name={target.name}"})
    items = body.get("items") or []
    if not items:
        raise CliError("object has been deleted")
    done = f.judge(items[0])
    f.rv = str((body.get("metadata") or {}).get("resourceVersion") or "") or f.rv
    return done


async def follow_status(client: ApiClient, target: Target, namespace: str, *, watch: bool = True,
                        timeout_s: float = 0.0, revision: int = 0,
                        out: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
    if target.cls.KIND not in VIEWERS:
        raise CliError(f"no status viewer has been implemented for {target.cls.KIND}")
    follower = _Follower(target, revision, out)
    try:
        async with asyncio.timeout(timeout_s if timeout_s > 0 else None):
            await _follow(client, target, namespace, follower, watch)
    except TimeoutError:
        raise CliError("timed out waiting for the condition") from None


async def rollout_status(g: Globals, args: list[str], *, watch: bool, timeout_s: float, revision: int) -> int:
    targets = parse_targets(args, allowed=tuple(VIEWERS), verb="rollout status")
    if len(targets) != 1:
        raise CliError("rollout status takes exactly one resource")
    client, namespace = open_client(g)
    async with client:
        await follow_status(client, targets[0], namespace, watch=watch, timeout_s=timeout_s, revision=revision)
    return 0
