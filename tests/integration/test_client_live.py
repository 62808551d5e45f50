"""ApiClient against the real API server on real etcd (fixtures `apiserver`, `api_client`,
`namespace` from tests/integration/conftest.py): CRUD, patches, error classes, bind, watch, and a
kubeconfig written by `write_kubeconfig` used by both our client and the official one."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from machinery import errors
from machinery.client import ApiClient
from tests.support import write_test_kubeconfig

models = pytest.importorskip("machinery.models")
ConfigMap = models.ConfigMap
Namespace = models.Namespace
Node = models.Node
Pod = models.Pod

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def config_map(name: str, ns: str, data: dict[str, str], labels: dict[str, str] | None = None) -> Any:
    return ConfigMap.model_validate({"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
                                     "data": data})


async def test_crud_round_trip_and_errors(api_client: ApiClient, namespace: str) -> None:
    created = await api_client.create(config_map("cm", namespace, {"a": "1"}))
    assert isinstance(created, ConfigMap) and created.uid and created.resource_version
    with pytest.raises(errors.AlreadyExists):
        await api_client.create(config_map("cm", namespace, {"a": "1"}))

    got = await api_client.get(ConfigMap, "cm", namespace=namespace)
    assert got.data == {"a": "1"} and got.resource_version == created.resource_version

    got.data = {"a": "2"}
    replaced = await api_client.replace(got)
    assert replaced.data == {"a": "2"} and replaced.resource_version != created.resource_version
    with pytest.raises(errors.Conflict):
        await api_client.replace(got)  # still carries the old resourceVersion

    merged = await api_client.patch(ConfigMap, "cm", {"data": {"b": "3"}}, namespace=namespace)
    assert merged.data == {"a": "2", "b": "3"}
    jsonp = await api_client.patch(ConfigMap, "cm", [{"op": "remove", "path": "/data/a"}],
                                   namespace=namespace, patch_type="json")
    assert jsonp.data == {"b": "3"}
    strategic = await api_client.patch(ConfigMap, "cm", {"data": {"c": "4"}}, namespace=namespace,
                                       patch_type="strategic")
    assert strategic.data == {"b": "3", "c": "4"}

    listed = await api_client.list(ConfigMap, namespace=namespace)
    assert [c.name for c in listed.items] == ["cm"] and listed.resource_version

    await api_client.delete(ConfigMap, "cm", namespace=namespace)
    with pytest.raises(errors.NotFound):
        await api_client.get(ConfigMap, "cm", namespace=namespace)


async def test_invalid_objects_name_their_fields(api_client: ApiClient, namespace: str) -> None:
    with pytest.raises(errors.Invalid) as info:
        await api_client.create(ConfigMap.model_validate({"metadata": {"namespace": namespace}}))
    assert any(c.get("field") == "metadata.name" for c in info.value.causes)
    # Raw access gets the same error mapping: a list where a map belongs.
    with pytest.raises(errors.Invalid) as raw_info:
        await api_client.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                                 json={"metadata": {"name": "bad"}, "data": ["not", "a", "map"]})
    assert any((c.get("field") or "").startswith("data") for c in raw_info.value.causes)
    with pytest.raises(errors.NotFound):
        await api_client.get(ConfigMap, "bad", namespace=namespace)  # nothing was written


async def test_list_paging_selectors_and_delete_collection(api_client: ApiClient, namespace: str) -> None:
    for i in range(5):
        await api_client.create(config_map(f"cm{i}", namespace, {}, {"parity": "even" if i % 2 == 0 else "odd"}))
    even = await api_client.list(ConfigMap, namespace=namespace, label_selector="parity=even")
    assert sorted(c.name for c in even.items) == ["cm0", "cm2", "cm4"]
    names: list[str] = []
    token: str | None = None
    while True:
        page = await api_client.list(ConfigMap, namespace=namespace, limit=2, continue_token=token)
        assert len(page.items) <= 2
        names += [c.name for c in page.items]
        token = page.continue_token
        if not token:
            break
    assert sorted(names) == [f"cm{i}" for i in range(5)]
    await api_client.delete_collection(ConfigMap, namespace=namespace, label_selector="parity=odd")
    left = await api_client.list(ConfigMap, namespace=namespace)
    assert sorted(c.name for c in left.items) == ["cm0", "cm2", "cm4"]


async def test_bind_sets_node_name(api_client: ApiClient, namespace: str) -> None:
    node_name = unique("node")
    await api_client.create(Node.model_validate({"metadata": {"name": node_name}}))
    try:
        pod = Pod.model_validate({"metadata": {"name": "p", "namespace": namespace},
                                  "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}})
        await api_client.create(pod)
        await api_client.bind(namespace, "p", node_name)
        bound = await api_client.get(Pod, "p", namespace=namespace)
        assert bound.spec.nodeName == node_name
        with pytest.raises(errors.Conflict):
            await api_client.bind(namespace, "p", node_name)  # already bound
    finally:
        await api_client.delete(Node, node_name)


async def test_watch_sees_changes_in_order_and_ends_at_timeout(api_client: ApiClient, namespace: str) -> None:
    start = await api_client.list(ConfigMap, namespace=namespace)
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async with aclosing(api_client.watch(ConfigMap, namespace=namespace,
                                             resource_version=start.resource_version, timeout_s=2)) as events:
            async for event in events:
                if event.type != "BOOKMARK":
                    seen.append((event.type, event.object.name))

    task = asyncio.create_task(consume())
    created = await api_client.create(config_map("w", namespace, {"k": "v"}))
    created.data = {"k": "v2"}
    await api_client.replace(created)
    await api_client.delete(ConfigMap, "w", namespace=namespace)
    await asyncio.wait_for(task, 15)  # the server ends the stream at timeoutSeconds
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def test_many_concurrent_watches(api_client: ApiClient, namespace: str) -> None:
    """One client holds many open watches at once (the pool must not cap them at 100)."""
    count = 120
    start = await api_client.list(ConfigMap, namespace=namespace)
    got = [asyncio.Event() for _ in range(count)]

    async def consume(i: int) -> None:
        async with aclosing(api_client.watch(ConfigMap, namespace=namespace,
                                             resource_version=start.resource_version, timeout_s=20)) as events:
            async for event in events:
                if event.type == "ADDED":
                    got[i].set()
                    return

    tasks = [asyncio.create_task(consume(i)) for i in range(count)]
    try:
        await asyncio.sleep(0.5)
        await api_client.create(config_map("fanout", namespace, {}))
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert all(e.is_set() for e in got)
    finally:
        for t in tasks:
            t.cancel()


async def test_written_kubeconfig_works_for_both_clients(apiserver: Any, namespace: str,
                                                         tmp_path: Path) -> None:
    path = write_test_kubeconfig(tmp_path / "kubeconfig", apiserver.url, namespace="kube-system")
    async with ApiClient.from_kubeconfig(str(path)) as client:
        version = await client.request("GET", "/version")
        assert isinstance(version, dict) and "gitVersion" in version
        assert client.namespace == "kube-system"

    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    def official_list() -> list[str]:
        api = k8s_config.new_client_from_config(config_file=str(path))
        try:
            items = k8s_client.CoreV1Api(api).list_namespace().items
            return [str(ns.metadata.name) for ns in items if ns.metadata]
        finally:
            api.close()

    names = await asyncio.to_thread(official_list)
    assert namespace in names


async def test_survives_an_apiserver_restart(apiserver_factory: Any, etcd_server: Any) -> None:
    """A watch on a server that crashes raises ConnectionFailed; calls made while it is down
    are retried until it is back."""
    server = apiserver_factory(etcd_server.url)
    async with ApiClient.from_kubeconfig(server.kubeconfig, retry_delays_s=(0.2, 0.5, 1.0, 1.0, 2.0, 2.0, 4.0)) as client:
        listed = await client.list(Namespace)
        got_error: list[BaseException] = []

        async def watch() -> None:
            try:
                async with aclosing(client.watch(Namespace, resource_version=listed.resource_version)) as events:
                    async for _ in events:
                        pass
            except errors.ApiError as exc:
                got_error.append(exc)

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.3)
        # SIGKILL: a crash drops the connection at once (a SIGTERM'd server drains watches first).
        server.proc.kill()
        await asyncio.to_thread(server.proc.wait)
        server.proc = None
        await asyncio.wait_for(task, 10)
        assert len(got_error) == 1 and isinstance(got_error[0], errors.ConnectionFailed)

        restart = asyncio.create_task(asyncio.to_thread(server.start))
        try:
            answer = await client.list(Namespace)  # retried while the server starts again
            assert answer.resource_version
        finally:
            await restart
