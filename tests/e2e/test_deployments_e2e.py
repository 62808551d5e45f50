"""Issue 5 end to end: Deployments on the real cluster (scheduler, controller-manager, kubelet on Docker).

Every test drives the cluster through the `kubelite` CLI where a user would (set image, rollout
status/undo/pause/resume, set resources, scale) and watches pods through the API to check the
RollingUpdate guarantees at EVERY observed point: ready pods >= replicas - maxUnavailable and
live pods <= replicas + maxSurge. "Versions" are two local tags of kubelite/busybox:latest made
for this module (removed at teardown). Pods run `exec httpd -f` (dies at once on SIGTERM) with
an httpGet readiness probe every second and a 1 s grace period, so a rollout takes seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from machinery import errors
from machinery.client import ApiClient
from tests.e2e.conftest import ROOT, Cluster, PodObserver, is_ready, live
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

NS = "default"
KUBELITE = str(ROOT / ".venv" / "bin" / "kubelite")
PODS = f"/api/v1/namespaces/{NS}/pods"
DEPLOYS = f"/apis/apps/v1/namespaces/{NS}/deployments"
RSS = f"/apis/apps/v1/namespaces/{NS}/replicasets"


@dataclass(frozen=True)
class Images:
    v1: str
    v2: str
    missing: str


@pytest.fixture(scope="module")
def images() -> Iterator[Images]:
    """Two tags of the local busybox image, and a name that exists nowhere (never pulled)."""
    tag = f"e2e{random.randrange(10**6):06d}"
    client = docker.from_env()
    base = client.images.get("kubelite/busybox:latest")
    imgs = Images(v1=f"kubelite/busybox:{tag}-v1", v2=f"kubelite/busybox:{tag}-v2",
                  missing=f"kubelite/busybox:{tag}-missing")
    try:
        for ref in (imgs.v1, imgs.v2):
            base.tag(ref)
        yield imgs
    finally:
        for ref in (imgs.v1, imgs.v2):
            # The image keeps its other tags; force only untags even if a container used it.
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(ref, force=True, noprune=True)
        client.close()


@pytest.fixture(scope="module")
def cl(images: Images, full_cluster: Cluster) -> Cluster:
    """The full cluster, set up after (and so torn down before) the image tags."""
    return full_cluster


@pytest.fixture
async def api(cl: Cluster) -> AsyncIterator[ApiClient]:
    client = cl.client()
    try:
        yield client
    finally:
        await client.aclose()


async def kubelite(cl: Cluster, *args: str, timeout_s: float = 60) -> tuple[int, str]:
    """Run the CLI against the cluster; returns (exit code, stdout+stderr)."""
    proc = await asyncio.create_subprocess_exec(
        KUBELITE, "--kubeconfig", str(cl.kubeconfig), "-n", NS, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"kubelite {' '.join(args)} still running after {timeout_s}s") from None
    return proc.returncode or 0, out.decode()


async def ok(cl: Cluster, *args: str, timeout_s: float = 60) -> str:
    rc, out = await kubelite(cl, *args, timeout_s=timeout_s)
    assert rc == 0, f"kubelite {' '.join(args)} -> {rc}:\n{out}\n{cl.logs()}"
    return out


def image_of(pod_or_template: dict[str, Any]) -> str:
    return str(pod_or_template["spec"]["containers"][0]["image"])


def deployment(name: str, image: str, *, replicas: int, max_surge: int = 1, max_unavailable: int = 1,
               progress_deadline_s: int = 600) -> dict[str, Any]:
    container = {
        "name": "web", "image": image, "imagePullPolicy": "Never",
        # exec: httpd is PID 1 and dies at once on SIGTERM (a shell would ignore it).
        "command": ["sh", "-c",
                    "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
        # Ready on the first answer; 3 misses of 3 s each before a Ready pod is unready: with
        # failureThreshold 1 and the default 1 s timeout one slow answer on a loaded machine made
        # an old pod unready mid-rollout (CI: ready 1 < replicas - maxUnavailable).
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1, "timeoutSeconds": 3,
                           "failureThreshold": 3},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas, "progressDeadlineSeconds": progress_deadline_s,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [container], "terminationGracePeriodSeconds": 1}},
        },
    }


async def pods_of(api: ApiClient, app: str) -> list[dict[str, Any]]:
    body = await api.request("GET", PODS, params={"labelSelector": f"app={app}"})
    return list(body["items"])


async def rss_of(api: ApiClient, app: str) -> list[dict[str, Any]]:
    body = await api.request("GET", RSS, params={"labelSelector": f"app={app}"})
    return list(body["items"])


async def wait_ready(api: ApiClient, cl: Cluster, app: str, n: int, *, image: str | None = None,
                     timeout_s: float = 60) -> list[dict[str, Any]]:
    """Until exactly `n` live pods exist, all ready (and running `image` if given)."""
    last: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal last
        last = await pods_of(api, app)
        lv = live(last)
        return (len(lv) == n and all(is_ready(p) for p in lv)
                and (image is None or all(p["spec"]["containers"][0]["image"] == image for p in lv)))

    try:
        await wait_until(done, timeout_s, interval_s=0.3)
    except AssertionError:
        summary = [(p["metadata"]["name"], (p.get("status") or {}).get("phase"), is_ready(p)) for p in last]
        raise AssertionError(f"{app}: wanted {n} ready pods, have {summary}\n{cl.logs()}") from None
    return live(last)


async def create(api: ApiClient, body: dict[str, Any]) -> None:
    await api.request("POST", DEPLOYS, json=body)


async def cleanup(api: ApiClient, name: str) -> None:
    with contextlib.suppress(errors.ApiError):  # already gone: nothing to clean
        await api.request("DELETE", f"{DEPLOYS}/{name}", json={"propagationPolicy": "Background"})


async def test_rolling_update_keeps_availability(api: ApiClient, cl: Cluster, images: Images) -> None:
    name, replicas, surge, unavail = "web", 3, 1, 1
    await create(api, deployment(name, images.v1, replicas=replicas, max_surge=surge,
                                 max_unavailable=unavail))
    try:
        old = await wait_ready(api, cl, name, replicas)
        await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s", timeout_s=70)
        obs = PodObserver(api, name)
        await obs.start()
        await ok(cl, "set", "image", f"deployment/{name}", f"web={images.v2}")
        out = await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "90s", timeout_s=100)
        assert "successfully rolled out" in out
        new = await wait_ready(api, cl, name, replicas, image=images.v2)
        await obs.stop()
        obs.check(replicas=replicas, max_surge=surge, max_unavailable=unavail)
        assert not {p["metadata"]["name"] for p in old} & {p["metadata"]["name"] for p in new}
        sets = await rss_of(api, name)
        assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, replicas], sets
    finally:
        await cleanup(api, name)


async def test_bad_image_stalls_then_undo_restores(api: ApiClient, cl: Cluster, images: Images) -> None:
    name, replicas = "stall", 3
    await create(api, deployment(name, images.v1, replicas=replicas, progress_deadline_s=8))
    try:
        await wait_ready(api, cl, name, replicas)
        await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s", timeout_s=70)
        await ok(cl, "set", "image", f"deployment/{name}", f"web={images.missing}")
        t0 = time.monotonic()
        rc, out = await kubelite(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s",
                                 timeout_s=70)
        assert rc == 1, out
        assert "exceeded its progress deadline" in out, out
        assert time.monotonic() - t0 < 45, "the progress deadline (8 s) should have fired long before"
        # The stall kept the old version serving: at most maxUnavailable (1) pod lost.
        pods = await pods_of(api, name)
        assert sum(is_ready(p) and image_of(p) == images.v1 for p in pods) >= replicas - 1
        dep = await api.request("GET", f"{DEPLOYS}/{name}")
        progressing = [c for c in dep["status"].get("conditions", []) if c["type"] == "Progressing"]
        assert progressing and progressing[0]["reason"] == "ProgressDeadlineExceeded", dep["status"]

        await ok(cl, "rollout", "undo", f"deployment/{name}")
        await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s", timeout_s=70)
        await wait_ready(api, cl, name, replicas, image=images.v1)
        sets = await rss_of(api, name)
        by_image = {image_of(rs["spec"]["template"]): rs["spec"]["replicas"] for rs in sets}
        assert by_image == {images.v1: replicas, images.missing: 0}, by_image
    finally:
        await cleanup(api, name)


async def test_pause_change_resume_makes_one_new_replicaset(api: ApiClient, cl: Cluster,
                                                             images: Images) -> None:
    name = "paused"
    await create(api, deployment(name, images.v1, replicas=2))
    try:
        await wait_ready(api, cl, name, 2)
        await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s", timeout_s=70)
        await ok(cl, "rollout", "pause", f"deployment/{name}")
        await ok(cl, "set", "resources", f"deployment/{name}", "--requests", "cpu=10m,memory=16Mi")
        await ok(cl, "set", "resources", f"deployment/{name}", "--limits", "cpu=500m,memory=64Mi")
        await ok(cl, "set", "image", f"deployment/{name}", f"web={images.v2}")
        # Paused: the controller must observe the new generation without starting a rollout.
        await wait_until(lambda: _observed(api, name), 20, interval_s=0.3)
        await asyncio.sleep(1.5)
        assert len(await rss_of(api, name)) == 1
        await ok(cl, "rollout", "resume", f"deployment/{name}")
        await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s", timeout_s=70)
        pods = await wait_ready(api, cl, name, 2, image=images.v2)
        assert pods[0]["spec"]["containers"][0]["resources"] == {
            "requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}}
        sets = await rss_of(api, name)
        assert len(sets) == 2, [rs["metadata"]["name"] for rs in sets]
    finally:
        await cleanup(api, name)


async def _observed(api: ApiClient, name: str) -> bool:
    dep = await api.request("GET", f"{DEPLOYS}/{name}")
    return bool(dep.get("status", {}).get("observedGeneration") == dep["metadata"]["generation"])


async def test_scale_to_ten_and_back_to_two(api: ApiClient, cl: Cluster, images: Images) -> None:
    name = "scaled"
    await create(api, deployment(name, images.v1, replicas=2))
    try:
        await wait_ready(api, cl, name, 2)
        await ok(cl, "scale", f"deployment/{name}", "--replicas", "10")
        await wait_ready(api, cl, name, 10, timeout_s=90)
        await ok(cl, "scale", f"deployment/{name}", "--replicas", "2")
        await wait_ready(api, cl, name, 2)
        await wait_until(lambda: _pods_gone(api, name, 2), 30, interval_s=0.3)
        await wait_until(lambda: len(_app_containers(cl, name)) == 2, 30, interval_s=0.5)
    finally:
        await cleanup(api, name)


async def _pods_gone(api: ApiClient, app: str, n: int) -> bool:
    return len(await pods_of(api, app)) == n


def _app_containers(cl: Cluster, app: str) -> list[Any]:
    """Running `web` containers of the app's pods (sandboxes excluded)."""
    return [c for c in cl.docker_containers() if c.status == "running"
            and c.labels.get("io.kubernetes.container.name") == "web"
            and c.labels.get("io.kubernetes.pod.name", "").startswith(f"{app}-")]


