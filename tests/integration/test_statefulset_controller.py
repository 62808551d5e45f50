"""The StatefulSet controller in the controller-manager process against a real API server.

No kubelet: `mark_pods_ready` plays it. Checks ordered creation (seen through a watch), the
claims from volumeClaimTemplates, scale through the /scale subresource, the partitioned
rolling update with ControllerRevisions, and deletion keeping the claims.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from machinery.client import ApiClient
from machinery.models import ControllerRevision, PersistentVolumeClaim, Pod, StatefulSet
from tests.integration.test_batch_cli import Run, tools  # noqa: F401 - the kubectl/kubelite fixture
from tests.integration.test_controllers import ControllerManagerProcess, mark_pods_ready
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


@pytest.fixture(scope="module")
def sts_manager(apiserver: Any) -> Iterator[ControllerManagerProcess]:
    cm = ControllerManagerProcess(apiserver.kubeconfig, "--controllers", "statefulset,garbagecollector").start()
    try:
        yield cm
    finally:
        cm.cleanup()


def _sts(namespace: str, image: str = "kubelite/busybox:latest") -> StatefulSet:
    return StatefulSet.from_dict({
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": 3, "serviceName": "nginx", "selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]},
    })


async def _live(client: ApiClient, ns: str) -> dict[str, Pod]:
    return {p.name: p for p in (await client.list(Pod, namespace=ns)).items if not p.metadata.deletionTimestamp}


async def _watch_adds(client: ApiClient, ns: str, seen: list[str]) -> None:
    rv = (await client.list(Pod, namespace=ns)).resource_version
    while True:
        async for ev in client.watch(Pod, namespace=ns, resource_version=rv, timeout_s=60):
            rv = ev.object.resource_version or rv
            if ev.type == "ADDED":
                seen.append(ev.object.name)


async def test_statefulset_ordered_scale_partitioned_update_and_delete_keeps_claims(
        sts_manager: ControllerManagerProcess, api_client: ApiClient, namespace: str) -> None:
    adds: list[str] = []
    watcher = asyncio.create_task(_watch_adds(api_client, namespace, adds))
    try:
        await api_client.create(_sts(namespace))
        await wait_until(lambda: _has(api_client, namespace, {"web-0"}), 20,
                         message=f"web-0\n{sts_manager.log_text()[-3000:]}")
        await asyncio.sleep(1.0)  # nothing else may appear while web-0 is not Ready
        assert set(await _live(api_client, namespace)) == {"web-0"}
        pod = (await _live(api_client, namespace))["web-0"]
        assert pod.spec is not None and (pod.spec.hostname, pod.spec.subdomain) == ("web-0", "nginx")
        async with mark_pods_ready(api_client, namespace):
            await wait_until(lambda: _has(api_client, namespace, {"web-0", "web-1", "web-2"}), 30)
            assert adds[:3] == ["web-0", "web-1", "web-2"]
            claims = {c.name for c in (await api_client.list(PersistentVolumeClaim, namespace=namespace)).items}
            assert claims == {"www-web-0", "www-web-1", "www-web-2"}
            await wait_until(lambda: _status(api_client, namespace, readyReplicas=3), 20)
            # Scale through /scale (what kubectl scale does): highest ordinal first.
            await api_client.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/statefulsets/web/scale",
                                     json={"spec": {"replicas": 1}},
                                     headers={"Content-Type": "application/merge-patch+json"})
            await wait_until(lambda: _has(api_client, namespace, {"web-0"}), 30)
            await api_client.patch(StatefulSet, "web", {"spec": {"replicas": 3, "updateStrategy": {
                "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}}, namespace=namespace)
            await wait_until(lambda: _settled(api_client, namespace, 3), 30)
            before = {p.name: p.metadata.uid for p in (await _live(api_client, namespace)).values()}
            await api_client.patch(StatefulSet, "web", {"spec": {"template": {"metadata": {
                "annotations": {"v": "2"}}}}}, namespace=namespace)
            await wait_until(lambda: _settled(api_client, namespace, 3, updatedReplicas=1), 30)
            after = await _live(api_client, namespace)
            assert after["web-0"].metadata.uid == before["web-0"] and after["web-1"].metadata.uid == before["web-1"]
            assert after["web-2"].metadata.uid != before["web-2"]
            assert (after["web-2"].metadata.annotations or {}).get("v") == "2"
            revisions = (await api_client.list(ControllerRevision, namespace=namespace)).items
            assert sorted(r.revision for r in revisions) == [1, 2]
        await api_client.delete(StatefulSet, "web", namespace=namespace)

        async def pods_gone() -> bool:
            return not (await api_client.list(Pod, namespace=namespace)).items

        await wait_until(pods_gone, 30)
        claims = {c.name for c in (await api_client.list(PersistentVolumeClaim, namespace=namespace)).items}
        assert claims == {"www-web-0", "www-web-1", "www-web-2"}
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


async def _has(client: ApiClient, ns: str, names: set[str]) -> bool:
    return set(await _live(client, ns)) == names


async def _settled(client: ApiClient, ns: str, replicas: int, **want: int) -> bool:
    """The controller has seen the latest spec, and `replicas` live pods are all Ready."""
    sts = await client.get(StatefulSet, "web", namespace=ns)
    got = sts.status.to_dict() if sts.status else {}
    pods = await _live(client, ns)
    ready = [p for p in pods.values() if p.status and any(
        c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    return (got.get("observedGeneration") == sts.metadata.generation and len(pods) == len(ready) == replicas
            and got.get("readyReplicas") == replicas and all(got.get(k) == v for k, v in want.items()))


async def _status(client: ApiClient, ns: str, **want: int) -> bool:
    sts = await client.get(StatefulSet, "web", namespace=ns)
    got = sts.status.to_dict() if sts.status else {}
    return all(got.get(k) == v for k, v in want.items())


async def _images(client: ApiClient, ns: str) -> dict[int, str]:
    return {r.revision: (r.data or {})["spec"]["template"]["spec"]["containers"][0]["image"]
            for r in (await client.list(ControllerRevision, namespace=ns)).items}


async def test_statefulset_rollout_history_undo_status_with_kubectl_and_kubelite(
        sts_manager: ControllerManagerProcess, api_client: ApiClient, namespace: str,
        tools: tuple[Run, Run]) -> None:  # noqa: F811
    kubectl, kubelite = tools
    sts = _sts(namespace, image="img:1")
    assert sts.spec is not None
    sts.spec.replicas, sts.spec.volumeClaimTemplates = 2, None
    await api_client.create(sts)
    async with mark_pods_ready(api_client, namespace):
        await wait_until(lambda: _status(api_client, namespace, readyReplicas=2), 30)
        assert "partitioned roll out complete: 2 new pods" in kubectl("rollout", "status", "sts/web", "--timeout=20s").stdout
        kubectl("set", "image", "statefulset/web", "c=img:2")
        await wait_until(lambda: _images_are(api_client, namespace, {1: "img:1", 2: "img:2"}), 30)
        await wait_until(lambda: _status(api_client, namespace, updatedReplicas=2, readyReplicas=2, observedGeneration=2,
                                         currentReplicas=2), 30)
        table = kubectl("rollout", "history", "statefulset/web").stdout.splitlines()
        assert table[0].strip() == "statefulset.apps/web" and [r.split()[0] for r in table[2:4]] == ["1", "2"]
        assert "img:1" in kubelite("rollout", "history", "sts/web", "--revision", "1").stdout
        assert kubectl("rollout", "undo", "statefulset/web").stdout.strip() == "statefulset.apps/web rolled back"
        # The controller re-uses revision 1 (renumbered 3) instead of creating a new one.
        await wait_until(lambda: _images_are(api_client, namespace, {2: "img:2", 3: "img:1"}), 30)
        await wait_until(lambda: _status(api_client, namespace, updatedReplicas=2, readyReplicas=2, observedGeneration=3,
                                         currentReplicas=2), 30)
        pods = await _live(api_client, namespace)
        assert {p.spec.containers[0].image for p in pods.values() if p.spec} == {"img:1"}
        got = await api_client.get(StatefulSet, "web", namespace=namespace)
        assert got.status is not None and got.status.currentRevision == got.status.updateRevision
        kubectl("scale", "statefulset/web", "--replicas=1")
        await wait_until(lambda: _has(api_client, namespace, {"web-0"}), 30)


async def _images_are(client: ApiClient, ns: str, want: dict[int, str]) -> bool:
    return await _images(client, ns) == want


async def test_retention_when_deleted_delete_removes_claims_with_the_set(
        sts_manager: ControllerManagerProcess, api_client: ApiClient, namespace: str) -> None:
    sts = _sts(namespace)
    assert sts.spec is not None
    sts.spec.replicas = 2
    sts.spec.podManagementPolicy = "Parallel"
    sts.spec.persistentVolumeClaimRetentionPolicy = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    await api_client.create(sts)

    async def claims() -> set[str]:
        return {c.name for c in (await api_client.list(PersistentVolumeClaim, namespace=namespace)).items}

    async def owned_claims() -> bool:
        items = (await api_client.list(PersistentVolumeClaim, namespace=namespace)).items
        return len(items) == 2 and all(any(r.kind == "StatefulSet" for r in c.metadata.ownerReferences or [])
                                       for c in items)

    async with mark_pods_ready(api_client, namespace):  # Parallel: both pods at once, no readiness needed
        await wait_until(owned_claims, 30, message=f"{await claims()}\n{sts_manager.log_text()[-2000:]}")
    await api_client.delete(StatefulSet, "web", namespace=namespace)

    async def no_claims() -> bool:
        return not await claims()

    await wait_until(no_claims, 30, message=f"claims left: {await claims()}")
