"""`kubelite drain NODE`: cordon, then evict every pod from the node, as kubectl drain does.

Contract (kubectl's drain.go and k8s.io/kubectl/pkg/drain):
- The node is cordoned first (`node/n1 cordoned`). Its pods (field selector spec.nodeName, all
  namespaces, narrowed by --pod-selector) are sorted out before anything is evicted:
  mirror pods are skipped; finished pods (Succeeded/Failed) go; DaemonSet pods need
  --ignore-daemonsets (then a warning names them and they stay); pods with emptyDir volumes need
  --delete-emptydir-data; pods without a controller need --force (then a warning). Any refusal
  prints kubectl's `cannot delete ... (use --X to ...): ns/pod` lines, exits 1 and evicts
  nothing (the node stays cordoned, as with kubectl).
- Each pod gets a policy/v1 Eviction through pods/NAME/eviction (`evicting pod ns/name`),
  with --grace-period in its deleteOptions when given (-1: the pod's own). A 429 (a
  PodDisruptionBudget has no disruption left) prints `error when evicting pods/"p" -n "ns" (will
  retry after 5s): <server message>` and is retried every EVICTION_RETRY_S until --timeout; a
  404 means already gone. Then each pod is awaited until it is gone or replaced by a pod of
  the same name with another uid (`pod/name evicted`), and `node/n1 drained` ends it.
- --timeout (0 = forever) bounds the whole drain; when it passes, kubectl's report names the
  pending pods and `error when evicting pods/"p" -n "ns": global timeout reached: 20s`, exit 1.
- --disable-eviction deletes instead of evicting (bypassing budgets), as kubectl.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from cli.errors import CliError, ExitCode
from cli.nodes import cordon_one
from cli.session import Globals, open_client
from machinery import errors
from machinery.client import ApiClient
from machinery.models import Pod
from machinery.tables import human_duration

EVICTION_RETRY_S = 5.0
MIRROR = "kubernetes.io/config.mirror"


@dataclass
class DrainOptions:
    ignore_daemonsets: bool = False
    delete_emptydir_data: bool = False
    force: bool = False
    grace_period: int = -1
    timeout_s: float = 0.0
    pod_selector: str | None = None
    disable_eviction: bool = False
    retry_s: float = EVICTION_RETRY_S


class DrainTimeout(Exception):
    """--timeout passed while a pod was still on the node: kubectl's message and the pod."""

    def __init__(self, message: str, pod: str) -> None:
        super().__init__(message)
        self.message = message
        self.pod = pod


@dataclass
class Plan:
    evict: list[dict[str, Any]] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)


def _ref(pod: dict[str, Any]) -> str:
    return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"


def _controller(pod: dict[str, Any]) -> dict[str, Any] | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def sort_pods(pods: list[dict[str, Any]], opts: DrainOptions, missing_daemonsets: dict[str, str] | None = None
              ) -> Plan:
    """kubectl's filters, in its order: mirror, finished, DaemonSet, local storage, unmanaged.
    `missing_daemonsets` maps ns/name of a DaemonSet that does not exist to the server's
    NotFound message: such pods are orphans, deleted only with --force (kubectl's rule)."""
    plan = Plan()
    missing = missing_daemonsets or {}
    for pod in pods:
        meta = pod["metadata"]
        if MIRROR in (meta.get("annotations") or {}):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            plan.evict.append(pod)
            continue
        ctrl = _controller(pod)
        if ctrl is not None and ctrl.get("kind") == "DaemonSet":
            gone = missing.get(f"{meta.get('namespace')}/{ctrl.get('name')}")
            if gone is not None:
                if opts.force:
                    plan.warnings.setdefault(gone, []).append(_ref(pod))
                    plan.evict.append(pod)
                else:
                    plan.errors.setdefault(gone, []).append(_ref(pod))
                continue
            if opts.ignore_daemonsets:
                plan.warnings.setdefault("ignoring DaemonSet-managed Pods", []).append(_ref(pod))
            else:
                plan.errors.setdefault("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)",
                                       []).append(_ref(pod))
            continue
        if any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or []) \
                and not opts.delete_emptydir_data:
            plan.errors.setdefault("cannot delete Pods with local storage (use --delete-emptydir-data to override)",
                                   []).append(_ref(pod))
            continue
        if ctrl is None:
            if not opts.force:
                plan.errors.setdefault("cannot delete Pods that declare no controller (use --force to override)",
                                       []).append(_ref(pod))
                continue
            plan.warnings.setdefault("deleting Pods that declare no controller", []).append(_ref(pod))
        plan.evict.append(pod)
    return plan


async def _evict(client: ApiClient, pod: dict[str, Any], opts: DrainOptions, deadline: float) -> None:
    meta = pod["metadata"]
    ns, name = meta["namespace"], meta["name"]
    delete_options: dict[str, Any] = {}
    if opts.grace_period >= 0:
        delete_options["gracePeriodSeconds"] = opts.grace_period
    while True:
        print(f"evicting pod {_ref(pod)}", flush=True)  # kubectl prints it on every attempt
        if time.monotonic() >= deadline:
            raise DrainTimeout(f'error when evicting pods/"{name}" -n "{ns}": global timeout reached: '
                               f"{human_duration(opts.timeout_s)}", name)
        try:
            if opts.disable_eviction:
                await client.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}", json=delete_options or None)
            else:
                body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns},
                        **({"deleteOptions": delete_options} if delete_options else {})}
                await client.request("POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", json=body, retry=False)
            return
        except errors.NotFound:
            return
        except errors.TooManyRequests as exc:
            print(f'error when evicting pods/"{name}" -n "{ns}" (will retry after '
                  f'{human_duration(opts.retry_s)}): {exc.message}', file=sys.stderr, flush=True)
            await asyncio.sleep(opts.retry_s)  # kubectl's fixed 5 s between eviction attempts


