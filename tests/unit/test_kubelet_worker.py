"""The pod worker's reconcile against a fake runtime and a recording API (no Docker)."""

import asyncio
import base64
import itertools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubelet.api import ClientApi
from kubelet.logs import LogCopiers
from kubelet.podworker import PodWorker
from kubelet.runtime import ContainerInfo, ContainerSpec, ExecResult, NameInUse
from kubelet.workerconfig import WorkerConfig
from machinery.events import EventRecorder
from tests.unit.fake_client import FakeClient

NOW = "2026-01-01T00:00:00Z"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeRuntime:
    def __init__(self, images: set[str]) -> None:
        self.images = images
        self.containers: dict[str, ContainerInfo] = {}
        self.specs: dict[str, ContainerSpec] = {}
        self.stopped: list[tuple[str, float]] = []
        self.taken_names: set[str] = set()
        self.removed: list[str] = []
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)

    async def image_id(self, image: str) -> str | None:
        return f"sha256:{image}" if image in self.images else None

    async def create(self, spec: ContainerSpec) -> str:
        if spec.name in self.taken_names:  # a leftover of that name: Docker answers 409
            self.taken_names.discard(spec.name)
            raise NameInUse(f"Conflict. The container name \"/{spec.name}\" is already in use")
        cid = f"c{next(self._ids)}"
        self.containers[cid] = ContainerInfo(id=cid, name=spec.name, labels=dict(spec.labels), state="created",
                                             created_at=f"2026-01-01T00:00:{len(self.containers):02d}Z",
                                             image=spec.image, image_id=f"sha256:{spec.image}")
        self.specs[cid] = spec
        return cid

    async def start(self, cid: str) -> None:
        c = self.containers[cid]
        c.state, c.started_at = "running", now()
        if self.specs[cid].network:
            c.ip = f"10.244.0.{next(self._ips)}"

    def exit(self, cid: str, code: int) -> None:
        c = self.containers[cid]
        c.state, c.exit_code, c.finished_at = "exited", code, now()

    async def inspect(self, cid: str) -> ContainerInfo | None:
        return self.containers.get(cid)

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return [c for c in self.containers.values() if all(c.labels.get(k) == v for k, v in labels.items())]

    async def stop(self, cid: str, timeout_s: float) -> None:
        self.stopped.append((cid, timeout_s))
        if self.containers[cid].running:
            self.exit(cid, 137)

    async def remove(self, cid: str) -> None:
        self.removed.append(cid)
        self.containers.pop(cid, None)

    async def exec(self, cid: str, command: list[str], timeout_s: float) -> ExecResult:
        return ExecResult(0, b"", b"")

    async def stats(self, cid: str) -> dict[str, Any]:
        return {}

    def by_name(self, name: str) -> list[ContainerInfo]:
        return sorted((c for c in self.containers.values() if c.container == name), key=lambda c: c.restarts)


class Api(ClientApi):
    """The kubelet's real ClientApi over the one fake clientset; `statuses` and `deleted` read
    back what the worker sent."""

    def __init__(self) -> None:
        self.fake = FakeClient()
        super().__init__(self.fake)

    @property
    def statuses(self) -> list[dict[str, Any]]:
        return [c.body["status"] for c in self.fake.calls_of("request", "PATCH") if c.name.endswith("/status")]

    @property
    def deleted(self) -> list[tuple[str, str, str]]:
        out = []
        for c in self.fake.calls_of("request", "DELETE"):
            parts = c.name.split("/")  # /api/v1/namespaces/NS/pods/NAME
            out.append((parts[4], parts[6], c.body["preconditions"]["uid"]))
        return out

    def put(self, kind: str, name: str, **fields: Any) -> None:  # type: ignore[override]
        """Store a namespaced object of `kind` in namespace default (ConfigMap, Secret, ...)."""
        self.fake.store({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "default"},
                         **fields})


def make_pod(**spec: Any) -> dict[str, Any]:
    base = {"containers": [{"name": "app", "image": "kubelite/busybox:latest", "command": ["sleep", "1000"]}],
            "restartPolicy": "Always", "nodeName": "n1"}
    base.update(spec)
    return {"metadata": {"name": "p", "namespace": "default", "uid": "uid-1"}, "spec": base, "status": {}}


