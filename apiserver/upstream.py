"""What the API server relays to other servers (kubelets, Services' endpoints, the metrics
add-on): one HTTP client per app and the streaming relay.

Contract:
- `client(app)`: the app's one `httpx.AsyncClient` (connection pools shared by every relayed
  request; created on first use, in the app's event loop; connect timeout CONNECT_TIMEOUT_S,
  no read timeout unless a request sets one). Building a client per request would build an SSL
  context each time: tens of ms of CPU on the event loop.
- `kubelet_client(app)`: the same for kubelets: HTTPS presenting `--kubelet-client-certificate`/
  `--kubelet-client-key` and verifying the kubelet's serving certificate against
  `--kubelet-certificate-authority` (without it: not verified, as Kubernetes); `kubelet_ssl(app)`
  is that SSLContext (the WebSocket relay of exec/attach/port-forward uses it too).
- `open_stream(app, method, url, ..., kubelet=False)`: sends the request (with the kubelet client
  when `kubelet`) and returns the upstream response with its body not yet read (raises
  `httpx.HTTPError` when the upstream is unreachable).
- `relay(resp)`: the body as an async iterator that ends quietly if the upstream goes away
  mid-stream, and always closes the response.
- `close(app)`: closes the clients (API server shutdown).
- `storage(request)`: the storage of the app serving `request` (`ctx.storage`, or
  `app.state.storage` for the routers' unit tests).
"""

from __future__ import annotations

import ssl
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


def kubelet_ssl(app: Any) -> ssl.SSLContext:
    ctx: ssl.SSLContext | None = getattr(app.state, "kubelet_ssl", None)
    if ctx is None:
        config = getattr(getattr(app.state, "ctx", None), "config", None)
        ca = getattr(config, "kubelet_certificate_authority", None)
        cert = getattr(config, "kubelet_client_certificate", None)
        key = getattr(config, "kubelet_client_key", None)
        ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        if not ca:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(cert, key or cert)
        app.state.kubelet_ssl = ctx
    return ctx


def kubelet_client(app: Any) -> httpx.AsyncClient:
    http: httpx.AsyncClient | None = getattr(app.state, "kubelet_http", None)
    if http is None:
        http = httpx.AsyncClient(timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=None), trust_env=False,
                                 verify=kubelet_ssl(app),
                                 limits=httpx.Limits(max_connections=None, max_keepalive_connections=32))
        app.state.kubelet_http = http
    return http


async def open_stream(app: Any, method: str, url: str, *, params: Any = None, content: bytes | None = None,
                      headers: dict[str, str] | None = None, timeout_s: float | None = None,
                      kubelet: bool = False) -> httpx.Response:
    http = kubelet_client(app) if kubelet else client(app)
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
    for attr in ("upstream_http", "kubelet_http"):
        http: httpx.AsyncClient | None = getattr(app.state, attr, None)
        if http is not None:
            setattr(app.state, attr, None)
            await http.aclose()


def storage(request: Request) -> Any:
    ctx = getattr(request.app.state, "ctx", None)
    found = getattr(ctx, "storage", None) if ctx is not None else None
    return found if found is not None else request.app.state.storage