async def test_killed_container_restarts_and_deleted_pod_is_replaced(api: ApiClient, cl: Cluster,
                                                                     images: Images) -> None:
    name = "heal"
    await create(api, deployment(name, images.v1, replicas=2))
    try:
        pods = await wait_ready(api, cl, name, 2)
        victim = pods[0]["metadata"]["name"]
        ctrs = [c for c in _app_containers(cl, name) if c.labels.get("io.kubernetes.pod.name") == victim]
        assert len(ctrs) == 1, [c.labels for c in cl.docker_containers()]
        ctrs[0].kill()  # `docker kill`: SIGKILL, the kubelet sees an exit it did not ask for

        async def restarted() -> bool:
            pod = await api.request("GET", f"{PODS}/{victim}")
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            return bool(statuses) and statuses[0].get("restartCount", 0) >= 1 and is_ready(pod)

        await wait_until(restarted, 40, interval_s=0.3)

        await api.request("DELETE", f"{PODS}/{victim}")
        after = await wait_ready(api, cl, name, 2, timeout_s=60)
        assert victim not in {p["metadata"]["name"] for p in after}
    finally:
        await cleanup(api, name)


async def test_deleting_deployment_collects_replicasets_and_pods(api: ApiClient, cl: Cluster,
                                                                 images: Images) -> None:
    name = "doomed"
    await create(api, deployment(name, images.v1, replicas=2))
    await wait_ready(api, cl, name, 2)
    await ok(cl, "set", "image", f"deployment/{name}", f"web={images.v2}")  # two ReplicaSets to collect
    await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s", timeout_s=70)
    assert len(await rss_of(api, name)) == 2
    await ok(cl, "delete", "deployment", name)

    async def gone() -> bool:
        return not await rss_of(api, name) and not await pods_of(api, name)

    await wait_until(gone, 40, interval_s=0.3, message=f"ReplicaSets/pods of {name} not collected")
    await wait_until(lambda: not _app_containers(cl, name), 30, interval_s=0.5)