@pytest.fixture
def env(tmp_path: Path) -> tuple[FakeRuntime, Api, WorkerConfig]:
    cfg = WorkerConfig(cluster="t", node="n1", node_ip="127.0.0.1", network="net", root_dir=str(tmp_path / "root"),
                       log_dir=str(tmp_path / "logs"))
    return FakeRuntime({"kubelite/busybox:latest", "kubelite/pause:latest"}), Api(), cfg


class EventLog:
    """An EventSink keeping (reason, type, fieldPath, message) per Event created or repeated."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        self.bodies: list[dict[str, Any]] = []

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        self.bodies.append(body)
        self.events.append((body["reason"], body["type"], body["involvedObject"].get("fieldPath", ""),
                            body["message"]))

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        body = next(b for b in self.bodies if b["metadata"]["name"] == name)
        self.events.append((body["reason"], body["type"], body["involvedObject"].get("fieldPath", ""),
                            body["message"]))


def worker(pod: dict[str, Any], env: tuple[FakeRuntime, Api, WorkerConfig],
           recorder: EventRecorder | None = None) -> PodWorker:
    rt, api, cfg = env
    api.fake.store({"apiVersion": "v1", "kind": "Pod", **pod})  # the API server knows the pod
    copiers = LogCopiers(max_bytes=1000, max_files=2, socket="/nonexistent.sock")
    return PodWorker(pod, cfg=cfg, runtime=rt, api=api, copiers=copiers, recorder=recorder)


def recorder() -> tuple[EventRecorder, EventLog]:
    sink = EventLog()
    return EventRecorder(sink, component="kubelet", instance="n1", host="n1"), sink


def reasons(sink: EventLog) -> list[str]:
    return [e[0] for e in sink.events]


async def test_sandbox_then_app_joined_and_running(env: Any) -> None:
    rt, api, _ = env
    w = worker(make_pod(), env)
    assert await w.sync() is False
    sandbox, app = rt.by_name("POD")[0], rt.by_name("app")[0]
    assert rt.specs[sandbox.id].network == "net" and rt.specs[sandbox.id].image == "kubelite/pause:latest"
    assert rt.specs[app.id].network_mode == f"container:{sandbox.id}"
    labels = rt.specs[app.id].labels
    assert labels["io.kubelite.cluster"] == "t" and labels["io.kubernetes.pod.uid"] == "uid-1"
    assert labels["io.kubernetes.container.name"] == "app" and labels["io.kubelite.node"] == "n1"
    st = api.statuses[-1]
    assert st["phase"] == "Running" and st["podIP"] == sandbox.ip
    assert st["containerStatuses"][0]["ready"] is True
    # A second pass changes nothing: level-triggered and idempotent.
    n = len(rt.containers)
    await w.sync()
    assert len(rt.containers) == n and len(api.statuses) == 1


async def test_init_containers_in_order_then_apps(env: Any) -> None:
    rt, api, _ = env
    pod = make_pod(initContainers=[{"name": "i1", "image": "kubelite/busybox:latest"},
                                   {"name": "i2", "image": "kubelite/busybox:latest"}])
    w = worker(pod, env)
    await w.sync()
    assert [c.container for c in rt.containers.values()] == ["POD", "i1"]
    assert api.statuses[-1]["phase"] == "Pending"
    rt.exit(rt.by_name("i1")[0].id, 0)
    await w.sync()
    assert rt.by_name("i2") and not rt.by_name("app")
    rt.exit(rt.by_name("i2")[0].id, 0)
    await w.sync()
    assert rt.by_name("app")[0].running
    assert {c["type"]: c["status"] for c in api.statuses[-1]["conditions"]}["Initialized"] == "True"


async def test_failed_init_with_never_fails_pod(env: Any) -> None:
    rt, api, _ = env
    w = worker(make_pod(restartPolicy="Never", initContainers=[{"name": "i1", "image": "kubelite/busybox:latest"}]), env)
    await w.sync()
    rt.exit(rt.by_name("i1")[0].id, 3)
    await w.sync()
    assert api.statuses[-1]["phase"] == "Failed" and not rt.by_name("app")


async def test_crash_restarts_then_crashloop_backoff(env: Any) -> None:
    rt, api, _ = env
    w = worker(make_pod(), env)
    await w.sync()
    rt.exit(rt.by_name("app")[0].id, 1)
    await w.sync()  # first crash: immediate restart
    insts = rt.by_name("app")
    assert [c.restarts for c in insts] == [0, 1] and insts[-1].running
    assert rt.specs[insts[-1].id].labels["io.kubelite.backoffSteps"] == "1"
    rt.exit(insts[-1].id, 1)
    await w.sync()  # second crash: back-off
    cs = api.statuses[-1]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 1
    assert len(rt.by_name("app")) == 2  # nothing started during the back-off


async def test_missing_image_never_pulls(env: Any) -> None:
    rt, api, _ = env
    w = worker(make_pod(containers=[{"name": "app", "image": "nowhere/x:1", "imagePullPolicy": "Never"}]), env)
    await w.sync()
    cs = api.statuses[-1]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    assert "nowhere/x:1" in cs["state"]["waiting"]["message"]
    w2 = worker(make_pod(containers=[{"name": "app", "image": "nowhere/x:1", "imagePullPolicy": "Always"}]), env)
    w2.uid = "uid-2"
    await w2.sync()
    assert api.statuses[-1]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert not rt.by_name("app")


async def test_env_volumes_and_limits(env: Any) -> None:
    rt, api, _cfg = env
    api.put("ConfigMap", "cm", data={"k": "v", "f.txt": "file"})
    api.put("Secret", "s", data={"pw": base64.b64encode(b"hunter2").decode()})
    c = {"name": "app", "image": "kubelite/busybox:latest", "command": ["sh", "-c", "echo $(A)"],
         "env": [{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)-y"},
                 {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}],
         "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
         "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}, {"name": "scratch", "mountPath": "/s"}]}
    pod = make_pod(containers=[c], volumes=[{"name": "cfg", "configMap": {"name": "cm"}},
                                            {"name": "scratch", "emptyDir": {}}])
    w = worker(pod, env)
    await w.sync()
    spec = rt.specs[rt.by_name("app")[0].id]
    sandbox_ip = rt.by_name("POD")[0].ip
    assert spec.env == {"A": "x", "B": "x-y", "POD": "p", "IP": sandbox_ip, "CM": "v", "PW": "hunter2"}
    assert spec.command == ["sh", "-c", "echo x"]
    assert spec.nano_cpus == 500_000_000 and spec.mem_limit == 64 * 2**20
    mounts = {m.target: m for m in spec.mounts}
    assert mounts["/cfg"].read_only and not mounts["/s"].read_only
    assert (Path(mounts["/cfg"].source) / "f.txt").read_text() == "file"
    # Deletion removes the pod directory (emptyDir content dies with the pod).
    w.update(None)
    assert await w.sync() is True
    assert not await asyncio.to_thread(os.path.exists, mounts["/s"].source)


async def test_missing_secret_is_config_error(env: Any) -> None:
    _rt, api, _ = env
    c = {"name": "app", "image": "kubelite/busybox:latest",
         "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "pw"}}}]}
    await worker(make_pod(containers=[c]), env).sync()
    waiting = api.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError" and "nope" in waiting["message"]


async def test_a_container_the_model_refuses_is_a_config_error_and_is_not_created(env: Any) -> None:
    rt, api, _ = env
    c = {"name": "app", "image": "kubelite/busybox:latest", "env": [{"name": "N", "value": 5}]}
    await worker(make_pod(containers=[c]), env).sync()
    waiting = api.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError" and "env.0.value" in waiting["message"]
    assert rt.by_name("app") == []


async def test_deletion_stops_with_grace_and_deletes_pod(env: Any) -> None:
    rt, api, _ = env
    pod = make_pod(terminationGracePeriodSeconds=7)
    w = worker(pod, env)
    await w.sync()
    app = rt.by_name("app")[0]
    deleting = {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": NOW, "deletionGracePeriodSeconds": 3}}
    w.update(deleting)
    assert await w.sync() is True
    assert (app.id, 3) in rt.stopped
    assert rt.containers == {}
    assert api.deleted == [("default", "p", "uid-1")]


async def test_adoption_after_restart_does_not_duplicate(env: Any) -> None:
    rt, _api, _ = env
    pod = make_pod()
    await worker(pod, env).sync()
    before = dict(rt.containers)
    fresh = worker(pod, env)  # a restarted kubelet: new worker, same Docker state
    await fresh.sync()
    assert rt.containers.keys() == before.keys()


@pytest.mark.usefixtures("fast_probes")
async def test_liveness_failure_kills_container(env: Any) -> None:
    rt, _api, _ = env

    async def failing_exec(cid: str, command: list[str], timeout_s: float) -> ExecResult:
        return ExecResult(1, b"", b"dead")

    rt.exec = failing_exec
    c = {"name": "app", "image": "kubelite/busybox:latest",
         "livenessProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 2}}
    w = worker(make_pod(containers=[c], terminationGracePeriodSeconds=1), env)
    await w.sync()
    first = rt.by_name("app")[0]
    for _ in range(100):
        await asyncio.sleep(0.01)
        await w.sync()
        if len(rt.by_name("app")) > 1:
            break
    assert (first.id, 1) in rt.stopped
    assert rt.by_name("app")[-1].restarts == 1
    await w.close()


async def test_finished_pod_stops_sandbox_and_starts_nothing(env: Any) -> None:
    rt, api, _ = env
    w = worker(make_pod(restartPolicy="Never"), env)
    await w.sync()
    rt.exit(rt.by_name("app")[0].id, 0)
    await w.sync()
    assert api.statuses[-1]["phase"] == "Succeeded"
    assert not rt.by_name("POD")[0].running  # the sandbox was stopped
    n = len(rt.containers)
    await w.sync()
    assert len(rt.containers) == n and api.statuses[-1]["phase"] == "Succeeded"


async def test_host_network_pod_uses_node_ip(env: Any) -> None:
    rt, api, _ = env
    await worker(make_pod(hostNetwork=True), env).sync()
    sandbox = rt.specs[rt.by_name("POD")[0].id]
    assert sandbox.network_mode == "host" and sandbox.network is None and sandbox.hostname is None
    assert api.statuses[-1]["podIP"] == "127.0.0.1"


async def test_cluster_dns_resolv_conf_mounted(env: Any) -> None:
    rt, _api, cfg = env
    cfg.cluster_dns = ["10.96.0.10"]
    await worker(make_pod(), env).sync()
    mounts = {m.target: m for m in rt.specs[rt.by_name("app")[0].id].mounts}
    resolv = mounts["/etc/resolv.conf"]
    assert resolv.read_only
    text = await asyncio.to_thread(Path(resolv.source).read_text)
    assert text == ("nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\n"
                    "options ndots:5\n")


async def test_a_leftover_of_the_same_name_is_removed_and_the_create_retried(env: Any) -> None:
    rt, _api, _ = env
    original_create = rt.create
    names: list[str] = []

    async def create(spec: ContainerSpec) -> str:
        if "POD" not in spec.name and spec.name not in names:
            rt.taken_names.add(spec.name)  # the app container's name is taken, once
        names.append(spec.name)
        result: str = await original_create(spec)
        return result

    rt.create = create
    await worker(make_pod(), env).sync()
    app_name = next(n for n in names if "POD" not in n)
    assert names.count(app_name) == 2 and app_name in rt.removed and rt.by_name("app")[0].state == "running"


# ------------------------------------------------------------------ Events, as the kubelet words them


async def test_events_of_a_start_and_a_crash_loop(env: Any) -> None:
    rt, _api, _ = env
    rec, sink = recorder()
    pod = make_pod()
    w = worker(pod, env, rec)
    await w.sync()
    await rec.flush()
    app = "spec.containers{app}"
    assert sink.events == [
        ("Pulled", "Normal", app, 'Container image "kubelite/busybox:latest" already present on machine'),
        ("Created", "Normal", app, "Created container: app"),
        ("Started", "Normal", app, "Started container app"),
    ]
    body = sink.bodies[0]
    assert body["involvedObject"] == {"kind": "Pod", "apiVersion": "v1", "namespace": "default", "name": "p",
                                      "uid": "uid-1", "fieldPath": app}
    assert body["source"] == {"component": "kubelet", "host": "n1"} and body["reportingInstance"] == "n1"
    rt.exit(rt.by_name("app")[0].id, 1)
    await w.sync()  # first crash: restarted at once
    rt.exit(rt.by_name("app")[-1].id, 1)
    await w.sync()  # second crash: back-off
    await w.sync()  # still backing off: the same Event, counted
    await rec.flush()
    assert reasons(sink)[3:] == ["Pulled", "Created", "Started", "BackOff", "BackOff"]
    assert sink.events[-1][3] == "Back-off restarting failed container app in pod p_default(uid-1)"
    # Repeats are counted on the first Event of their kind, not written again.
    assert sink.bodies[-1]["type"] == "Warning" and len(sink.bodies) == 4
    await rec.close()


async def test_killing_event_when_a_running_pod_is_deleted(env: Any) -> None:
    _rt, _api, _ = env
    rec, sink = recorder()
    pod = make_pod()
    w = worker(pod, env, rec)
    await w.sync()
    w.update({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": NOW, "deletionGracePeriodSeconds": 3}})
    assert await w.sync() is True
    await rec.flush()
    await rec.close()
    assert sink.events[-1] == ("Killing", "Normal", "spec.containers{app}", "Stopping container app")


async def test_image_and_config_failures_are_warning_events(env: Any) -> None:
    _rt, _api, _ = env
    rec, sink = recorder()
    never = make_pod(containers=[{"name": "app", "image": "nowhere/x:1", "imagePullPolicy": "Never"}])
    await worker(never, env, rec).sync()
    always = make_pod(containers=[{"name": "app", "image": "nowhere/x:1", "imagePullPolicy": "Always"}])
    w = worker(always, env, rec)
    w.uid = "uid-2"
    await w.sync()
    c = {"name": "app", "image": "kubelite/busybox:latest",
         "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}}]}
    w3 = worker(make_pod(containers=[c]), env, rec)
    w3.uid = "uid-3"
    await w3.sync()
    await rec.flush()
    await rec.close()
    warnings = [(r, m) for r, t, _f, m in sink.events if t == "Warning"]
    assert warnings[0][0] == "ErrImageNeverPull"
    assert warnings[0][1].startswith('Container image "nowhere/x:1" is not present with pull policy of Never')
    assert "kubelite image load nowhere/x:1" in warnings[0][1]  # the hint for lab nodes
    assert warnings[1][0] == "Failed" and warnings[1][1].startswith('Failed to pull image "nowhere/x:1"')
    assert ("BackOff", 'Back-off pulling image "nowhere/x:1"') in [(r, m) for r, _t, _f, m in sink.events]
    assert warnings[-1][0] == "Failed" and warnings[-1][1].startswith("Error: ") and "missing" in warnings[-1][1]


@pytest.mark.usefixtures("fast_probes")
async def test_failed_probes_are_unhealthy_events_and_a_liveness_kill_says_so(env: Any) -> None:
    rt, _api, _ = env
    rec, sink = recorder()

    async def failing_exec(cid: str, command: list[str], timeout_s: float) -> ExecResult:
        return ExecResult(1, b"", b"dead")

    rt.exec = failing_exec
    c = {"name": "app", "image": "kubelite/busybox:latest",
         "livenessProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 2}}
    w = worker(make_pod(containers=[c], terminationGracePeriodSeconds=1), env, rec)
    await w.sync()
    for _ in range(200):
        await asyncio.sleep(0.01)
        await w.sync()
        if len(rt.by_name("app")) > 1:
            break
    await w.close()
    await rec.flush()
    await rec.close()
    unhealthy = [e for e in sink.events if e[0] == "Unhealthy"]
    assert unhealthy and unhealthy[0][1:] == ("Warning", "spec.containers{app}", "Liveness probe failed: dead")
    assert ("Killing", "Normal", "spec.containers{app}", "Container app failed liveness probe, will be restarted") \
        in sink.events
