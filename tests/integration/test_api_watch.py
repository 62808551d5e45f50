"""Watch over HTTP against the real server: NDJSON events, resourceVersion semantics,
selectors, timeouts, bookmarks, 410 and sendInitialEvents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.support import compact_etcd

pytestmark = pytest.mark.integration


@asynccontextmanager
async def watching(http: httpx.AsyncClient, path: str, **params: Any) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Open a watch; events arrive on the queue (None when the server ended the stream)."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    opened = asyncio.Event()

    async def run() -> None:
        async with http.stream("GET", path, params={"watch": "true", **params}, timeout=None) as r:
            assert r.status_code == 200
            opened.set()
            async for line in r.aiter_lines():
                if line:
                    await queue.put(json.loads(line))
        await queue.put(None)

    task = asyncio.create_task(run())
    await asyncio.wait_for(opened.wait(), 10)
    try:
        yield queue
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_event(q: asyncio.Queue[Any], timeout_s: float = 10.0, skip_bookmarks: bool = True) -> Any:
    while True:
        ev = await asyncio.wait_for(q.get(), timeout_s)
        if ev is None or not (skip_bookmarks and ev["type"] == "BOOKMARK"):
            return ev


async def test_watch_from_resource_version(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await http.post(base, json={"metadata": {"name": "before"}})
    rv = (await http.get(base)).json()["metadata"]["resourceVersion"]
    async with watching(http, base, resourceVersion=rv) as q:
        created = (await http.post(base, json={"metadata": {"name": "w"}, "data": {"a": "1"}})).json()
        ev = await next_event(q)
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "w"
        assert ev["object"]["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        created["data"] = {"a": "2"}
        await http.put(f"{base}/w", json=created)
        ev = await next_event(q)
        assert ev["type"] == "MODIFIED" and ev["object"]["data"] == {"a": "2"}
        await http.delete(f"{base}/w")
        ev = await next_event(q)
        assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "w"


async def test_watch_without_rv_starts_with_current_objects(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for n in ("a", "b"):
        await http.post(base, json={"metadata": {"name": n}})
    async with watching(http, base) as q:
        first = [await next_event(q), await next_event(q)]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] == [("ADDED", "a"), ("ADDED", "b")]
        await http.post(base, json={"metadata": {"name": "c"}})
        ev = await next_event(q)
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "c")


async def test_watch_label_selector_transitions(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = (await http.get(base)).json()["metadata"]["resourceVersion"]
    async with watching(http, base, resourceVersion=rv, labelSelector="app=x") as q:
        await http.post(base, json={"metadata": {"name": "other", "labels": {"app": "y"}}})
        obj = (await http.post(base, json={"metadata": {"name": "m", "labels": {"app": "y"}}})).json()
        obj["metadata"]["labels"] = {"app": "x"}
        obj = (await http.put(f"{base}/m", json=obj)).json()
        ev = await next_event(q)
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "m")  # starts matching
        obj["metadata"]["labels"] = {"app": "z"}
        await http.put(f"{base}/m", json=obj)
        ev = await next_event(q)
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("DELETED", "m")  # stops matching
        with pytest.raises(TimeoutError):
            await next_event(q, timeout_s=0.5)  # "other" never showed up


async def test_watch_pods_by_node_name(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    await http.post(base, json=pod)
    async with watching(http, "/api/v1/pods", fieldSelector="spec.nodeName=node-w") as q:
        await http.post(f"{base}/p/binding", json={"metadata": {"name": "p"}, "target": {"name": "node-w"}})
        ev = await next_event(q)
        assert ev["type"] == "ADDED" and ev["object"]["spec"]["nodeName"] == "node-w"


async def test_watch_timeout_seconds(http: httpx.AsyncClient, namespace: str) -> None:
    start = time.monotonic()
    async with watching(http, f"/api/v1/namespaces/{namespace}/configmaps", timeoutSeconds="1") as q:
        assert await next_event(q, timeout_s=5) is None
    assert 0.9 <= time.monotonic() - start < 4


async def test_watch_bookmarks(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = (await http.get(base)).json()["metadata"]["resourceVersion"]
    async with watching(http, base, resourceVersion=rv, allowWatchBookmarks="true") as q:
        await http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "x"}})
        # A write elsewhere moves etcd's revision past the last configmap event: the watch cache
        # learns it from etcd's progress notifications and bookmarks it.
        await http.post(f"/api/v1/namespaces/{namespace}/secrets", json={"metadata": {"name": "s"}})
        seen = []
        while True:
            ev = await next_event(q, timeout_s=10, skip_bookmarks=False)
            seen.append(ev["type"])
            if ev["type"] == "BOOKMARK":
                break
        assert ev["object"]["kind"] == "ConfigMap"
        assert int(ev["object"]["metadata"]["resourceVersion"]) >= int(rv)
        assert set(ev["object"]["metadata"]) == {"resourceVersion"}


async def test_watch_too_old_resource_version_is_410(http: httpx.AsyncClient, namespace: str,
                                                     etcd_server: Any) -> None:
    # Revision 1 is served from etcd's history until etcd compacts it; then it is 410.
    await compact_etcd(etcd_server.url)
    async with watching(http, f"/api/v1/namespaces/{namespace}/configmaps", resourceVersion="1") as q:
        ev = await next_event(q)
        assert ev["type"] == "ERROR"
        assert ev["object"]["kind"] == "Status" and ev["object"]["code"] == 410
        assert ev["object"]["reason"] == "Expired"
        assert await next_event(q) is None


async def test_send_initial_events(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await http.post(base, json={"metadata": {"name": "i1"}})
    async with watching(http, base, sendInitialEvents="true", allowWatchBookmarks="true",
                        resourceVersionMatch="NotOlderThan") as q:
        ev = await next_event(q, skip_bookmarks=False)
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "i1")
        ev = await next_event(q, skip_bookmarks=False)
        assert ev["type"] == "BOOKMARK"
        assert ev["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        await http.post(base, json={"metadata": {"name": "i2"}})
        ev = await next_event(q)
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "i2")


async def test_bad_watch_parameters_are_400(http: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    r = await http.get(base, params={"watch": "1", "resourceVersion": "abc"})
    assert r.status_code == 400 and r.json()["kind"] == "Status"
    r = await http.get(base, params={"watch": "1", "labelSelector": "a in (b"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
