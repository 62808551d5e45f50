"""Issue 3 follow-ups on the fake runtime: hostPort on the sandbox, readiness seeded on
adoption, sandbox loss, resource requests -> cpu shares / memory reservation."""

from typing import Any

import pytest

from kubelet.containers import ConfigError, build_spec, container_of, cpu_shares, port_bindings
from kubelet.probes import ContainerProber
from kubelet.runtime import LABEL_SANDBOX, PortBinding, docker_ports
from kubelet.typedpod import pod_of
from machinery.models import Container, ResourceRequirements
from tests.unit.test_kubelet_probes import ExecRuntime
from tests.unit.test_kubelet_worker import env, make_pod, worker  # noqa: F401  (env is a fixture)

BUSYBOX = "kubelite/busybox:latest"


def conds(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


# --- 1. hostPort ---------------------------------------------------------------------------
def test_port_bindings_from_all_containers() -> None:
    pod = make_pod(containers=[
        {"name": "a", "image": BUSYBOX, "ports": [{"containerPort": 80, "hostPort": 8080},
                                                 {"containerPort": 81}]},  # no hostPort: not published
        {"name": "b", "image": BUSYBOX, "ports": [{"containerPort": 53, "hostPort": 5353, "protocol": "UDP",
                                                  "hostIP": "127.0.0.1"}]}])
    assert port_bindings(pod_of(pod)) == [PortBinding(80, 8080, "tcp", ""), PortBinding(53, 5353, "udp", "127.0.0.1")]
    assert docker_ports(port_bindings(pod_of(pod))) == {"80/tcp": [("", 8080)], "53/udp": [("127.0.0.1", 5353)]}
    # Host network: the container port already is on the host; Docker would refuse bindings.
    assert port_bindings(pod_of(make_pod(hostNetwork=True, containers=pod["spec"]["containers"]))) == []


def test_docker_ports_groups_bindings_of_one_port() -> None:
    both = [PortBinding(80, 8080, "tcp", "127.0.0.1"), PortBinding(80, 8081, "tcp", "127.0.0.2")]
    assert docker_ports(both) == {"80/tcp": [("127.0.0.1", 8080), ("127.0.0.2", 8081)]}


async def test_host_ports_go_on_the_sandbox_only(env: Any) -> None:  # noqa: F811
    rt, _api, _ = env
    c = {"name": "app", "image": BUSYBOX, "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]}
    await worker(make_pod(containers=[c]), env).sync()
    assert rt.specs[rt.by_name("POD")[0].id].ports == [PortBinding(80, 8080, "tcp", "")]
    assert rt.specs[rt.by_name("app")[0].id].ports == []  # joined the sandbox's netns: cannot publish


async def test_sandbox_that_cannot_start_is_reported_not_raised(env: Any) -> None:  # noqa: F811
    rt, api, _ = env
    real_start = rt.start

    async def start(cid: str) -> None:
        if rt.containers[cid].container == "POD":
            raise RuntimeError("Bind for 0.0.0.0:8080 failed: port is already allocated")
        await real_start(cid)

    rt.start = start
    c = {"name": "app", "image": BUSYBOX, "ports": [{"containerPort": 80, "hostPort": 8080}]}
    w = worker(make_pod(containers=[c]), env)
    assert await w.sync() is False
    assert "port is already allocated" in api.statuses[-1]["message"]
    assert rt.containers == {} and api.statuses[-1]["phase"] == "Pending"  # the failed sandbox is gone
    rt.start = real_start  # the port came free: the next sync creates the pod
    await w.sync()
    assert rt.by_name("POD")[0].running and rt.by_name("app")[0].running


# --- 2. readiness across a kubelet restart --------------------------------------------------
@pytest.mark.usefixtures("fast_probes")
async def test_prober_seeded_ready_holds_until_a_real_probe_fails() -> None:
    rt: Any = ExecRuntime([1])
    probe = {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 2}
    changes: list[bool] = []
    p = ContainerProber(Container.model_validate({"name": "app", "readinessProbe": probe}), runtime=rt, cid="c", pod_ip=None,
                        on_change=lambda: changes.append(p.ready), seed_ready=True, seed_started=True)
    assert p.ready is True and p.started is True
    p.start()
    for _ in range(200):
        if not p.ready:
            break
        await _tick()
    await p.stop()
    assert changes == [False] and rt.calls >= 2  # False only after failureThreshold real failures


@pytest.mark.usefixtures("fast_probes")
async def test_prober_seeded_started_skips_startup_probe() -> None:
    rt: Any = ExecRuntime([1])  # a startup probe run now would fail
    c = Container.model_validate({"name": "app", "startupProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1,
                                                                  "failureThreshold": 1}})
    p = ContainerProber(c, runtime=rt, cid="c", pod_ip=None, on_change=lambda: None, seed_started=True)
    p.start()
    await _tick()
    await p.stop()
    assert p.started and p.ready and not p.liveness_failed and rt.calls == 0


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.01)


