"""Issue 3 follow-ups on real Docker: hostPort, resource requests, readiness across a kubelet
restart, and a pod surviving the loss of its sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import docker
import httpx
import pytest

from machinery.client import ApiClient
from machinery.podlogs import exec_in_pod
from tests.e2e.conftest import Cluster
from tests.e2e.test_kubelet_pods import create, delete_and_wait_gone, get_pod, wait_phase
from tests.support import free_port, wait_until

pytestmark = pytest.mark.e2e
BUSYBOX = "kubelite/busybox:latest"


def cond(pod: dict[str, Any], kind: str) -> str | None:
    return {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}.get(kind)


def inspect(cluster: Cluster, container: str, pod: str) -> dict[str, Any]:
    """`docker inspect` of the running instance of one container of a pod."""
    ctrs = cluster.docker_containers(**{"io.kubernetes.pod.name": pod, "io.kubernetes.container.name": container})
    running = [c for c in ctrs if c.status == "running"]
    assert len(running) == 1, [(c.name, c.status) for c in ctrs]
    return dict(running[0].attrs)


async def wait_ready(api: ApiClient, name: str, timeout_s: float = 90) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def ready() -> bool:
        seen.update(await get_pod(api, name))
        return cond(seen, "Ready") == "True"

    await wait_until(ready, timeout_s, 0.2, message=f"pod {name} never Ready: {seen.get('status')}")
    return seen


async def test_host_port_and_resource_requests(cluster: Cluster, api: ApiClient) -> None:
    port = free_port()
    await create(api, cluster.pod("hp", [{
        "name": "web", "image": BUSYBOX, "command": ["sh", "-c"],
        "args": ["mkdir -p /www && echo hostport-ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
        "ports": [{"containerPort": 8080, "hostPort": port, "hostIP": "127.0.0.1", "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }]))
    await wait_ready(api, "hp")
    async with httpx.AsyncClient(trust_env=False, timeout=3) as http:
        resp = await http.get(f"http://127.0.0.1:{port}/index.html")
    assert resp.text.strip() == "hostport-ok"
    sandbox = inspect(cluster, "POD", "hp")["HostConfig"]
    assert sandbox["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    app = inspect(cluster, "web", "hp")["HostConfig"]
    assert (app["CpuShares"], app["MemoryReservation"], app["Memory"]) == (256, 32 * 2**20, 64 * 2**20)
    assert not app.get("PortBindings")  # joined the sandbox's network namespace
    await delete_and_wait_gone(api, "hp")
    with pytest.raises(httpx.HTTPError):  # the binding went away with the sandbox
        async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
            await http.get(f"http://127.0.0.1:{port}/index.html")


async def _record_ready(api: ApiClient, name: str, rv: str, out: list[tuple[str, str | None]]) -> None:
    params = {"watch": "1", "resourceVersion": rv, "fieldSelector": f"metadata.name={name}", "timeoutSeconds": "120"}
    async for line in api.stream_lines("/api/v1/namespaces/default/pods", params=params, timeout_s=120):
        if line.strip():
            ev = json.loads(line)
            if ev["type"] in ("ADDED", "MODIFIED"):
                out.append((ev["object"]["metadata"]["resourceVersion"], cond(ev["object"], "Ready")))


async def test_kubelet_restart_keeps_readiness(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("rdy", [{
        "name": "c", "image": BUSYBOX, "command": ["sh", "-c", "touch /tmp/ready; exec sleep 3600"],
        "readinessProbe": {"exec": {"command": ["test", "-e", "/tmp/ready"]}, "periodSeconds": 1},
    }]))
    pod = await wait_ready(api, "rdy")
    cid = pod["status"]["containerStatuses"][0]["containerID"]
    seen: list[tuple[str, str | None]] = []
    watch = asyncio.create_task(_record_ready(api, "rdy", pod["metadata"]["resourceVersion"], seen))
    try:
        await asyncio.to_thread(cluster.restart_kubelet)
        await asyncio.sleep(4)  # several probe periods and resyncs of the new kubelet
        assert all(ready == "True" for _, ready in seen), f"Ready flipped during adoption: {seen}"
        pod = await get_pod(api, "rdy")
        assert pod["status"]["containerStatuses"][0]["containerID"] == cid  # adopted, not recreated
        # The new kubelet really probes: a failing probe is reported.
        await exec_in_pod(api, "default", "rdy", ["rm", "/tmp/ready"])
        await wait_until(lambda: any(r == "False" for _, r in seen), 15, 0.2,
                         message=f"the adopting kubelet never reported unready: {seen}\n{cluster.logs()}")
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watch
    await delete_and_wait_gone(api, "rdy")


async def test_removed_sandbox_is_recreated(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("sbx", [{
        "name": "app", "image": BUSYBOX, "command": ["sleep", "3600"],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        initContainers=[{"name": "init", "image": BUSYBOX, "command": ["sh", "-c", "echo ran >> /work/runs"],
                         "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        volumes=[{"name": "work", "emptyDir": {}}]))
    pod = await wait_phase(api, "sbx", "Running")
    old_ip = pod["status"]["podIP"]
    old_sandbox = inspect(cluster, "POD", "sbx")["Id"]
    client = docker.from_env()
    try:
        client.api.remove_container(old_sandbox, force=True)
    finally:
        client.close()

    async def recovered() -> bool:
        pod.update(await get_pod(api, "sbx"))
        st = pod.get("status") or {}
        apps = st.get("containerStatuses") or [{}]
        return st.get("phase") == "Running" and apps[0].get("restartCount", 0) >= 1 and "running" in apps[0]["state"]

    await wait_until(recovered, 30, 0.3, message=f"pod never recovered: {pod.get('status')}\n{cluster.logs()}")
    st = pod["status"]
    assert st["initContainerStatuses"][0]["restartCount"] == 1
    new_sandbox = inspect(cluster, "POD", "sbx")
    assert new_sandbox["Id"] != old_sandbox
    app = inspect(cluster, "app", "sbx")
    assert app["HostConfig"]["NetworkMode"] == f"container:{new_sandbox['Id']}"
    assert st["podIP"] and st["podIP"].startswith(old_ip.rsplit(".", 1)[0])
    res = await exec_in_pod(api, "default", "sbx", ["cat", "/work/runs"])
    assert res.stdout.splitlines() == ["ran", "ran"]  # the init container ran again
    await delete_and_wait_gone(api, "sbx")


async def test_host_port_in_use_is_reported_then_recovers(cluster: Cluster, api: ApiClient) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        await create(api, cluster.pod("busy", [{
            "name": "web", "image": BUSYBOX, "command": ["sh", "-c"],
            "args": ["mkdir -p /www && echo second-ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
            "ports": [{"containerPort": 8080, "hostPort": port, "hostIP": "127.0.0.1"}]}]))
        seen: dict[str, Any] = {}

        async def reported() -> bool:
            seen.update(await get_pod(api, "busy"))
            return "Failed to create pod sandbox" in str((seen.get("status") or {}).get("message"))

        await wait_until(reported, 30, 0.3, message=f"conflict not reported: {seen.get('status')}\n{cluster.logs()}")
        assert seen["status"]["phase"] == "Pending"
    finally:
        holder.close()
    await wait_phase(api, "busy", "Running", timeout_s=30)  # retried once the port came free

    async def answers() -> bool:
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
                return (await http.get(f"http://127.0.0.1:{port}/index.html")).text.strip() == "second-ok"
        except httpx.HTTPError:
            return False

    await wait_until(answers, 15, 0.3, message="hostPort never answered")
    await delete_and_wait_gone(api, "busy")
