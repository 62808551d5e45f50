"""The kubelet's own HTTP API (what the API server proxies `logs`/`exec` to).

Endpoints (HTTPS on --address:--port, default port 10250; every caller authenticated by its client
certificate and authorized per path by kubelet/auth.py, wired in kubelet/main.py `https_config`):
- `GET /healthz` -> "ok"
- `GET /containerLogs/{ns}/{pod}/{container}?follow=&tailLines=&sinceSeconds=&timestamps=&previous=`
  text/plain, streamed while `follow` and the container runs; 404 when the pod or container
  is unknown on this node, 400 for `previous` without a previous instance.
- `POST|GET /exec/{ns}/{pod}/{container}?command=a&command=b[&timeoutSeconds=]`
  -> `{"stdout", "stderr", "exitCode"}` (non-interactive, like `kubectl exec` without -it).
- WebSocket `/exec/..`, `/attach/{ns}/{pod}/{container}`, `/portforward/{ns}/{pod}`: interactive
  streams in Kubernetes' channel protocols (kubelet/streaming.py), relayed by the API server.
- `GET /stats/summary` Kubernetes' Summary API from the node's one `StatsSampler` (kubelet/stats.py).
- `GET /metrics` Prometheus exposition (kubelet/metrics.py): pod start latency, container CPU and
  memory as cAdvisor names them, running pods/containers, restarts.
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
from kubelet import metrics as kubelet_metrics
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
from kubelet.stats import StatsSampler
from machinery.clock import format_micro_time


def _status(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=code, content={"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                   "message": message, "reason": reason, "code": code})


def since_ts(seconds: int) -> str:
    """A CRI-comparable RFC3339Nano timestamp `seconds` ago."""
    t = datetime.fromtimestamp(time.time() - seconds, UTC)
    return format_micro_time(t).removesuffix("Z") + "000Z"  # nanoseconds, as the CRI writes them


def create_app(manager: PodManager, sampler: StatsSampler | None = None) -> FastAPI:  # noqa: C901 - one flat sequence of cases, read best in one place
    cfg, runtime = manager.cfg, manager.runtime
    app = FastAPI(title="kubelite kubelet", docs_url=None, redoc_url=None, openapi_url=None)
    streaming.register(app, runtime, cluster=cfg.cluster, node=cfg.node)
    if sampler is None:
        sampler = StatsSampler(runtime, cluster=cfg.cluster, node=cfg.node, log_dir=cfg.log_dir)

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
        return await sampler.summary()

    @app.get("/metrics")
    async def metrics() -> Response:
        mine = await runtime.list_containers({LABEL_CLUSTER: cfg.cluster, LABEL_NODE: cfg.node})
        body = kubelet_metrics.render(mine, sampler, workers=len(manager.workers))
        return Response(content=body, media_type=kubelet_metrics.CONTENT_TYPE)

    return app

