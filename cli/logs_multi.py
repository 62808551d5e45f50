"""`kubelite logs` as kubectl's (k8s.io/kubectl pkg/cmd/logs + polymorphichelpers.logsForObject).

Contract:
- Targets: `POD`, `pod/POD`, `-l SELECTOR` (every matching pod of the namespace; `--tail`
  defaults to 10 there, as kubectl), or `KIND/NAME` of an object with a selector (deploy, rs,
  sts, ds, job, rc, svc): its first pod in kubectl's ByLogging order, with `Found N pods,
  using pod/X` on stderr when there are several. A pod's container: `-c`, else the
  `kubectl.kubernetes.io/default-container` annotation, else the first one (with kubectl's
  `Defaulted container "a" out of: a, b, i (init)` on stderr); `--all-containers` takes init,
  app and ephemeral containers in that order.
- Each (pod, container) is one `GET pods/NAME/log` with the query kubectl sends (container,
  follow, previous, timestamps, sinceSeconds|sinceTime, tailLines, limitBytes).
  `--prefix` puts `[pod/NAME/CONTAINER] ` before each line.
- Without `-f` the streams are read one after another; the first failure ends the command
  (`--ignore-errors`: printed as `error: ...` and skipped). With `-f` and several streams they
  are followed at once, whole lines interleaved; more than `--max-log-requests` (5) streams is
  kubectl's error; a stream that fails is retried every second for `--pod-running-timeout`
  (20 s), its error printed each time; the command ends when every stream has ended.
- Usage errors use kubectl's words (with `kubelite` for `kubectl`); a missing pod is
  `error: error from server (NotFound): pods "x" not found in namespace "ns"`.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any

from cli.errors import CliError
from cli.logs import parse_since
from cli.session import Globals, obj_path, open_client, resolve_kind
from machinery import errors
from machinery.client import ApiClient
from machinery.selectors import selector_from_map, selector_from_model

Obj = dict[str, Any]
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
SELECTOR_TAIL = 10
USAGE = ("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
         "POD or TYPE/NAME is a required argument for the logs command\n"
         "See 'kubelite logs -h' for help and examples")
RETRY_PERIOD_S = 1.0


@dataclass
class LogsOptions:
    container: str | None = None
    follow: bool = False
    tail: int | None = None  # None: not given (all lines; 10 per stream with -l)
    since: str | None = None
    since_time: str | None = None
    timestamps: bool = False
    previous: bool = False
    selector: str | None = None
    all_containers: bool = False
    prefix: bool = False
    max_log_requests: int = 5
    ignore_errors: bool = False
    limit_bytes: int = 0
    pod_running_timeout_s: float = 20.0


@dataclass(frozen=True)
class Source:
    namespace: str
    pod: str
    container: str


def validate(target: str | None, opts: LogsOptions) -> None:
    if target is None and not opts.selector:
        raise CliError(USAGE)
    if target is not None and opts.selector:
        raise CliError("only a selector (-l) or a POD name is allowed\nSee 'kubelite logs -h' for help and examples")
    if opts.since and opts.since_time:
        raise CliError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    if opts.all_containers and opts.container:
        raise CliError(f"--all-containers=true should not be specified with container name {opts.container}")
    if opts.limit_bytes < 0:
        raise CliError("--limit-bytes must be greater than 0")
    if opts.tail is not None and opts.tail < -1:
        raise CliError("--tail must be greater than or equal to -1")


def query(opts: LogsOptions, container: str) -> dict[str, Any]:
    """The PodLogOptions kubectl sends for one stream."""
    params: dict[str, Any] = {"container": container}
    for key, flag in (("follow", opts.follow), ("previous", opts.previous), ("timestamps", opts.timestamps)):
        if flag:
            params[key] = "true"
    since_s = parse_since(opts.since)
    if since_s:
        params["sinceSeconds"] = since_s
    if opts.since_time:
        params["sinceTime"] = opts.since_time
    if opts.limit_bytes:
        params["limitBytes"] = opts.limit_bytes
    tail = opts.tail
    if tail is None and opts.selector:
        tail = SELECTOR_TAIL
    if tail is not None and tail != -1:
        params["tailLines"] = tail
    return params


def all_container_names(pod: Obj) -> str:
    """podcmd.AllContainerNames: `a, b, i (init), e (ephem)`."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    names += [f"{c['name']} (init)" for c in spec.get("initContainers") or []]
    names += [f"{c['name']} (ephem)" for c in spec.get("ephemeralContainers") or []]
    return ", ".join(names)


def _names(pod: Obj, key: str) -> list[str]:
    return [str(c.get("name")) for c in (pod.get("spec") or {}).get(key) or []]


def containers_of(pod: Obj, opts: LogsOptions, warn: list[str]) -> list[str]:
    """Which containers' logs kubectl reads for this pod (messages for stderr go to `warn`)."""
    meta = pod.get("metadata") or {}
    if opts.all_containers:
        return _names(pod, "initContainers") + _names(pod, "containers") + _names(pod, "ephemeralContainers")
    name = opts.container or ""
    default = (meta.get("annotations") or {}).get(DEFAULT_CONTAINER) or ""
    every = _names(pod, "initContainers") + _names(pod, "containers") + _names(pod, "ephemeralContainers")
    if not name and default:
        if default in every:
            name = default
        else:
            warn.append(f'Default container name "{default}" not found in pod {meta.get("name")}')
    if not name:
        apps = _names(pod, "containers")
        name = apps[0] if apps else ""
        if len(every) > 1:
            warn.append(f'Defaulted container "{name}" out of: {all_container_names(pod)}')
    if name not in every:
        raise CliError(f"container {name} is not valid for pod {meta.get('name')} out of: {all_container_names(pod)}")
    return [name]