async def test_controller_manager_killed_mid_rollout(api: ApiClient, cl: Cluster, images: Images) -> None:
    name, replicas, surge, unavail = "crash", 4, 1, 0
    await create(api, deployment(name, images.v1, replicas=replicas, max_surge=surge,
                                 max_unavailable=unavail))
    try:
        await wait_ready(api, cl, name, replicas)
        await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "60s", timeout_s=70)
        obs = PodObserver(api, name)
        await obs.start()
        await ok(cl, "set", "image", f"deployment/{name}", f"web={images.v2}")

        async def new_pod_exists() -> bool:
            return any(p["spec"]["containers"][0]["image"] == images.v2 for p in obs.pods.values())

        await wait_until(new_pod_exists, 30, interval_s=0.05)
        cl.kill_controllers()  # SIGKILL mid-rollout: no clean shutdown
        old_left = [p for p in live(list(obs.pods.values())) if image_of(p) == images.v1]
        assert old_left, "the rollout finished before the kill; the test proves nothing"
        await asyncio.sleep(1.0)
        cl.start_controllers()
        await ok(cl, "rollout", "status", f"deployment/{name}", "--timeout", "90s", timeout_s=100)
        await wait_ready(api, cl, name, replicas, image=images.v2)
        await asyncio.sleep(1.0)  # any duplicate a restarted manager would make shows up now
        await obs.stop()
        obs.check(replicas=replicas, max_surge=surge, max_unavailable=unavail)
        assert len(live(list(obs.pods.values()))) == replicas
        # One pod per replica and version, none created twice: 4 old + 4 new names at most.
        assert len(obs.names) == 2 * replicas, sorted(obs.names)
        assert len(await rss_of(api, name)) == 2
    finally:
        await cleanup(api, name)

