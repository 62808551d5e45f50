"""The kubelet's own HTTP API (what the API server proxies `logs`/`exec` to).

Endpoints (all plain HTTP on --address:--port, default port 10250):
- `GET /healthz` -> "ok"
- `GET /containerLogs/{ns}/{pod}/{container}?follow=&tailLines=&sinceSeconds=&timestamps=&previous=`
  text/plain, streamed while `follow` and the container runs; 404 when the pod or container
  is unknown on this node, 400 for `previous` without a previous instance.
- `POST|GET /exec/{ns}/{pod}/{container}?command=a&command=b[&timeoutSeconds=]`
  -> `{"stdout", "stderr", "exitCode"}` (non-interactive, like `kubectl exec` without -it).
- WebSocket `/exec/..`, `/attach/{ns}/{pod}/{container}`, `/portforward/{ns}/{pod}`: interactive
  streams in Kubernetes' channel protocols (kubelet/streaming.py), relayed by the API server.
- `GET /stats/summary` cAdvisor-like figures from `docker stats` (one shot per container).
- `GET /metrics` Prometheus text.
Errors are Kubernetes Status objects.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from kubelet import logs, streaming
from kubelet.pods import PodManager
from kubelet.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_NODE,
    LABEL_NS,
    LABEL_POD,
    LABEL_UID,
    ContainerInfo,
)
from machinery.clock import format_micro_time


def _status(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=code, content={"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                   "message": message, "reason": reason, "code": code})


def since_ts(seconds: int) -> str:
    """A CRI-comparable RFC3339Nano timestamp `seconds` ago."""
    t = datetime.fromtimestamp(time.time() - seconds, UTC)
    return format_micro_time(t).removesuffix("Z") + "000Z"  # nanoseconds, as the CRI writes them


def create_app(manager: PodManager) -> FastAPI:  # noqa: C901 - one flat sequence of cases, read best in one place
    cfg, runtime = manager.cfg, manager.runtime
    app = FastAPI(title="kubelite kubelet", docs_url=None, redoc_url=None, openapi_url=None)
    started = time.time()
    streaming.register(app, runtime, cluster=cfg.cluster, node=cfg.node)

    async def instances(ns: str, pod: str, container: str) -> list[ContainerInfo]:
        found = await runtime.list_containers({LABEL_CLUSTER: cfg.cluster, LABEL_NODE: cfg.node, LABEL_NS: ns,
                                               LABEL_POD: pod, LABEL_CONTAINER: container})
        return sorted(found, key=lambda i: i.restarts)

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    @app.get("/containerLogs/{ns}/{pod}/{container}")
    async def container_logs(ns: str, pod: str, container: str, follow: bool = False,
                             tailLines: int | None = None, sinceSeconds: int | None = None,
                             timestamps: bool = False, previous: bool = False) -> Response:
        insts = await instances(ns, pod, container)
        if not insts:
            return _status(404, "NotFound", f'container "{container}" in pod "{pod}" is not available on node {cfg.node}')
        cur = insts[-1]
        restart = cur.restarts
        if previous:
            prev = [i for i in insts if i.restarts < cur.restarts]
            if not prev:
                return _status(400, "BadRequest", f'previous terminated container "{container}" in pod "{pod}" not found')
            restart = prev[-1].restarts
        uid = cur.labels.get(LABEL_UID, "")
        path: Path = logs.container_log_path(cfg.log_dir, ns, pod, uid, container, restart)
        since = since_ts(sinceSeconds) if sinceSeconds else None
        if not cur.running:
            await manager.copiers.wait(cur.id, 0.3)  # let the copier drain the last lines
        if not follow or previous:
            body = await asyncio.to_thread(logs.read_log, path, tail_lines=tailLines, since=since, timestamps=timestamps)
            return Response(content=body, media_type="text/plain")

        async def still_running() -> bool:
            info = await runtime.inspect(cur.id)
            return info is not None and info.running

        stream = logs.follow_log(path, tail_lines=tailLines, since=since, timestamps=timestamps,
                                 still_running=still_running)
        return StreamingResponse(stream, media_type="text/plain")

    @app.api_route("/exec/{ns}/{pod}/{container}", methods=["GET", "POST"])
    async def exec_(ns: str, pod: str, container: str, command: list[str] = Query(default=[]),
                    timeoutSeconds: float = 60.0) -> Response:
        if not command:
            return _status(400, "BadRequest", "command is required (command=...&command=...)")
        running = [i for i in await instances(ns, pod, container) if i.running]
        if not running:
            return _status(404, "NotFound", f'container "{container}" in pod "{pod}" is not running on node {cfg.node}')
        try:
            res = await runtime.exec(running[-1].id, command, timeoutSeconds)
        except TimeoutError:
            return _status(504, "Timeout", f"exec did not finish within {timeoutSeconds:g}s")
        except Exception as exc:  # noqa: BLE001 - Docker refused (e.g. executable not found): say so plainly
            return _status(400, "BadRequest", f"exec failed: {exc}")
        return JSONResponse({"stdout": res.stdout.decode(errors="replace"),
                             "stderr": res.stderr.decode(errors="replace"), "exitCode": res.exit_code})

    @app.get("/stats/summary")
    async def stats_summary() -> dict[str, Any]:
        mine = await runtime.list_containers({LABEL_CLUSTER: cfg.cluster, LABEL_NODE: cfg.node})
        running = [c for c in mine if c.running]
        raw = await asyncio.gather(*(runtime.stats(c.id) for c in running), return_exceptions=True)
        pods: dict[str, dict[str, Any]] = {}
        for c, st in zip(running, raw, strict=True):
            if isinstance(st, BaseException):
                continue
            uid = c.labels.get(LABEL_UID, "")
            entry = pods.setdefault(uid, {"podRef": {"name": c.labels.get(LABEL_POD), "namespace": c.labels.get(LABEL_NS),
                                                     "uid": uid}, "containers": []})
            entry["containers"].append(container_stats(c, st))
        return {"node": {"nodeName": cfg.node, "startTime": datetime.fromtimestamp(started, UTC).isoformat()},
                "pods": list(pods.values())}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        mine = await runtime.list_containers({LABEL_CLUSTER: cfg.cluster, LABEL_NODE: cfg.node})
        running = [c for c in mine if c.running]
        lines = [
            "# HELP kubelet_running_pods Number of pods that have a running sandbox.",
            "# TYPE kubelet_running_pods gauge",
            f"kubelet_running_pods {sum(1 for c in running if c.labels.get(LABEL_CONTAINER) == 'POD')}",
            "# HELP kubelet_running_containers Number of running containers (sandboxes excluded).",
            "# TYPE kubelet_running_containers gauge",
            f'kubelet_running_containers{{container_state="running"}} {sum(1 for c in running if c.labels.get(LABEL_CONTAINER) != "POD")}',
            f'kubelet_running_containers{{container_state="exited"}} {sum(1 for c in mine if not c.running)}',
            "# HELP kubelet_pod_workers Number of pod workers.",
            "# TYPE kubelet_pod_workers gauge",
            f"kubelet_pod_workers {len(manager.workers)}",
            "# HELP kubelet_container_restarts_total Restart count per container.",
            "# TYPE kubelet_container_restarts_total counter",
        ]
        latest: dict[tuple[str, str, str], int] = {}
        for c in mine:
            k = (c.labels.get(LABEL_NS, ""), c.labels.get(LABEL_POD, ""), c.labels.get(LABEL_CONTAINER, ""))
            if k[2] != "POD":
                latest[k] = max(latest.get(k, 0), c.restarts)
        for (ns, pod, name), n in sorted(latest.items()):
            lines.append(f'kubelet_container_restarts_total{{namespace="{ns}",pod="{pod}",container="{name}"}} {n}')
        return "\n".join(lines) + "\n"

    return app


def container_stats(c: ContainerInfo, st: dict[str, Any]) -> dict[str, Any]:
    """One `docker stats` sample -> the summary API's container entry."""
    cpu = st.get("cpu_stats") or {}
    pre = st.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage", 0)
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    ncpu = cpu.get("online_cpus") or 1
    nano_cores = int((total - pre_total) / sys_delta * ncpu * 1e9) if sys_delta > 0 and pre_total else 0
    mem = st.get("memory_stats") or {}
    usage = mem.get("usage", 0)
    inactive = (mem.get("stats") or {}).get("inactive_file", 0)
    return {"name": c.labels.get(LABEL_CONTAINER), "startTime": c.started_at,
            "cpu": {"time": st.get("read"), "usageNanoCores": nano_cores, "usageCoreNanoSeconds": total},
            "memory": {"time": st.get("read"), "usageBytes": usage, "workingSetBytes": max(0, usage - inactive)}}
