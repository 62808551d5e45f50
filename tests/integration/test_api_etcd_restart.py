"""etcd goes away and comes back: the API server answers 503 Status meanwhile, serves again
afterwards without a restart of its own, and a watch resumed from the last resourceVersion a
client saw misses no event. Also: the API server itself restarts and recovers its state."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdProcess, wait_until

pytestmark = pytest.mark.integration


async def collect_watch(http: httpx.AsyncClient, path: str, rv: str, out: list[dict[str, Any]],
                        stop: asyncio.Event) -> None:
    """A client that keeps watching: on any end or error it resumes from the last rv it saw."""
    while not stop.is_set():
        try:
            async with http.stream("GET", path, params={"watch": "1", "resourceVersion": rv},
                                   timeout=httpx.Timeout(5.0, read=None)) as r:
                if r.status_code != 200:
                    await asyncio.sleep(0.2)
                    continue
                async for line in r.aiter_lines():
                    if not line:
                        continue
                    ev = json.loads(line)
                    if ev["type"] == "ERROR":
                        out.append(ev)
                        break
                    rv = ev["object"]["metadata"]["resourceVersion"]
                    if ev["type"] != "BOOKMARK":
                        out.append(ev)
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)


async def test_etcd_restart(apiserver_factory: Callable[..., ApiServerProcess]) -> None:
    with EtcdProcess(name="kubelite-restart") as etcd:
        server = apiserver_factory(etcd.url)
        async with server.http(timeout=20.0) as http:
            base = "/api/v1/namespaces/default/configmaps"
            assert (await http.post(base, json={"metadata": {"name": "a"}})).status_code == 201
            rv = (await http.get(base)).json()["metadata"]["resourceVersion"]
            events: list[dict[str, Any]] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(collect_watch(http, base, rv, events, stop))
            try:
                assert (await http.post(base, json={"metadata": {"name": "b"}})).status_code == 201
                await wait_until(lambda: len(events) >= 1, 10)

                etcd.stop()
                start = time.monotonic()
                r = await http.get(base)
                assert r.status_code == 503, r.text
                assert r.json()["kind"] == "Status" and r.json()["reason"] == "ServiceUnavailable"
                assert time.monotonic() - start < 10
                r = await http.post(base, json={"metadata": {"name": "during"}})
                assert r.status_code == 503 and r.json()["kind"] == "Status"
                ready = await http.get("/readyz")
                assert ready.status_code == 503

                etcd.start()

                async def serving() -> bool:
                    return (await http.get(base)).status_code == 200

                await wait_until(serving, 20)
                assert (await http.post(base, json={"metadata": {"name": "c"}})).status_code == 201
                assert (await http.post(base, json={"metadata": {"name": "d"}})).status_code == 201
                await wait_until(lambda: len(events) >= 3, 20, message=f"events: {events}")
            finally:
                stop.set()
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            names = [(e["type"], e["object"]["metadata"].get("name")) for e in events]
            assert names == [("ADDED", "b"), ("ADDED", "c"), ("ADDED", "d")], names
            items = (await http.get(base)).json()["items"]
            assert [i["metadata"]["name"] for i in items] == ["a", "b", "c", "d"]  # "during" never written


async def test_apiserver_restart_recovers_state(apiserver_factory: Callable[..., ApiServerProcess]) -> None:
    with EtcdProcess(name="kubelite-apirestart") as etcd:
        server = apiserver_factory(etcd.url)
        async with server.http(timeout=20.0) as http:
            r = await http.post("/api/v1/namespaces/default/services",
                                json={"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
            ip = r.json()["spec"]["clusterIP"]
        server.restart()
        async with server.http(timeout=20.0) as http:
            r = await http.post("/api/v1/namespaces/default/services",
                                json={"metadata": {"name": "t"}, "spec": {"ports": [{"port": 80}], "clusterIP": ip}})
            assert r.status_code == 422  # the allocator recovered the IP from etcd
            assert len((await http.get("/api/v1/namespaces")).json()["items"]) == 4
