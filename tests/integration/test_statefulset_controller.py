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
            await wait_until(lambda: _status(api_client, namespace, readyReplicas=3), 30)
            before = {p.name: p.metadata.uid for p in (await _live(api_client, namespace)).values()}
            await api_client.patch(StatefulSet, "web", {"spec": {"template": {"metadata": {
                "annotations": {"v": "2"}}}}}, namespace=namespace)
            await wait_until(lambda: _status(api_client, namespace, updatedReplicas=1, readyReplicas=3), 30)
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


async def _status(client: ApiClient, ns: str, **want: int) -> bool:
    sts = await client.get(StatefulSet, "web", namespace=ns)
    got = sts.status.to_dict() if sts.status else {}
    return all(got.get(k) == v for k, v in want.items())
