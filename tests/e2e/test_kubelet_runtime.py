"""DockerRuntime + log copier on the real Docker engine (no API server needed).

A pause sandbox on a test pod network, a busybox httpd joined to its network namespace,
reached from the host at the pod IP; exec; CRI log files; labels; clean removal.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from kubelet import network
from kubelet.logs import RotatingWriter, copy_container_logs, read_log
from kubelet.runtime import LABEL_CLUSTER, ContainerSpec, DockerRuntime, labels_for

pytestmark = pytest.mark.e2e


@dataclass
class Env:
    runtime: DockerRuntime
    cluster: str
    network: str


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    client = docker.from_env()
    cluster = f"rt{random.randrange(10**6):06d}"
    used = {c.get("Subnet") for n in client.networks.list() for c in ((n.attrs.get("IPAM") or {}).get("Config") or [])}
    subnet = next(s for s in (f"10.244.{random.randrange(150, 200)}.0/24" for _ in range(50)) if s not in used)
    name = network.network_name_for(cluster)
    network.ensure_pod_network(client, name=name, subnet=subnet, bridge=network.bridge_name_for(cluster),
                               cluster=cluster)
    network.ensure_guard()
    rt = DockerRuntime(client)
    try:
        yield Env(rt, cluster, name)
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{LABEL_CLUSTER}={cluster}"}):
            c.remove(force=True)
        for net in client.networks.list(names=[name]):
            net.remove()
        rt.close()
        client.close()


def labels(env: Env, container: str, kind: str) -> dict[str, str]:
    return labels_for(cluster=env.cluster, node="n1", namespace="default", pod="web", uid="uid-rt",
                      container=container, kind=kind)


async def test_sandbox_app_http_exec_logs(env: Env, tmp_path: Path) -> None:
    rt = env.runtime
    assert await rt.image_id("kubelite/busybox:latest")
    assert await rt.image_id("nowhere/never:1") is None  # absent: reported, never pulled
    sb = await rt.create(ContainerSpec(name=f"{env.cluster}-sb", image="kubelite/pause:latest",
                                       labels=labels(env, "POD", "sandbox"), network=env.network, hostname="web"))
    await rt.start(sb)
    sandbox = await rt.inspect(sb)
    assert sandbox is not None and sandbox.running and sandbox.ip
    app = await rt.create(ContainerSpec(
        name=f"{env.cluster}-app", image="kubelite/busybox:latest", labels=labels(env, "app", "app"),
        command=["sh", "-c"], args=["echo hello-out; echo hello-err >&2; mkdir -p /www; echo pong > /www/ping; "
                                    "exec httpd -f -p 8080 -h /www"],
        env={"GREETING": "hi"}, network_mode=f"container:{sb}", mem_limit=64 * 2**20, nano_cpus=500_000_000))
    await rt.start(app)
    info = await rt.inspect(app)
    assert info is not None and info.running and info.labels["io.kubernetes.container.name"] == "app"
    async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
        for _ in range(50):
            try:
                r = await http.get(f"http://{sandbox.ip}:8080/ping")
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        assert r.status_code == 200 and r.text == "pong\n"
    res = await rt.exec(app, ["sh", "-c", "echo $GREETING; hostname; exit 3"], 10)
    assert (res.exit_code, res.stdout) == (3, b"hi\nweb\n")
    listed = await rt.list_containers({LABEL_CLUSTER: env.cluster})
    assert {c.id for c in listed} == {sb, app}
    # Logs: copy while it runs, stop it, the copier ends with the stream.
    writer = RotatingWriter(tmp_path / "app" / "0.log")
    copier = asyncio.create_task(copy_container_logs(app, writer))
    await rt.stop(app, 1)
    await asyncio.wait_for(copier, 10)
    writer.close()
    raw = (tmp_path / "app" / "0.log").read_text().splitlines()
    assert any(line.endswith(" stdout F hello-out") for line in raw)
    assert any(line.endswith(" stderr F hello-err") for line in raw)
    assert read_log(tmp_path / "app" / "0.log") == b"hello-out\nhello-err\n" or \
        read_log(tmp_path / "app" / "0.log") == b"hello-err\nhello-out\n"
    stopped = await rt.inspect(app)
    assert stopped is not None and not stopped.running and stopped.exit_code is not None
    # Resume after a "kubelet restart": nothing is written twice.
    writer2 = RotatingWriter(tmp_path / "app" / "0.log")
    await asyncio.wait_for(copy_container_logs(app, writer2), 10)
    writer2.close()
    assert (tmp_path / "app" / "0.log").read_text().splitlines() == raw
    await rt.remove(app)
    await rt.remove(sb)
    assert await rt.list_containers({LABEL_CLUSTER: env.cluster}) == []


async def test_failed_start_reports_exit_code(env: Env) -> None:
    rt = env.runtime
    cid = await rt.create(ContainerSpec(name=f"{env.cluster}-bad", image="kubelite/busybox:latest",
                                        labels=labels(env, "bad", "app"), command=["/no/such/binary"],
                                        network=env.network))
    with pytest.raises(docker.errors.APIError):
        await rt.start(cid)
    info = await rt.inspect(cid)
    assert info is not None and not info.running and info.exit_code not in (None, 0)
