"""The container runtime behind a small Protocol, and its Docker implementation.

Contract: the pod worker only ever talks to a `Runtime`. Everything a worker needs to rebuild
its view after a kubelet restart is in the container labels (`labels_for`), so `list` with a
label filter is the whole "adoption" story. `DockerRuntime` never pulls: an image that is not
present locally is reported as absent (`image_id` -> None) and the caller decides what status
to show. The docker SDK is synchronous; its calls run on a dedicated thread pool so that many
pods (and slow `stop`s) do not starve the default executor. `observe(operation, seconds)`, when
given, is told how long each Docker call took on its thread (operation = the SDK method's
name) and how long it waited for a pool thread (operation "threadpool_wait"), from the pool's
thread (prometheus-client histograms are thread-safe). `inspect_cache` keeps inspections until
the container changes (kubelet.inspectcache): the runtime drops an entry on its own start/stop/
remove and when a listing shows another State; the kubelet's Docker events stream enables it and
drops entries on events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from kubelet.inspectcache import InspectCache

T = TypeVar("T")

LABEL_CLUSTER = "io.kubelite.cluster"
LABEL_NODE = "io.kubelite.node"
LABEL_NS = "io.kubernetes.pod.namespace"
LABEL_POD = "io.kubernetes.pod.name"
LABEL_UID = "io.kubernetes.pod.uid"
LABEL_CONTAINER = "io.kubernetes.container.name"
LABEL_RESTARTS = "io.kubernetes.container.restartCount"
LABEL_KIND = "io.kubelite.kind"  # sandbox | init | app
LABEL_BACKOFF = "io.kubelite.backoffSteps"
LABEL_SANDBOX = "io.kubelite.sandbox"  # id of the sandbox an app/init container joined
SANDBOX_NAME = "POD"


def labels_for(*, cluster: str, node: str, namespace: str, pod: str, uid: str, container: str,
               kind: str, restarts: int = 0, backoff_steps: int = 0) -> dict[str, str]:
    return {
        LABEL_CLUSTER: cluster, LABEL_NODE: node, LABEL_NS: namespace, LABEL_POD: pod, LABEL_UID: uid,
        LABEL_CONTAINER: container, LABEL_KIND: kind, LABEL_RESTARTS: str(restarts),
        LABEL_BACKOFF: str(backoff_steps),
    }


@dataclass
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class PortBinding:
    """One published port: `host_ip:host_port` on the node -> `container_port/protocol`."""

    container_port: int
    host_port: int
    protocol: str = "tcp"  # tcp | udp (Docker's spelling)
    host_ip: str = ""  # "" = every host address


@dataclass
class ContainerSpec:
    """What to create. `command` is the entrypoint (Kubernetes `command`), `args` the cmd."""

    name: str
    image: str
    labels: dict[str, str]
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    network: str | None = None  # sandbox: the pod bridge network
    network_mode: str | None = None  # app/init: "container:<sandbox id>"
    hostname: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    nano_cpus: int | None = None
    mem_limit: int | None = None
    cpu_shares: int | None = None  # relative weight from requests.cpu (Docker default 1024)
    mem_reservation: int | None = None  # soft limit from requests.memory, bytes
    ports: list[PortBinding] = field(default_factory=list)  # sandbox only: it owns the netns
    dns: list[str] | None = None
    dns_search: list[str] | None = None
    stdin: bool = False  # keep stdin open (pod spec `stdin`), so `kubectl attach -i` can write
    tty: bool = False


@dataclass
class ContainerInfo:
    id: str
    name: str
    labels: dict[str, str]
    state: str  # created | running | exited | dead | paused | restarting | removing
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    created_at: str | None = None
    image: str = ""
    image_id: str = ""
    ip: str | None = None
    oom_killed: bool = False
    error: str = ""
    pid: int = 0  # main process on the host (0 when not running)
    stdin_open: bool = False  # created with an open stdin (pod spec `stdin`), for attach
    tty: bool = False

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")

    @property
    def container(self) -> str:
        return self.labels.get(LABEL_CONTAINER, "")

    @property
    def restarts(self) -> int:
        try:
            return int(self.labels.get(LABEL_RESTARTS, "0"))
        except ValueError:
            return 0


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class NameInUse(Exception):
    """`create` refused: a container of that name exists already (Docker's 409 Conflict)."""


class Runtime(Protocol):
    async def image_id(self, image: str) -> str | None: ...
    async def create(self, spec: ContainerSpec) -> str: ...
    async def start(self, cid: str) -> None: ...
    async def inspect(self, cid: str) -> ContainerInfo | None: ...
    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]: ...
    async def stop(self, cid: str, timeout_s: float) -> None: ...
    async def remove(self, cid: str) -> None: ...
    async def exec(self, cid: str, command: list[str], timeout_s: float) -> ExecResult: ...
    async def stats(self, cid: str) -> dict[str, Any]: ...


