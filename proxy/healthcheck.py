"""healthCheckNodePort servers: kube-proxy's per-Service health checks for external load balancers.

Contract:
- `health_targets(services, slices, node_name) -> {port: Target}`: every LoadBalancer Service
  with externalTrafficPolicy Local and a `spec.healthCheckNodePort` (allocated by the API
  server), with the number of THIS node's ready endpoints (unique addresses over the
  Service's ports, as kube-proxy's LocalReadyEndpoints).
- `HealthServers(bind_address)`: `await update(targets, healthy)` opens a listener on
  `bind_address:port` for each new target, closes the ones no longer wanted and updates the
  counts of the others (no listener is restarted for a count change). A port that cannot be
  bound is logged and retried at the next update; `await close()` closes them all.
- Each listener answers any HTTP request like kube-proxy: 200 when the Service has local
  endpoints and the proxy is healthy, else 503; headers `Content-Type: application/json`,
  `X-Content-Type-Options: nosniff`, `X-Load-Balancing-Endpoint-Weight: <count>`; body
  `{"service": {"namespace", "name"}, "localEndpoints": N, "serviceProxyHealthy": bool}`
  (tab-indented, as kube-proxy prints it). A load balancer thus sends external traffic only
  to nodes that would not drop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from machinery.endpointslices import service_key_of
from machinery.models import EndpointSlice, Service

log = logging.getLogger("proxy.healthcheck")
MAX_REQUEST_BYTES = 8192


@dataclass(frozen=True)
class Target:
    namespace: str
    name: str
    local_endpoints: int


def health_targets(services: Iterable[Service], slices: Iterable[EndpointSlice],
                   node_name: str | None) -> dict[int, Target]:
    local: dict[str, set[str]] = {}
    for es in slices:
        for ep in es.endpoints or []:
            ready = ep.conditions is None or ep.conditions.ready is not False
            if ready and node_name is not None and ep.nodeName == node_name:
                local.setdefault(service_key_of(es), set()).update(ep.addresses)
    out: dict[int, Target] = {}
    for svc in services:
        spec = svc.spec
        if spec is None or spec.type != "LoadBalancer" or spec.externalTrafficPolicy != "Local":
            continue
        if spec.healthCheckNodePort:
            out[spec.healthCheckNodePort] = Target(svc.namespace or "default", svc.name,
                                                   len(local.get(svc.key, set())))
    return out


def response(target: Target, healthy: bool) -> bytes:
    count = target.local_endpoints
    ok = count > 0 and healthy
    body = (f'{{\n\t"service": {{\n\t\t"namespace": "{target.namespace}",\n\t\t"name": "{target.name}"\n\t}},\n'
            f'\t"localEndpoints": {count},\n\t"serviceProxyHealthy": {"true" if healthy else "false"}\n}}')
    data = body.encode()
    status = "200 OK" if ok else "503 Service Unavailable"
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
            f"X-Load-Balancing-Endpoint-Weight: {count}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n")
    return head.encode() + data


class HealthServers:
    def __init__(self, bind_address: str = "0.0.0.0") -> None:
        self.bind_address = bind_address
        self.targets: dict[int, Target] = {}
        self.healthy = True
        self.servers: dict[int, asyncio.Server] = {}

    async def update(self, targets: dict[int, Target], healthy: bool = True) -> None:
        self.targets = dict(targets)
        self.healthy = healthy
        for port in sorted(set(self.servers) - set(targets)):
            server = self.servers.pop(port)
            server.close()
            await server.wait_closed()
            log.info("closed health check port %d", port)
        for port in sorted(set(targets) - set(self.servers)):
            try:
                self.servers[port] = await asyncio.start_server(self._make_handler(port), self.bind_address, port)
            except OSError as exc:
                log.error("health check port %s:%d for %s/%s: %s (retried at the next sync)", self.bind_address,
                          port, targets[port].namespace, targets[port].name, exc)
                continue
            log.info("serving health checks of %s/%s on %s:%d", targets[port].namespace, targets[port].name,
                     self.bind_address, port)

    def _make_handler(self, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
                target = self.targets.get(port)
                if target is not None:
                    writer.write(response(target, self.healthy))
                    await writer.drain()
            except (OSError, TimeoutError):
                pass  # the client went away or never finished its request
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

        return handle

    async def close(self) -> None:
        await self.update({})


__all__ = ["HealthServers", "Target", "health_targets", "response"]