async def _gone(client: ApiClient, pod: dict[str, Any], opts: DrainOptions, deadline: float) -> None:
    name = pod["metadata"]["name"]
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.01)):
            await _wait_gone(client, pod)
    except TimeoutError:
        raise DrainTimeout(f'error when waiting for pod "{name}" to terminate: global timeout reached: '
                           f"{human_duration(opts.timeout_s)}", name) from None


async def _wait_gone(client: ApiClient, pod: dict[str, Any]) -> None:
    """Until the pod is gone or its name belongs to a new pod (another uid)."""
    meta = pod["metadata"]
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
    while True:
        try:
            live = await client.request("GET", path)
        except errors.NotFound:
            return
        if (live.get("metadata") or {}).get("uid") != meta.get("uid"):
            return
        rv = live["metadata"].get("resourceVersion")
        try:
            async for event in client.watch(Pod, namespace=meta["namespace"], resource_version=rv,
                                            field_selector=f"metadata.name={meta['name']}", timeout_s=30):
                if event.type == "DELETED":
                    return
        except errors.ApiError as exc:
            if isinstance(exc, errors.ConnectionFailed):
                raise
            await asyncio.sleep(0.2)  # expired watch: read again


async def _one(client: ApiClient, pod: dict[str, Any], opts: DrainOptions, deadline: float) -> None:
    await _evict(client, pod, opts, deadline)
    await _gone(client, pod, opts, deadline)
    print(f"pod/{pod['metadata']['name']} evicted", flush=True)


async def missing_daemonsets(client: ApiClient, pods: list[dict[str, Any]]) -> dict[str, str]:
    """kubectl reads the DaemonSet of each DaemonSet pod: ns/name -> NotFound message if gone."""
    out: dict[str, str] = {}
    for pod in pods:
        ctrl = _controller(pod)
        if ctrl is None or ctrl.get("kind") != "DaemonSet":
            continue
        key = f"{pod['metadata'].get('namespace')}/{ctrl.get('name')}"
        if key in out:
            continue
        try:
            await client.request("GET", f"/apis/apps/v1/namespaces/{key.split('/')[0]}/daemonsets/{ctrl.get('name')}")
        except errors.NotFound as exc:
            out[key] = exc.message
    return out


def _report(plan: Plan, node: str) -> None:
    """kubectl's words: an aggregate error ([a, b] when several), then one line per reason."""
    if plan.warnings:
        print("Warning: " + "; ".join(f"{what}: {', '.join(refs)}" for what, refs in plan.warnings.items()),
              file=sys.stderr, flush=True)
    if plan.errors:
        lines = [f"cannot delete {what.removeprefix('cannot delete ')}: {', '.join(refs)}"
                 for what, refs in plan.errors.items()]
        text = lines[0] if len(lines) == 1 else f"[{', '.join(lines)}]"
        print(f'error: unable to drain node "{node}" due to error: {text}, continuing command...\n'
              f"There are pending nodes to be drained:\n {node}", file=sys.stderr)
        for line in lines:
            print(line, file=sys.stderr)


def _report_timeout(node: str, timeouts: list[DrainTimeout]) -> None:
    message = timeouts[0].message
    print(f'There are pending pods in node "{node}" when an error occurred: {message}', file=sys.stderr)
    for t in timeouts:
        print(f"pod/{t.pod}", file=sys.stderr)
    print(f'error: unable to drain node "{node}" due to error: {message}, continuing command...\n'
          f"There are pending nodes to be drained:\n {node}\n{message}", file=sys.stderr)


async def drain_node(client: ApiClient, node: str, opts: DrainOptions) -> bool:
    """Cordon, sort out and evict one node's pods, printing kubectl's lines; False if it failed
    (a refusal or the timeout, reported on stderr; the node stays cordoned)."""
    line = await cordon_one(client, node, cordon=True)
    print(line or f"node/{node} already cordoned", flush=True)
    params = {"fieldSelector": f"spec.nodeName={node}"}
    if opts.pod_selector:
        params["labelSelector"] = opts.pod_selector
    pods = (await client.request("GET", "/api/v1/pods", params=params)).get("items") or []
    plan = sort_pods(pods, opts, await missing_daemonsets(client, pods))
    _report(plan, node)
    if plan.errors:
        return False
    deadline = time.monotonic() + (opts.timeout_s if opts.timeout_s > 0 else 365 * 24 * 3600.0)
    results = await asyncio.gather(*(_one(client, p, opts, deadline) for p in plan.evict), return_exceptions=True)
    timeouts = [r for r in results if isinstance(r, DrainTimeout)]
    for other in results:
        if isinstance(other, BaseException) and not isinstance(other, DrainTimeout):
            raise other
    if timeouts:
        _report_timeout(node, timeouts)
        return False
    print(f"node/{node} drained", flush=True)
    return True


async def drain(g: Globals, nodes: list[str], opts: DrainOptions) -> int:
    if not nodes:
        raise CliError("USAGE: drain NODE [flags]")
    client, _ = open_client(g)
    failed = False
    async with client:
        for arg in nodes:
            if not await drain_node(client, arg.partition("/")[2] if "/" in arg else arg, opts):
                failed = True
    if failed:
        raise ExitCode(1)
    return 0
