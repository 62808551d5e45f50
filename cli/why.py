"""`kubelite why POD | pod/NAME | deploy/NAME`: why something is not Running/Ready/Available, in
plain words, from the objects and their Events, with the command to run next.

Contract: `explain_pod(pod, events, claims, previous_log)` and `explain_deployment(deploy,
replicasets, events)` are pure (wire dicts in, lines out); `why(g, target)` fetches what they
need and prints one screen. Causes recognised, first match wins per container/pod:
- not scheduled (PodScheduled False): the scheduler's message (which filters rejected how
  many nodes), a PersistentVolumeClaim of the pod that is Pending, else the node that came
  closest and what it lacks (cli/why_nodes.py);
- an image missing on its node (ErrImageNeverPull, ImagePullBackOff, ErrImagePull):
  `kubelite image load IMAGE`;
- an init container not done: its state and the tail of its log;
- CrashLoopBackOff / a terminated container: last exit code and reason, restarts, the tail of
  the previous log;
- a failing probe (Unhealthy events): the probe's last output;
- a Deployment: its Progressing/Available conditions (ProgressDeadlineExceeded with the
  deadline), the newest ReplicaSet and its unavailable replicas, a ReplicaSet that cannot
  create pods (FailedCreate: a quota refusal, admission) and then its first pod not Ready.
A pod that is Running and Ready prints that it is fine (exit 0). Nothing is changed.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from cli.errors import CliError
from cli.session import Globals, open_client
from cli.why_nodes import closest_node
from machinery import errors
from machinery.client import ApiClient

Obj = dict[str, Any]
IMAGE_MISSING = ("ErrImageNeverPull", "ImagePullBackOff", "ErrImagePull", "InvalidImageName")
TAIL = 5


def _cond(obj: Obj, ctype: str) -> Obj:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            found: Obj = c
            return found
    return {}


def _events(events: list[Obj], *reasons: str) -> list[Obj]:
    picked = [e for e in events if not reasons or e.get("reason") in reasons]
    return sorted(picked, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))


def _tail(text: str | None) -> list[str]:
    lines = (text or "").rstrip("\n").splitlines()[-TAIL:]
    return [f"    | {line}" for line in lines]


def explain_pod(pod: Obj, events: list[Obj], *, claims: dict[str, Obj] | None = None,
                logs: dict[str, str] | None = None, closest: tuple[str, list[str]] | None = None) -> list[str]:
    """Lines explaining the pod; `logs` maps a container name to the tail of its (previous) log;
    `closest` is the node that came closest to taking an unscheduled pod and what it lacks."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    name, ns = meta.get("name"), meta.get("namespace") or "default"
    ref = f"pod/{name}"
    logs = logs or {}
    phase = status.get("phase") or "Pending"
    if meta.get("deletionTimestamp"):
        return [f"{ref} is being deleted (since {meta['deletionTimestamp']}).",
                f"Next: kubelite get {ref} -n {ns} -w   # gone once its containers stopped"]
    sched = _cond(pod, "PodScheduled")
    if not spec.get("nodeName") and sched.get("status") != "True":
        out = [f"{ref} is Pending: no node accepted it."]
        failed = _events(events, "FailedScheduling")
        message = (failed[-1].get("message") if failed else None) or sched.get("message") or "not scheduled yet"
        out.append(f"  scheduler: {message}")
        for cname, claim in (claims or {}).items():
            if (claim.get("status") or {}).get("phase") != "Bound":
                out.append(f"  PersistentVolumeClaim {cname} is {(claim.get('status') or {}).get('phase') or 'Pending'}"
                           f" (storageClass {(claim.get('spec') or {}).get('storageClassName') or '<none>'}).")
                out.append(f"Next: kubelite describe pvc {cname} -n {ns}")
                return out
        if closest is not None and closest[1]:
            out.append(f"  closest node: {closest[0]}, where")
            out += [f"    - {reason}" for reason in closest[1]]
        out.append("Next: kubelite describe nodes   # free resources, taints and labels; or lower the pod's "
                   "requests, fix its nodeSelector/affinity/tolerations")
        return out
    commands = {c.get("name"): [*(c.get("command") or []), *(c.get("args") or [])]
                for c in spec.get("initContainers") or []}
    for cs in status.get("initContainerStatuses") or []:
        cs = {"command": commands.get(cs.get("name")), **cs}
        term = (cs.get("state") or {}).get("terminated") or {}
        if term.get("exitCode") == 0:
            continue
        lines = _container(ref, ns, cs, logs, init=True)
        if lines:
            return lines
    for cs in status.get("containerStatuses") or []:
        lines = _container(ref, ns, cs, logs, init=False)
        if lines:
            return lines
    probe = _events(events, "Unhealthy")
    if probe:
        last = probe[-1]
        return [f"{ref} is {phase} but a probe fails ({int(last.get('count') or 1)} times):",
                f"  {str(last.get('message') or '').strip()}",
                f"Next: kubelite describe {ref} -n {ns}   # the probe's command, port and thresholds"]
    if phase in ("Succeeded", "Failed"):
        return [f"{ref} has finished: {phase} ({status.get('reason') or 'all containers exited'})."]
    if _cond(pod, "Ready").get("status") == "True":
        return [f"{ref} is Running and Ready: nothing to explain."]
    return [f"{ref} is {phase}, not Ready yet ({_cond(pod, 'Ready').get('reason') or 'waiting'}).",
            f"Next: kubelite describe {ref} -n {ns}"]


