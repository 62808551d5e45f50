"""The Service `proxy` subresource: HTTP to a Service's endpoints through the API server, as
Kubernetes' `/api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}` (how users and
UIs reach in-cluster add-ons such as the log store with the API server's authentication).

Contract: `router: fastapi.APIRouter`, mounted by `python -m apiserver`.
- Any method; the query string, body and content headers go to the chosen endpoint unchanged;
  the answer (status, content type, body) comes back streamed (server-sent events and
  long polls work). The client's Authorization header is never forwarded.
- `port` is a Service port name or number (optional when the Service has one port); the
  endpoint address is the first ready address of the Endpoints object with that port name.
- Errors are Status objects: 404 Service not found, 503 `no endpoints available for service
  "NAME"`, 503 when the endpoint does not answer, 400 for an unknown port or a scheme other
  than http. As in Kubernetes (proxyutil.IsProxyableIP) loopback, link-local and unspecified
  addresses are refused (503 `address not allowed`): the proxy must not reach the API
  server's own host services.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from apiserver import upstream
from apiserver.handlers_common import storage_key
from machinery import errors
from machinery.models import Endpoints, Service

router = APIRouter()
_FORWARDED_HEADERS = ("content-type", "accept", "accept-encoding", "last-event-id", "cache-control")


def parse_target(target: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]` -> (scheme, name, port) as Kubernetes' SplitSchemeNamePort."""
    parts = target.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise errors.BadRequest(f"invalid service request {target!r}")


def proxyable(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_link_local or addr.is_unspecified or addr.is_multicast)


def _service_port(svc: dict[str, Any], name: str, port: str) -> str:
    """The name of the Service port asked for ("" when the port is unnamed)."""
    ports = (svc.get("spec") or {}).get("ports") or []
    if not port:
        if len(ports) != 1:
            raise errors.BadRequest(f'a port must be given for service "{name}" with {len(ports)} ports')
        return str(ports[0].get("name") or "")
    for p in ports:
        if p.get("name") == port or str(p.get("port")) == port:
            return str(p.get("name") or "")
    raise errors.BadRequest(f'no port "{port}" on service "{name}"')


def _endpoint(eps: dict[str, Any], name: str, port_name: str) -> str:
    for subset in eps.get("subsets") or []:
        ports = [p for p in subset.get("ports") or [] if (p.get("name") or "") == port_name]
        if not ports:
            continue
        for addr in subset.get("addresses") or []:
            ip = str(addr.get("ip") or "")
            if not proxyable(ip):
                raise errors.ServiceUnavailable(f"address not allowed: {ip}")
            host = f"[{ip}]" if ":" in ip else ip
            return f"http://{host}:{int(ports[0]['port'])}"
    raise errors.ServiceUnavailable(f'no endpoints available for service "{name}"')


async def resolve(request: Request, ns: str, target: str) -> str:
    scheme, name, port = parse_target(target)
    if scheme not in ("", "http"):
        raise errors.BadRequest(f"scheme {scheme!r} is not supported (http only)")
    storage = upstream.storage(request)
    try:
        svc = dict(await storage.get(storage_key(Service, name, ns)))
    except errors.NotFound:
        raise errors.NotFound(f'services "{name}" not found', name=name, kind="services") from None
    port_name = _service_port(svc, name, port)
    try:
        eps = dict(await storage.get(storage_key(Endpoints, name, ns)))
    except errors.NotFound:
        raise errors.ServiceUnavailable(f'no endpoints available for service "{name}"') from None
    return _endpoint(eps, name, port_name)


@router.api_route("/api/v1/namespaces/{ns}/services/{target}/proxy",
                  methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@router.api_route("/api/v1/namespaces/{ns}/services/{target}/proxy/{path:path}",
                  methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def service_proxy(request: Request, ns: str, target: str, path: str = "") -> Response:
    base = await resolve(request, ns, target)
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_HEADERS}
    try:
        resp = await upstream.open_stream(request.app, request.method, f"{base}/{path}",
                                          params=list(request.query_params.multi_items()),
                                          content=await request.body(), headers=headers)
    except httpx.HTTPError as exc:
        raise errors.ServiceUnavailable(f"error trying to reach service: {exc}") from None

    keep = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "cache-control", "content-encoding")}
    return StreamingResponse(upstream.relay(resp), status_code=resp.status_code, headers=keep)
