"""The kubelet on real Docker behind a real API server: node, pods, status, logs, exec,
deletion, missing images."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.podlogs import exec_in_pod, stream_logs
from tests.e2e.conftest import Cluster, _wait_http
from tests.support import wait_until

pytestmark = pytest.mark.e2e
BUSYBOX = "kubelite/busybox:latest"


async def get_pod(api: ApiClient, name: str) -> dict[str, Any]:
    return dict(await api.request("GET", f"/api/v1/namespaces/default/pods/{name}"))


async def create(api: ApiClient, manifest: dict[str, Any]) -> dict[str, Any]:
    return dict(await api.request("POST", "/api/v1/namespaces/default/pods", json=manifest))


async def wait_phase(api: ApiClient, name: str, phase: str, timeout_s: float = 30) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update(await get_pod(api, name))
        return (seen.get("status") or {}).get("phase") == phase

    await wait_until(check, timeout_s, 0.2, message=f"pod {name} not {phase}: {seen.get('status')}")
    return seen


async def delete_and_wait_gone(api: ApiClient, name: str, timeout_s: float = 30) -> None:
    await api.request("DELETE", f"/api/v1/namespaces/default/pods/{name}")

    async def gone() -> bool:
        try:
            await get_pod(api, name)
        except errors.NotFound:
            return True
        return False

    await wait_until(gone, timeout_s, 0.2, message=f"pod {name} not deleted")


async def test_node_registered_with_status_and_lease(cluster: Cluster, api: ApiClient) -> None:
    node = await api.request("GET", f"/api/v1/nodes/{cluster.node}")
    st = node["status"]
    assert st["capacity"]["pods"] == "110" and int(st["capacity"]["cpu"]) >= 1
    assert st["allocatable"]["memory"].endswith("Ki")
    assert {a["type"] for a in st["addresses"]} == {"InternalIP", "Hostname"}
    assert st["daemonEndpoints"]["kubeletEndpoint"]["Port"] == cluster.kubelet_port
    assert st["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds["Ready"] == "True" and conds["PIDPressure"] == "False"
    assert node["spec"]["podCIDR"] == cluster.pod_cidr
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{cluster.node}"

    async def lease_renewed() -> bool:
        try:
            lease = await api.request("GET", lease_path)
        except errors.NotFound:
            return False
        cluster.extra.setdefault("renew", set()).add(lease["spec"]["renewTime"])
        return len(cluster.extra["renew"]) >= 2

    await wait_until(lease_renewed, 15, 0.5, message="lease not renewed")


async def test_pod_runs_with_init_env_volume_and_serves_http(cluster: Cluster, api: ApiClient) -> None:
    await api.request("POST", "/api/v1/namespaces/default/configmaps", json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-cfg"}, "data": {"index.html": "hello-cm"}})
    manifest = cluster.pod("web", [{
        "name": "web", "image": BUSYBOX, "command": ["sh", "-c"],
        "args": ["echo started $POD_NAME on $(NODE); cat /shared/init.txt; exec httpd -f -p 8080 -h /www"],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/index.html", "port": "http"}, "periodSeconds": 1},
        "volumeMounts": [{"name": "cfg", "mountPath": "/www"}, {"name": "shared", "mountPath": "/shared"}],
    }], initContainers=[{"name": "prep", "image": BUSYBOX, "command": ["sh", "-c", "echo from-init > /shared/init.txt"],
                         "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}],
        volumes=[{"name": "cfg", "configMap": {"name": "web-cfg"}}, {"name": "shared", "emptyDir": {}}])
    await create(api, manifest)
    pod = await wait_phase(api, "web", "Running")

    async def ready() -> bool:
        pod.update(await get_pod(api, "web"))
        return {c["type"]: c["status"] for c in pod["status"]["conditions"]}.get("Ready") == "True"

    await wait_until(ready, 20, 0.2, message="web never Ready")
    st = pod["status"]
    ip = st["podIP"]
    assert ip.startswith(cluster.pod_cidr.rsplit(".", 2)[0])
    assert st["hostIP"] == "127.0.0.1" and st["startTime"]
    assert st["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    cs = st["containerStatuses"][0]
    assert cs["ready"] and cs["restartCount"] == 0 and cs["containerID"].startswith("docker://")
    async with httpx.AsyncClient(trust_env=False, timeout=3) as http:
        assert (await http.get(f"http://{ip}:8080/index.html")).text == "hello-cm"
    # Every container of the pod carries the labels, sandbox included.
    ctrs = cluster.docker_containers(**{"io.kubernetes.pod.name": "web"})
    assert {c.labels["io.kubernetes.container.name"] for c in ctrs} == {"POD", "prep", "web"}
    assert all(c.labels["io.kubelite.node"] == cluster.node for c in ctrs)
    # Logs through the API server proxy, and exec.
    lines = [ln async for ln in stream_logs(api, "default", "web")]
    assert f"started web on {cluster.node}" in lines and "from-init" in lines
    res = await exec_in_pod(api, "default", "web", ["sh", "-c", "cat /www/index.html; echo err >&2; exit 4"])
    assert (res.stdout, res.stderr, res.exit_code) == ("hello-cm", "err\n", 4)
    init_lines = [ln async for ln in stream_logs(api, "default", "web", container="prep", timestamps=True)]
    assert init_lines == [] or all(" " in ln for ln in init_lines)
    with pytest.raises(errors.BadRequest):
        await exec_in_pod(api, "default", "web", ["true"], container="nope")
    # Deletion: SIGTERM, grace, containers gone, object gone.
    await delete_and_wait_gone(api, "web")
    await wait_until(lambda: not cluster.docker_containers(**{"io.kubernetes.pod.name": "web"}), 10, 0.2)
    assert not list((cluster.tmp / "root" / "pods").glob(f"{pod['metadata']['uid']}*"))


async def test_missing_image_is_reported_never_pulled(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("noimg", [{"name": "c", "image": "example.invalid/none:1",
                                             "imagePullPolicy": "IfNotPresent"}]))
    seen: dict[str, Any] = {}

    async def waiting() -> bool:
        seen.update(await get_pod(api, "noimg"))
        states = [c.get("state", {}) for c in (seen.get("status") or {}).get("containerStatuses") or []]
        return bool(states) and states[0].get("waiting", {}).get("reason") == "ImagePullBackOff"

    await wait_until(waiting, 20, 0.2, message=f"no ImagePullBackOff: {seen.get('status')}")
    msg = seen["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    assert "example.invalid/none:1" in msg and "never pulls" in msg
    assert seen["status"]["phase"] == "Pending"
    await delete_and_wait_gone(api, "noimg")


async def test_crashloop_and_previous_logs(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("crash", [{"name": "c", "image": BUSYBOX,
                                             "command": ["sh", "-c", "echo run-$(cat /proc/sys/kernel/random/uuid); exit 3"]}]))
    seen: dict[str, Any] = {}

    async def backoff() -> bool:
        seen.update(await get_pod(api, "crash"))
        cs = ((seen.get("status") or {}).get("containerStatuses") or [{}])[0]
        return bool(cs.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff" and cs["restartCount"] >= 1)

    await wait_until(backoff, 30, 0.2, message=f"no CrashLoopBackOff: {seen.get('status')}")
    cs = seen["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    current = [ln async for ln in stream_logs(api, "default", "crash")]
    previous = [ln async for ln in stream_logs(api, "default", "crash", previous=True)]
    assert len(current) == 1 and len(previous) == 1 and current != previous
    assert current[0].startswith("run-") and previous[0].startswith("run-")
    await delete_and_wait_gone(api, "crash")


async def test_restart_policy_never_succeeds_and_follow_ends(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("job", [{"name": "c", "image": BUSYBOX,
                                           "command": ["sh", "-c", "for i in 1 2 3; do echo line-$i; sleep 0.3; done"]}],
                                  restartPolicy="Never"))
    await wait_phase(api, "job", "Running", 20)
    followed = [ln async for ln in stream_logs(api, "default", "job", follow=True)]
    assert followed[-1] == "line-3"
    pod = await wait_phase(api, "job", "Succeeded", 20)
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    await delete_and_wait_gone(api, "job")


async def test_kubelet_restart_adopts_and_removes_orphans(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("keep", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]))
    await wait_phase(api, "keep", "Running")
    await create(api, cluster.pod("orphan", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]))
    await wait_phase(api, "orphan", "Running")
    before = {c.id for c in cluster.docker_containers(**{"io.kubernetes.pod.name": "keep"})}
    cluster.kubelet.stop()
    # While the kubelet is down the pod object disappears without the kubelet's help.
    await api.request("DELETE", "/api/v1/namespaces/default/pods/orphan", json={"gracePeriodSeconds": 0})
    cluster.start_kubelet()

    async def orphan_gone() -> bool:
        await asyncio.sleep(0)
        return not cluster.docker_containers(**{"io.kubernetes.pod.name": "orphan"})

    await wait_until(orphan_gone, 15, 0.2, message="orphan containers not removed")
    await asyncio.sleep(2.5)  # a resync period: adoption must not start duplicates
    after = {c.id for c in cluster.docker_containers(**{"io.kubernetes.pod.name": "keep"})}
    assert after == before
    assert (await get_pod(api, "keep"))["status"]["containerStatuses"][0]["restartCount"] == 0
    await delete_and_wait_gone(api, "keep")


async def test_kubelet_survives_api_server_outage(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("steady", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]))
    await wait_phase(api, "steady", "Running")
    cluster.apiserver.stop()
    try:
        await asyncio.sleep(3)  # heartbeats and the pod watch fail meanwhile
        running = cluster.docker_containers(**{"io.kubernetes.pod.name": "steady"})
        assert running and all(c.status == "running" for c in running)
    finally:
        cluster.apiserver.start()
    await asyncio.to_thread(_wait_http, f"{cluster.server}/readyz", 60, cluster.apiserver)
    await create(api, cluster.pod("after", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]))
    await wait_phase(api, "after", "Running", 45)
    await delete_and_wait_gone(api, "after")
    await delete_and_wait_gone(api, "steady")


async def test_log_and_exec_errors_are_statuses(cluster: Cluster, api: ApiClient) -> None:
    with pytest.raises(errors.NotFound, match='pods "ghost" not found'):
        _ = [ln async for ln in stream_logs(api, "default", "ghost")]
    unbound = cluster.pod("unbound", [{"name": "c", "image": BUSYBOX}])
    del unbound["spec"]["nodeName"]
    await create(api, unbound)
    with pytest.raises(errors.BadRequest, match="does not have a host assigned"):
        await exec_in_pod(api, "default", "unbound", ["true"])
    await api.request("DELETE", "/api/v1/namespaces/default/pods/unbound", json={"gracePeriodSeconds": 0})