def _container(ref: str, ns: str, cs: Obj, logs: dict[str, str], *, init: bool) -> list[str]:
    cname = str(cs.get("name") or "")
    kind = "init container" if init else "container"
    state = cs.get("state") or {}
    waiting, running, term = state.get("waiting") or {}, "running" in state, state.get("terminated") or {}
    reason = waiting.get("reason") or ""
    if reason in IMAGE_MISSING:
        image = cs.get("image") or ""
        return [f"{ref}: {kind} {cname} cannot start: {reason}: image {image} is not on the node.",
                f"  {waiting.get('message') or ''}".rstrip(),
                f"Next: kubelite image load {image}   # copies a local image into the cluster's node(s)"]
    last = (cs.get("lastState") or {}).get("terminated") or term
    restarts = int(cs.get("restartCount") or 0)
    if reason == "CrashLoopBackOff" or (term and term.get("exitCode") not in (None, 0)):
        out = [f"{ref}: {kind} {cname} keeps crashing ({reason or 'Terminated'}, {restarts} restarts).",
               f"  last exit code {last.get('exitCode')} ({last.get('reason') or 'Error'})"
               + (f", finished {last.get('finishedAt')}" if last.get("finishedAt") else "") + "."]
        if logs.get(cname):
            out += ["  the end of its previous log:", *_tail(logs[cname])]
        out.append(f"Next: kubelite logs {ref} -c {cname} -n {ns} --previous")
        return out
    if init and (running or reason):
        out = [f"{ref} waits for init container {cname} ({'running' if running else reason})."]
        command = " ".join(str(x) for x in [*(cs.get("command") or [])])
        if command:
            out.append(f"  it runs: {command}")
        if logs.get(cname):
            out += ["  its log ends with:", *_tail(logs[cname])]
        out.append(f"Next: kubelite logs {ref} -c {cname} -n {ns}   # what it is waiting for (a DNS name? a Service?)")
        return out
    if reason and reason not in ("ContainerCreating", "PodInitializing"):
        return [f"{ref}: {kind} {cname} is waiting: {reason}: {waiting.get('message') or ''}".rstrip(),
                f"Next: kubelite describe {ref} -n {ns}"]
    return []