def _zero_time(t: str | None) -> str | None:
    return None if not t or t.startswith("0001-") else t


def info_from_attrs(attrs: dict[str, Any]) -> ContainerInfo:
    """Docker inspect JSON -> ContainerInfo (pure: unit-tested with recorded JSON)."""
    st = attrs.get("State") or {}
    cfg = attrs.get("Config") or {}
    nets = ((attrs.get("NetworkSettings") or {}).get("Networks")) or {}
    ip = next((n.get("IPAddress") for n in nets.values() if n.get("IPAddress")), None)
    return ContainerInfo(
        id=attrs.get("Id", ""),
        name=(attrs.get("Name") or "").lstrip("/"),
        labels=cfg.get("Labels") or {},
        state=st.get("Status", "unknown"),
        # A container whose start failed (e.g. executable not found) stays "created" with a
        # non-zero exit code: it counts as exited for the restart policy.
        exit_code=st.get("ExitCode") if st.get("Status") in ("exited", "dead") or st.get("ExitCode") else None,
        started_at=_zero_time(st.get("StartedAt")),
        finished_at=_zero_time(st.get("FinishedAt")),
        created_at=attrs.get("Created"),
        image=cfg.get("Image", ""),
        image_id=attrs.get("Image", ""),
        ip=ip,
        oom_killed=bool(st.get("OOMKilled")),
        error=st.get("Error") or "",
        pid=int(st.get("Pid") or 0),
        stdin_open=bool(cfg.get("OpenStdin")),
        tty=bool(cfg.get("Tty")),
    )


def docker_ports(bindings: list[PortBinding]) -> dict[str, list[tuple[str, int]]]:
    """PortBindings -> docker SDK `ports=`: {"80/tcp": [("127.0.0.1", 8080), ...]}."""
    out: dict[str, list[tuple[str, int]]] = {}
    for b in bindings:
        out.setdefault(f"{b.container_port}/{b.protocol}", []).append((b.host_ip, b.host_port))
    return out


