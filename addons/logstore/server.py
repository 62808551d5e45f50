"""The log store's HTTP API (FastAPI), in front of any `LogStore`.

Contract (`make_app(store, *, prune_every_s=60.0)`):
- `POST /v1/push` body `{"streams": [...]}` (machinery.logwire) -> 200 `{"accepted": N,
  "duplicates": M}`; a malformed body is a 400 Status naming the field, nothing stored.
- `GET /v1/search?grep=&namespace=&pod=&container=&node=&labelSelector=&sinceSeconds=&sinceTime=
  &untilTime=&limit=` -> `{"kind": "LogRecordList", "items": [...], "truncated": bool}`;
  an unparsable selector, time or limit is a 400 Status.
- `GET /healthz` -> "ok"; `GET /v1/stats` -> `{"lines": N, "bytes": B}`.
- Retention runs every `prune_every_s` in the background while the app is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from addons.logstore.store import MAX_LIMIT, LogStore, Query, SqliteStore
from machinery import errors
from machinery.logwire import Stream, ts_to_ns
from machinery.selectors import parse_label_selector

log = logging.getLogger("logstore")


def _bad(message: str) -> JSONResponse:
    return JSONResponse(errors.BadRequest(message).to_status(), status_code=400)


def parse_query(params: dict[str, str], *, now_s: float) -> Query:
    """The search parameters -> Query (ValueError with a user-facing message)."""
    q = Query(grep=params.get("grep", ""))
    for key in ("namespace", "pod", "container", "node"):
        if params.get(key):
            setattr(q, key, params[key])
    if params.get("labelSelector"):
        q.selector = parse_label_selector(params["labelSelector"])
    if params.get("sinceSeconds"):
        try:
            since_s = int(params["sinceSeconds"])
        except ValueError:
            raise ValueError("sinceSeconds: must be an integer") from None
        if since_s < 0:
            raise ValueError("sinceSeconds: must be >= 0")
        q.since_ns = int((now_s - since_s) * 1e9)
    if params.get("sinceTime"):
        q.since_ns = ts_to_ns(params["sinceTime"])
    if params.get("untilTime"):
        q.until_ns = ts_to_ns(params["untilTime"])
    if params.get("limit"):
        try:
            q.limit = int(params["limit"])
        except ValueError:
            raise ValueError("limit: must be an integer") from None
        if not 0 < q.limit <= MAX_LIMIT:
            raise ValueError(f"limit: must be between 1 and {MAX_LIMIT}")
    return q


def make_app(store: LogStore, *, prune_every_s: float = 60.0) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_prune_loop(store, prune_every_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="kubelite log store", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.post("/v1/push")
    async def push(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _bad("body: not JSON")
        raw = body.get("streams") if isinstance(body, dict) else None
        if not isinstance(raw, list):
            return _bad("streams: required list")
        try:
            streams = [Stream.from_wire(s) for s in raw]
        except ValueError as exc:
            return _bad(str(exc))
        result = await asyncio.to_thread(store.append, streams)
        return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates})

    @app.get("/v1/search")
    async def search(request: Request) -> JSONResponse:
        try:
            q = parse_query(dict(request.query_params), now_s=time.time())
        except ValueError as exc:
            return _bad(str(exc))
        records, truncated = await asyncio.to_thread(store.search, q)
        return JSONResponse({"kind": "LogRecordList", "apiVersion": "v1",
                             "items": [r.to_wire() for r in records], "truncated": truncated})

    @app.get("/v1/stats")
    async def stats() -> dict[str, Any]:
        if isinstance(store, SqliteStore):
            return {"lines": await asyncio.to_thread(store.count), "bytes": await asyncio.to_thread(store.stored_bytes)}
        return {}

    return app


async def _prune_loop(store: LogStore, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            removed = await asyncio.to_thread(store.prune, time.time_ns())
        except Exception:
            log.exception("retention pass failed; retrying at the next one")
            continue
        if removed:
            log.info("retention removed %d lines", removed)