def by_logging(pod: Obj) -> tuple[int, int, int, int, str]:
    """kubectl's podutils.ByLogging as a sort key: assigned, Running, ready, restarts, age."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase_rank = {"Running": 0, "Unknown": 1, "Pending": 2}.get(str(status.get("phase") or ""), 0)
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    restarts = max([int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []] or [0])
    created = str((pod.get("metadata") or {}).get("creationTimestamp") or "~")  # empty sorts last
    return (0 if spec.get("nodeName") else 1, phase_rank, 0 if ready else 1, -restarts, created)


async def _pods_of(client: ApiClient, ns: str, selector: str) -> list[Obj]:
    page = await client.request("GET", f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": selector})
    return list(page.get("items") or [])


def _selector_of(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    sel = spec.get("selector")
    if obj.get("kind") in ("Service", "ReplicationController"):
        return str(selector_from_map(sel or {}))
    return str(selector_from_model(sel))


async def pods_for(client: ApiClient, ns: str, target: str | None, opts: LogsOptions, warn: list[str]) -> list[Obj]:
    if target is None:
        pods = sorted(await _pods_of(client, ns, str(opts.selector)), key=lambda p: p["metadata"]["name"])
        if not pods:
            warn.append(f"No resources found in {ns} namespace.")
        return pods
    kind, sep, name = target.partition("/")
    cls = resolve_kind(kind) if sep else resolve_kind("pods")
    name = name if sep else target
    try:
        obj = await client.request("GET", obj_path(cls, name, ns))
    except errors.NotFound as exc:
        raise CliError(f'error from server (NotFound): {exc.message} in namespace "{ns}"') from None
    if cls.KIND == "Pod":
        return [obj]
    if not (obj.get("spec") or {}).get("selector"):
        raise CliError(f"cannot get the logs from {cls.KIND}: selector for {cls.KIND} not implemented")
    pods = sorted(await _pods_of(client, ns, _selector_of(obj)), key=by_logging)
    if not pods:
        raise CliError("timed out waiting for the condition")  # kubectl waits --pod-running-timeout first
    if len(pods) > 1:
        warn.append(f"Found {len(pods)} pods, using pod/{pods[0]['metadata']['name']}")
    return pods[:1]


def _write(prefix: str, text: str) -> None:
    if not text:
        return
    lines = text.splitlines(keepends=True)
    sys.stdout.write("".join(prefix + line for line in lines))
    sys.stdout.flush()


def _path(src: Source) -> str:
    return f"/api/v1/namespaces/{src.namespace}/pods/{src.pod}/log"


async def _read(client: ApiClient, src: Source, opts: LogsOptions, prefix: str) -> None:
    if not opts.follow:
        _write(prefix, str(await client.request("GET", _path(src), params=query(opts, src.container)) or ""))
        return
    async for line in client.stream_lines(_path(src), params=query(opts, src.container)):
        _write(prefix, line + "\n")


async def _follow_with_retry(client: ApiClient, src: Source, opts: LogsOptions, prefix: str) -> None:
    """consumeWithRetry: an API error is printed and the stream tried again every second."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.pod_running_timeout_s
    while True:
        try:
            await _read(client, src, opts, prefix)
            return
        except errors.ApiError as exc:
            if isinstance(exc, errors.ConnectionFailed):
                raise
            if opts.ignore_errors:
                print(f"error: {exc.message}", file=sys.stderr, flush=True)
                return
            print(exc.message, file=sys.stderr, flush=True)
            if loop.time() + RETRY_PERIOD_S > deadline:
                raise CliError("timed out waiting for the condition") from None
            await asyncio.sleep(RETRY_PERIOD_S)


def prefix_for(src: Source, opts: LogsOptions) -> str:
    return f"[pod/{src.pod}/{src.container}] " if opts.prefix else ""


async def logs(g: Globals, target: str | None, opts: LogsOptions) -> int:
    validate(target, opts)
    query(opts, "")  # a bad --since fails before anything is sent
    client, ns = open_client(g)
    async with client:
        warn: list[str] = []
        pods = await pods_for(client, ns, target, opts, warn)
        sources = [Source(ns, p["metadata"]["name"], c) for p in pods for c in containers_of(p, opts, warn)]
        for line in warn:
            print(line, file=sys.stderr, flush=True)
        if opts.follow and len(sources) > 1:
            if len(sources) > opts.max_log_requests:
                raise CliError(f"you are attempting to follow {len(sources)} log streams, but maximum allowed "
                               f"concurrency is {opts.max_log_requests}, use --max-log-requests to increase the limit")
            await asyncio.gather(*(_follow_with_retry(client, s, opts, prefix_for(s, opts)) for s in sources))
            return 0
        for src in sources:
            if opts.follow:
                await _follow_with_retry(client, src, opts, prefix_for(src, opts))
                continue
            try:
                await _read(client, src, opts, prefix_for(src, opts))
            except errors.ApiError as exc:
                if not opts.ignore_errors or isinstance(exc, errors.ConnectionFailed):
                    raise
                print(f"error: {exc.message}", file=sys.stderr, flush=True)
    return 0