def explain_deployment(deploy: Obj, replicasets: list[Obj], events: list[Obj]) -> tuple[list[str], Obj | None]:
    """Lines about the Deployment, and the ReplicaSet whose pods deserve a look (or None)."""
    meta, spec, status = deploy.get("metadata") or {}, deploy.get("spec") or {}, deploy.get("status") or {}
    ref = f"deployment/{meta.get('name')}"
    want = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    available = int(status.get("availableReplicas") or 0)
    progressing, avail = _cond(deploy, "Progressing"), _cond(deploy, "Available")
    owned = [rs for rs in replicasets if any(o.get("uid") == meta.get("uid")
                                             for o in (rs.get("metadata") or {}).get("ownerReferences") or [])]
    newest = max(owned, key=lambda rs: int(((rs.get("metadata") or {}).get("annotations") or {})
                                           .get("deployment.kubernetes.io/revision") or 0), default=None)
    out: list[str] = []
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        out.append(f"{ref} is stalled: no progress for {spec.get('progressDeadlineSeconds', 600)}s "
                   f"(ProgressDeadlineExceeded): {progressing.get('message') or ''}".rstrip())
    elif available >= want and avail.get("status") == "True" and int(status.get("updatedReplicas") or 0) >= want:
        return [f"{ref} is Available: {available}/{want} replicas up to date."], None
    else:
        out.append(f"{ref} has {available}/{want} available replicas"
                   f" ({int(status.get('unavailableReplicas') or 0)} unavailable).")
    if newest is not None:
        rs_meta, rs_status = newest.get("metadata") or {}, newest.get("status") or {}
        out.append(f"  newest ReplicaSet {rs_meta.get('name')}: {int(rs_status.get('readyReplicas') or 0)}/"
                   f"{int((newest.get('spec') or {}).get('replicas') or 0)} ready.")
        failed = [e for e in _events(events, "FailedCreate")
                  if (e.get("involvedObject") or {}).get("name") == rs_meta.get("name")]
        if failed:
            out.append(f"  it cannot create pods: {str(failed[-1].get('message') or '').strip()}")
            if "quota" in str(failed[-1].get("message") or ""):
                out.append(f"Next: kubelite describe quota -n {rs_meta.get('namespace') or 'default'}")
            return out, None
    return out, newest


async def _get(client: ApiClient, path: str, **params: Any) -> Any:
    return await client.request("GET", path, params=params or None)


async def _pod_lines(client: ApiClient, ns: str, pod: Obj) -> list[str]:
    name = pod["metadata"]["name"]
    events = (await _get(client, f"/api/v1/namespaces/{ns}/events",
                         fieldSelector=f"involvedObject.kind=Pod,involvedObject.name={name}")).get("items") or []
    claims: dict[str, Obj] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            try:
                claims[claim] = await _get(client, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
            except errors.NotFound:
                claims[claim] = {"status": {"phase": "missing"}}
    logs: dict[str, str] = {}
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        crashed = int(cs.get("restartCount") or 0) > 0 or (cs.get("state") or {}).get("terminated")
        waiting_init = cs in (status.get("initContainerStatuses") or []) and (cs.get("state") or {}).get("running")
        if not crashed and not waiting_init:
            continue
        params: dict[str, Any] = {"container": cs.get("name"), "tailLines": TAIL}
        if int(cs.get("restartCount") or 0) > 0 and not waiting_init:
            params["previous"] = "true"
        with contextlib.suppress(errors.ApiError):
            logs[str(cs.get("name"))] = str(await _get(client, f"/api/v1/namespaces/{ns}/pods/{name}/log", **params))
    closest = None
    if not (pod.get("spec") or {}).get("nodeName"):
        nodes = (await _get(client, "/api/v1/nodes")).get("items") or []
        bound = (await _get(client, "/api/v1/pods")).get("items") or []
        closest = closest_node(pod, nodes, bound)
    return explain_pod(pod, events, claims=claims, logs=logs, closest=closest)


async def why(g: Globals, target: str) -> int:
    kind, sep, name = target.partition("/")
    if not sep:
        kind, name = "pod", target
    client, ns = open_client(g)
    async with client:
        if kind in ("pod", "pods", "po"):
            pod = await _get(client, f"/api/v1/namespaces/{ns}/pods/{name}")
            print("\n".join(await _pod_lines(client, ns, pod)))
            return 0
        if kind not in ("deploy", "deployment", "deployments"):
            raise CliError(f"why explains pods and deployments, not {kind!r}")
        deploy = await _get(client, f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
        rss = (await _get(client, f"/apis/apps/v1/namespaces/{ns}/replicasets")).get("items") or []
        events = (await _get(client, f"/api/v1/namespaces/{ns}/events",
                             fieldSelector="involvedObject.kind=ReplicaSet")).get("items") or []
        lines, rs = explain_deployment(deploy, rss, events)
        print("\n".join(lines))
        if rs is None:
            return 0
        uid = (rs.get("metadata") or {}).get("uid")
        pods = [p for p in (await _get(client, f"/api/v1/namespaces/{ns}/pods")).get("items") or []
                if any(o.get("uid") == uid for o in (p.get("metadata") or {}).get("ownerReferences") or [])]
        bad = [p for p in pods if _cond(p, "Ready").get("status") != "True"]
        if bad:
            print("  a pod of it:")
            print("\n".join("  " + line for line in await _pod_lines(client, ns, bad[0])))
        elif not pods:
            print("  it has no pods yet.", file=sys.stderr)
    return 0