class DockerRuntime:
    """`Runtime` on the local Docker engine (never pulls)."""

    def __init__(self, client: Any | None = None, *, workers: int = 32,
                 observe: Callable[[str, float], None] | None = None) -> None:
        if client is None:
            import docker

            client = docker.from_env(timeout=120)
        self.client = client
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker")
        self._observe = observe
        self.inspect_cache: InspectCache[ContainerInfo] = InspectCache()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        observe = self._observe
        if observe is None:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        queued = time.monotonic()

        def timed() -> T:
            began = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                observe("threadpool_wait", began - queued)  # on this thread: observe must be thread-safe
                observe(getattr(fn, "__name__", "call"), time.monotonic() - began)

        return await loop.run_in_executor(self._pool, timed)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def version(self) -> dict[str, Any]:
        return await self._call(self.client.version)

    async def image_id(self, image: str) -> str | None:
        import docker.errors

        try:
            img = await self._call(self.client.images.get, image)
        except docker.errors.ImageNotFound:
            return None
        return str(img.id)

    async def create(self, spec: ContainerSpec) -> str:  # noqa: C901 - one flat sequence of cases, read best in one place
        kwargs: dict[str, Any] = {
            "name": spec.name, "labels": spec.labels, "detach": True,
            "environment": spec.env, "working_dir": spec.working_dir, "hostname": spec.hostname,
            "mounts": [], "log_config": {"type": "json-file", "config": {"max-size": "50m", "max-file": "2"}},
        }
        from docker.types import Mount as DMount

        kwargs["mounts"] = [DMount(m.target, m.source, type="bind", read_only=m.read_only) for m in spec.mounts]
        if spec.command is not None:
            kwargs["entrypoint"] = spec.command
        if spec.args is not None:
            kwargs["command"] = spec.args
        if spec.network_mode:
            kwargs["network_mode"] = spec.network_mode
        elif spec.network:
            kwargs["network"] = spec.network
        if spec.nano_cpus:
            kwargs["nano_cpus"] = spec.nano_cpus
        if spec.mem_limit:
            kwargs["mem_limit"] = spec.mem_limit
        if spec.cpu_shares:
            kwargs["cpu_shares"] = spec.cpu_shares
        if spec.mem_reservation:
            kwargs["mem_reservation"] = spec.mem_reservation
        if spec.ports:
            kwargs["ports"] = docker_ports(spec.ports)
        if spec.dns:
            kwargs["dns"] = spec.dns
        if spec.dns_search:
            kwargs["dns_search"] = spec.dns_search
        if spec.stdin:
            kwargs["stdin_open"] = True
        if spec.tty:
            kwargs["tty"] = True
        import docker.errors

        try:
            return await self._call(self._create_container, spec.image, kwargs)
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise NameInUse(str(exc)) from exc
            raise

    def _create_container(self, image: str, kwargs: dict[str, Any]) -> str:
        """`docker create` in one round trip: docker-py's `containers.create` takes the same
        arguments but inspects the new container afterwards, which the kubelet does not need."""
        from docker.models.containers import _create_container_args

        command = kwargs.pop("command", None)
        args = _create_container_args({**kwargs, "image": image, "command": command,
                                       "version": self.client.api._version})
        return str(self.client.api.create_container(**args)["Id"])

    async def start(self, cid: str) -> None:
        try:
            await self._call(self.client.api.start, cid)
        finally:
            self.inspect_cache.changed(cid)

    async def inspect(self, cid: str) -> ContainerInfo | None:
        import docker.errors

        cached = self.inspect_cache.get(cid)
        if cached is not None:
            return cached
        token = self.inspect_cache.token()
        try:
            attrs = await self._call(self.client.api.inspect_container, cid)
        except docker.errors.NotFound:
            return None
        info = info_from_attrs(attrs)
        self.inspect_cache.put(cid, info, token)
        return info

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        summaries = await self._call(self.client.api.containers, all=True, filters=filters)
        for s in summaries:  # the listing is fresh: a cached inspection it contradicts is dropped
            self.inspect_cache.check(s["Id"], s.get("State"))
        infos = await asyncio.gather(*(self.inspect(s["Id"]) for s in summaries))
        return [i for i in infos if i is not None]

    async def stop(self, cid: str, timeout_s: float) -> None:
        import docker.errors

        try:
            with contextlib.suppress(docker.errors.NotFound):
                await self._call(self.client.api.stop, cid, timeout=max(0, int(timeout_s)))
        finally:
            self.inspect_cache.changed(cid)

    async def remove(self, cid: str) -> None:
        import docker.errors

        try:
            await self._call(self.client.api.remove_container, cid, force=True, v=True)
            self.inspect_cache.changed(cid)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise

    async def exec(self, cid: str, command: list[str], timeout_s: float) -> ExecResult:
        def run() -> ExecResult:
            api = self.client.api
            ex = api.exec_create(cid, command, stdout=True, stderr=True)
            out, err = api.exec_start(ex["Id"], demux=True)
            code = api.exec_inspect(ex["Id"]).get("ExitCode")
            return ExecResult(exit_code=-1 if code is None else int(code), stdout=out or b"", stderr=err or b"")

        return await asyncio.wait_for(self._call(run), timeout=timeout_s)

    async def stats(self, cid: str) -> dict[str, Any]:
        return await self._call(self.client.api.stats, cid, stream=False, one_shot=True)
