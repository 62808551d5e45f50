"""What the API server relays to other servers (kubelets, Services' endpoints, the metrics
add-on): one HTTP client per app and the streaming relay.

Contract:
- `client(app)`: the app's one `httpx.AsyncClient` (connection pools shared by every relayed
  request; created on first use, in the app's event loop; connect timeout CONNECT_TIMEOUT_S,
  no read timeout unless a request sets one). Building a client per request would build an SSL
  context each time: tens of ms of CPU on the event loop.
- `open_stream(app, method, url, ...)`: sends the request and returns the upstream response
  with its body not yet read (raises `httpx.HTTPError` when the upstream is unreachable).
- `relay(resp)`: the body as an async iterator that ends quietly if the upstream goes away
  mid-stream, and always closes the response.
- `close(app)`: closes the client (API server shutdown).
- `storage(request)`: the storage of the app serving `request` (`ctx.storage`, or
  `app.state.storage` for the routers' unit tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Request

CONNECT_TIMEOUT_S = 10.0


def client(app: Any) -> httpx.AsyncClient:
    http: httpx.AsyncClient | None = getattr(app.state, "upstream_http", None)
    if http is None:
        http = httpx.AsyncClient(timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=None), trust_env=False,
                                 limits=httpx.Limits(max_connections=None, max_keepalive_connections=32))
        app.state.upstream_http = http
    return http


async def open_stream(app: Any, method: str, url: str, *, params: Any = None, content: bytes | None = None,
                      headers: dict[str, str] | None = None, timeout_s: float | None = None) -> httpx.Response:
    http = client(app)
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=timeout_s) if timeout_s is not None else httpx.USE_CLIENT_DEFAULT
    req = http.build_request(method, url, params=params, content=content, headers=headers, timeout=timeout)
    return await http.send(req, stream=True)


async def relay(resp: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    except httpx.HTTPError:
        return  # the upstream went away mid-stream: end the answer
    finally:
        await resp.aclose()


async def close(app: Any) -> None:
    http: httpx.AsyncClient | None = getattr(app.state, "upstream_http", None)
    if http is not None:
        app.state.upstream_http = None
        await http.aclose()


def storage(request: Request) -> Any:
    ctx = getattr(request.app.state, "ctx", None)
    found = getattr(ctx, "storage", None) if ctx is not None else None
    return found if found is not None else request.app.state.storage