async def test_adopting_kubelet_keeps_published_readiness(env: Any) -> None:  # noqa: F811
    rt, api, _ = env
    c = {"name": "app", "image": BUSYBOX, "readinessProbe": {"exec": {"command": ["x"]}, "periodSeconds": 60}}
    pod = make_pod(containers=[c])
    first = worker(pod, env)
    await first.sync()
    await first.close()
    app = rt.by_name("app")[0]
    # What the old kubelet had published: this very instance was ready.
    pod["status"] = {"phase": "Running", "containerStatuses": [
        {"name": "app", "containerID": f"docker://{app.id}", "ready": True, "started": True}]}
    api.statuses.clear()
    adopter = worker(pod, env)
    await adopter.sync()
    await adopter.close()
    assert conds(api.statuses[-1])["Ready"] == "True"
    assert api.statuses[-1]["containerStatuses"][0]["ready"] is True


async def test_readiness_of_another_instance_is_not_inherited(env: Any) -> None:  # noqa: F811
    _rt, api, _ = env
    c = {"name": "app", "image": BUSYBOX, "readinessProbe": {"exec": {"command": ["x"]}, "periodSeconds": 60}}
    pod = make_pod(containers=[c])
    pod["status"] = {"containerStatuses": [{"name": "app", "containerID": "docker://gone", "ready": True}]}
    w = worker(pod, env)
    await w.sync()
    await w.close()
    assert conds(api.statuses[-1])["Ready"] == "False"


# --- 3. sandbox loss ------------------------------------------------------------------------
async def test_removed_sandbox_is_recreated_and_init_and_apps_rerun(env: Any) -> None:  # noqa: F811
    rt, api, _ = env
    pod = make_pod(initContainers=[{"name": "init", "image": BUSYBOX, "command": ["true"]}])
    w = worker(pod, env)
    await w.sync()
    rt.exit(rt.by_name("init")[0].id, 0)
    await w.sync()
    old_sandbox, old_app = rt.by_name("POD")[0], rt.by_name("app")[0]
    assert old_app.running
    rt.containers.pop(old_sandbox.id)  # docker rm -f of the sandbox

    await w.sync()
    new_sandbox = rt.by_name("POD")[-1]
    assert new_sandbox.id != old_sandbox.id and new_sandbox.running
    assert (old_app.id, 0) in rt.stopped  # its network namespace is gone with the old sandbox
    init = rt.by_name("init")[-1]
    assert init.restarts == 1 and init.labels[LABEL_SANDBOX] == new_sandbox.id and init.running
    assert rt.by_name("app")[-1].id == old_app.id  # apps wait for the init containers again
    assert conds(api.statuses[-1])["Initialized"] == "False"

    rt.exit(init.id, 0)
    await w.sync()
    app = rt.by_name("app")[-1]
    assert app.restarts == 1 and app.running and app.labels[LABEL_SANDBOX] == new_sandbox.id
    st = api.statuses[-1]
    assert st["podIP"] == new_sandbox.ip and st["containerStatuses"][0]["restartCount"] == 1
    assert "CrashLoopBackOff" not in str(st)  # the sandbox changed; the container did not crash
    await w.close()


async def test_killed_sandbox_with_restart_never_gets_no_new_sandbox(env: Any) -> None:  # noqa: F811
    rt, api, _ = env
    w = worker(make_pod(restartPolicy="Never"), env)
    await w.sync()
    sandbox = rt.by_name("POD")[0]
    rt.exit(sandbox.id, 137)
    await w.sync()
    assert [s.id for s in rt.by_name("POD") if s.running] == []
    app = rt.by_name("app")
    assert len(app) == 1 and not app[0].running  # killed (no network left), not restarted
    await w.sync()
    assert api.statuses[-1]["phase"] == "Failed" and len(rt.by_name("app")) == 1


# --- 5. requests -> cpu shares and memory reservation ---------------------------------------
@pytest.mark.parametrize(("resources", "shares"), [
    ({"requests": {"cpu": "250m"}}, 256),
    ({"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}, 1024),
    ({"requests": {"cpu": "1m"}}, 2),  # 1*1024/1000 rounds to 1: below the kernel minimum
    ({"requests": {"cpu": "0.0015"}}, 2),  # 1.5m rounds up to 2m, like Kubernetes' MilliValue
    ({"limits": {"cpu": "500m"}}, 512),  # no request: the limit is the request
    ({}, 2),  # BestEffort
])
def test_cpu_shares(resources: dict[str, Any], shares: int) -> None:
    assert cpu_shares(ResourceRequirements.model_validate(resources)) == shares
    assert cpu_shares(container_of({"name": "c", "resources": resources}).resources) == shares


def test_build_spec_requests() -> None:
    def spec(resources: dict[str, Any]) -> Any:
        c = container_of({"name": "c", "image": BUSYBOX, "resources": resources})
        return build_spec(pod_of(make_pod()), c, cluster="t", node="n", kind="app", sandbox_id="s", restarts=0,
                          backoff_steps=0, env={}, mounts=[])

    s = spec({"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}})
    assert (s.cpu_shares, s.mem_reservation, s.mem_limit) == (256, 32 * 2**20, 64 * 2**20)
    assert spec({"requests": {"memory": "128Mi"}, "limits": {"memory": "64Mi"}}).mem_reservation == 64 * 2**20
    assert spec({}).mem_reservation is None
    with pytest.raises(ConfigError):
        spec({"requests": {"cpu": "lots"}})


async def test_bad_request_quantity_is_config_error(env: Any) -> None:  # noqa: F811
    _rt, api, _ = env
    c = {"name": "app", "image": BUSYBOX, "resources": {"requests": {"memory": "much"}}}
    w = worker(make_pod(containers=[c]), env)
    await w.sync()
    waiting = api.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError" and "much" in waiting["message"]


