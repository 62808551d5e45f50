"""What bench/apiserver.py measures against: the same pod operations on three targets, and the
timed loop that drives them.

Contract:
- `ApiTarget(server, tls, client="raw")` (the API server over HTTPS, one connection per
  concurrent worker: bench.lib.rawhttp's lean client, or httpx with client="httpx"; watches
  always httpx); its setup() creates the namespace and its "default" ServiceAccount (what
  the ServiceAccount controller does in a cluster; without it every pod create pays the
  admission's live lookup of a missing account),
  `StorageTarget(storage)` (`EtcdStorage` in-process) and `EtcdTarget(client, prefix)` (aetcd,
  the same JSON bytes) each offer `setup()`, `create(name, worker)`, `get(name, worker)`,
  `schedule(name, worker)` (create + binding + Scheduled event, or its storage/etcd floor),
  `list_rv()`, `watch(rv, ready, got, i)` (sets `ready` once watching, calls `got()` on the
  first ADDED) and `close()`; a failed operation raises RuntimeError. Pods live in namespace
  `NS`; `pod(name)`, `binding(name)` and `event(name)` are the bodies.
- `await run_ops(op, concurrency, count, budget_s, server_pid=None) -> Result`: `count` calls
  of `op(index, worker)` by `concurrency` workers, stopping early at `budget_s`; `Result` has
  the rate, latency percentiles (ms), this process's CPU ms per op (the client side: gRPC
  threads of aetcd included) and, with `server_pid`, the server's CPU ms per op.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aetcd
import httpx

from apiserver.storage import EtcdStorage, keys
from bench.lib.rawhttp import RawHttp

NS = "bench"
Op = Callable[[int, int], Awaitable[None]]  # op(index, worker)


@dataclass
class Result:
    ops: int
    seconds: float
    lat_ms: list[float]
    server_cpu_ms: float | None = None  # the API server process's CPU time per op, if known
    client_cpu_ms: float | None = None  # this (the bench's) process's CPU time per op

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.lat_ms:
            return float("nan")
        s = sorted(self.lat_ms)
        return s[min(len(s) - 1, int(p / 100 * len(s)))]


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_ops(op: Op, *, concurrency: int, count: int, budget_s: float,
                  server_pid: int | None = None) -> Result:
    """`count` calls of op(i, worker) by `concurrency` workers, stopping early at `budget_s`.
    With `server_pid`, also the server's CPU time per op: on a busy machine throughput mostly
    measures who else runs (this process's httpx costs about as much CPU per request as the
    server does), CPU per op measures the server."""
    cpu0 = process_cpu_s(server_pid) if server_pid else 0.0
    own0 = time.process_time()
    lat: list[float] = []
    nxt = 0
    t0 = time.perf_counter()
    deadline = t0 + budget_s

    async def worker(wid: int) -> None:
        nonlocal nxt
        while nxt < count and time.perf_counter() < deadline:
            i = nxt
            nxt += 1
            s = time.perf_counter()
            await op(i, wid)
            lat.append((time.perf_counter() - s) * 1000)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    cpu_ms = (process_cpu_s(server_pid) - cpu0) * 1000 / len(lat) if server_pid and lat else None
    own_ms = (time.process_time() - own0) * 1000 / len(lat) if lat else None
    return Result(len(lat), time.perf_counter() - t0, lat, cpu_ms, own_ms)


def binding(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": NS},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}


def event(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.sched", "namespace": NS},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": NS},
            "reason": "Scheduled", "message": f"Successfully assigned {NS}/{name} to node-1",
            "type": "Normal", "source": {"component": "default-scheduler"}}


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}


# --- the three targets ---------------------------------------------------------------------

class ApiTarget:
    """One httpx client per concurrent worker (and per 10 watchers): one shared httpx pool
    with 32 busy connections caps at ~150 req/s here and would measure httpx, not the server."""

    def __init__(self, server: str, tls: ssl.SSLContext, client: str = "raw") -> None:
        self.server = server
        self.tls = tls
        self.pid: int | None = None  # the server's process, when known: CPU per op
        self.pool = [self._client() for _ in range(32)]
        self.raw = [RawHttp(server, tls) for _ in range(32)] if client == "raw" else None
        self.watch_pool: list[httpx.AsyncClient] = []
        self.http = self.pool[0]

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.server, timeout=30.0, verify=self.tls)

    async def setup(self) -> None:
        r = await self.http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                             "metadata": {"name": NS}})
        if r.status_code not in (200, 201, 409):
            raise RuntimeError(f"cannot create namespace {NS}: {r.status_code} {r.text[:300]}")
        r = await self.http.post(f"/api/v1/namespaces/{NS}/serviceaccounts", json={
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": NS}})
        if r.status_code not in (200, 201, 409):
            raise RuntimeError(f"cannot create the default ServiceAccount: {r.status_code} {r.text[:300]}")

    async def create(self, name: str, worker: int = 0) -> None:
        path = f"/api/v1/namespaces/{NS}/pods"
        if self.raw is not None:
            status, text = await self.raw[worker].request("POST", path, json.dumps(pod(name)).encode())
        else:
            r = await self.pool[worker].post(path, json=pod(name))
            status, text = r.status_code, r.content
        if status != 201 and status != 200:
            raise RuntimeError(f"create: {status} {text[:300]!r}")

    async def get(self, name: str, worker: int = 0) -> None:
        path = f"/api/v1/namespaces/{NS}/pods/{name}"
        if self.raw is not None:
            status, text = await self.raw[worker].request("GET", path)
        else:
            r = await self.pool[worker].get(path)
            status, text = r.status_code, r.content
        if status != 200:
            raise RuntimeError(f"get: {status} {text[:300]!r}")

    async def schedule(self, name: str, worker: int = 0) -> None:
        """What one scheduled pod costs the API server: create, binding, Scheduled event."""
        await self.create(name, worker)
        for path, body in ((f"pods/{name}/binding", binding(name)), ("events", event(name))):
            url = f"/api/v1/namespaces/{NS}/{path}"
            if self.raw is not None:
                status, text = await self.raw[worker].request("POST", url, json.dumps(body).encode())
            else:
                r = await self.pool[worker].post(url, json=body)
                status, text = r.status_code, r.content
            if status != 201:
                raise RuntimeError(f"{path}: {status} {text[:300]!r}")

    async def list_rv(self) -> int:
        r = await self.http.get(f"/api/v1/namespaces/{NS}/pods", params={"limit": 1})
        r.raise_for_status()
        return int(r.json()["metadata"]["resourceVersion"])

    async def watch(self, rv: int, ready: asyncio.Event, got: Callable[[], None], i: int = 0) -> None:
        # Watchers get clients of their own, fresh per fan-out run: a kept-alive connection
        # from the CRUD phases may be closed by the server just as it is reused.
        while len(self.watch_pool) <= i // 10:
            self.watch_pool.append(self._client())
        params = {"watch": "1", "resourceVersion": str(rv), "timeoutSeconds": "60"}
        for attempt in range(3):
            try:
                async with self.watch_pool[i // 10].stream(
                        "GET", f"/api/v1/namespaces/{NS}/pods", params=params,
                        timeout=httpx.Timeout(90.0)) as r:
                    if r.status_code != 200:
                        raise RuntimeError(f"watch: {r.status_code} {(await r.aread())[:300]!r}")
                    ready.set()
                    async for line in r.aiter_lines():
                        if line.strip() and json.loads(line).get("type") == "ADDED":
                            got()
                            return
            except httpx.TransportError:
                if ready.is_set() or attempt == 2:
                    raise

    async def reset_watchers(self) -> None:
        for c in self.watch_pool:
            await c.aclose()
        self.watch_pool = []

    async def close(self) -> None:
        await self.reset_watchers()
        for c in self.pool:
            await c.aclose()
        for raw in self.raw or []:
            await raw.close()


class StorageTarget:
    def __init__(self, storage: EtcdStorage) -> None:
        self.s = storage

    async def setup(self) -> None:
        await self.s.watch_cache("/registry/pods/").start()

    async def create(self, name: str, worker: int = 0) -> None:
        await self.s.create(keys.object_key("pods", name, NS), pod(name))

    async def get(self, name: str, worker: int = 0) -> None:
        await self.s.get(keys.object_key("pods", name, NS))

    async def schedule(self, name: str, worker: int = 0) -> None:
        await self.create(name, worker)

        async def bind(cur: dict[str, Any]) -> dict[str, Any]:
            cur["spec"]["nodeName"] = "node-1"
            return cur

        await self.s.guaranteed_update(keys.object_key("pods", name, NS), bind)
        await self.s.create(keys.object_key("events", f"{name}.sched", NS), event(name))

    async def list_rv(self) -> int:
        return await self.s.current_revision()

    async def watch(self, rv: int, ready: asyncio.Event, got: Callable[[], None], i: int = 0) -> None:
        it = self.s.watch(keys.collection_prefix("pods", NS), from_rv=rv)
        ready.set()
        async for ev in it:
            if ev.type == "ADDED":
                got()
                return

    async def close(self) -> None:
        pass


class EtcdTarget:
    """The same operations, straight on etcd: a create txn / a get of the same JSON bytes."""

    def __init__(self, client: aetcd.Client, prefix: str) -> None:
        self.c = client
        self.prefix = prefix

    async def setup(self) -> None:
        pass

    async def create(self, name: str, worker: int = 0) -> None:
        key = f"{self.prefix}{name}".encode()
        t = self.c.transactions
        ok, _ = await self.c.transaction(compare=[t.create(key) == 0],
                                         success=[t.put(key, json.dumps(pod(name)).encode())], failure=[])
        if not ok:
            raise RuntimeError("etcd create failed")

    async def get(self, name: str, worker: int = 0) -> None:
        if await self.c.get(f"{self.prefix}{name}".encode()) is None:
            raise RuntimeError("etcd get: missing")

    async def schedule(self, name: str, worker: int = 0) -> None:
        """The etcd floor of a scheduled pod: create txn, compare-and-put, event create txn."""
        key = f"{self.prefix}{name}".encode()
        t = self.c.transactions
        ok, _ = await self.c.transaction(compare=[t.create(key) == 0],
                                         success=[t.put(key, json.dumps(pod(name)).encode())], failure=[])
        cur = await self.c.get(key)
        bound = {**pod(name), "spec": {**pod(name)["spec"], "nodeName": "node-1"}}
        ok2, _ = await self.c.transaction(compare=[t.mod(key) == cur.mod_revision],
                                          success=[t.put(key, json.dumps(bound).encode())], failure=[])
        ekey = f"{self.prefix}{name}.sched".encode()
        ok3, _ = await self.c.transaction(compare=[t.create(ekey) == 0],
                                          success=[t.put(ekey, json.dumps(event(name)).encode())], failure=[])
        if not (ok and ok2 and ok3):
            raise RuntimeError("etcd schedule failed")

    async def list_rv(self) -> int:
        r = await self.c.get(b"/nothing")
        return 0 if r is None else int(r.mod_revision)

    async def watch(self, rv: int, ready: asyncio.Event, got: Callable[[], None], i: int = 0) -> None:
        events = await self.c.watch_prefix(self.prefix.encode())
        ready.set()
        async for _ in events:
            got()
            await events.cancel()
            return

    async def close(self) -> None:
        pass
