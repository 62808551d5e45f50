"""`kubelite port-forward TYPE/NAME [LOCAL:]REMOTE...`: kubectl's port-forward.

Contract, as kubectl (pkg/cmd/portforward + client-go tools/portforward):
- TYPE/NAME is a pod (`NAME`, `pod/NAME`) or an object with a selector (svc, deploy, rs, sts,
  ...), whose first active pod is used. A Service's port (number or name) is translated to
  its targetPort (a named targetPort through the pod's container ports); a pod's named
  port to its number. `8080:80`, `80` (same local port), `:80` (a free local port).
- Listens on `--address` (default `localhost`: 127.0.0.1 and ::1 when available; never
  anything else unless asked), printing `Forwarding from 127.0.0.1:8080 -> 80` per address and
  port, and `Handling connection for 8080` per accepted connection. The pod must be Running
  (`unable to forward port because pod is not running. Current status=Pending`).
- Each accepted connection is its own `pods/NAME/portforward?ports=REMOTE` WebSocket
  (`v4.channel.k8s.io`: data on channel 0, errors on 1, each opened by a 2-byte port header);
  bytes are copied both ways until either side ends. An error from the pod side is printed
  (`error: an error occurred forwarding 8080 -> 80: ...`) and only that connection ends.
- Runs until Ctrl-C (exit 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed

from cli.errors import CliError
from cli.logs_multi import by_logging
from cli.session import Globals, obj_path, open_client, resolve_kind
from machinery import channels, errors
from machinery.client import ApiClient
from machinery.selectors import selector_from_map, selector_from_model

Obj = dict[str, Any]
CHUNK = 32 * 1024


@dataclass(frozen=True)
class PortPair:
    local: int
    remote: int


def split_port(spec: str) -> tuple[str, str]:
    local, sep, remote = spec.partition(":")
    return (local, remote) if sep else (spec, spec)


def _named_container_port(pod: Obj, name: str) -> int:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name:
                return int(p["containerPort"])
    raise CliError(f"Pod '{(pod.get('metadata') or {}).get('name')}' does not have a named port '{name}'")


def pod_ports(specs: list[str], pod: Obj) -> list[tuple[str, int]]:
    """convertPodNamedPortToNumber: (local as typed, remote number)."""
    out = []
    for spec in specs:
        local, remote = split_port(spec)
        if not remote:
            raise CliError("remote port cannot be empty")
        number = int(remote) if remote.isdigit() else _named_container_port(pod, remote)
        out.append((str(number) if local == remote else local, number))
    return out


def service_ports(specs: list[str], svc: Obj, pod: Obj) -> list[tuple[str, int]]:
    """translateServicePortToTargetPort."""
    ports = (svc.get("spec") or {}).get("ports") or []
    name = (svc.get("metadata") or {}).get("name")
    out = []
    for spec in specs:
        local, remote = split_port(spec)
        if remote.isdigit():
            number = int(remote)
        else:
            match = [p for p in ports if p.get("name") == remote]
            if not match:
                raise CliError(f"Service '{name}' does not have a named port '{remote}'")
            number = int(match[0]["port"])
            if local == remote:
                local = str(number)
        port = next((p for p in ports if int(p.get("port") or 0) == number), None)
        if port is None:
            raise CliError(f"Service {name} does not have a service port {number}")
        target = port.get("targetPort")
        if target in (None, 0, ""):
            container = number
        elif isinstance(target, int) or str(target).isdigit():
            container = int(target)
        else:
            container = _named_container_port(pod, str(target))
        out.append((local, container))
    return out


def parse_pairs(ports: list[tuple[str, int]]) -> list[PortPair]:
    pairs = []
    for local, remote in ports:
        if local == "":
            pairs.append(PortPair(0, remote))
            continue
        if not local.isdigit() or not 0 <= int(local) < 65536:
            raise CliError(f"Error parsing local port '{local}': invalid port")
        pairs.append(PortPair(int(local), remote))
    return pairs


async def target_pod(client: ApiClient, ns: str, target: str) -> tuple[Obj, Obj | None]:
    """(the pod, the Service when TYPE is svc)."""
    kind, sep, name = target.partition("/")
    cls = resolve_kind(kind) if sep else resolve_kind("pods")
    name = name if sep else target
    obj = await client.request("GET", obj_path(cls, name, ns))
    if cls.KIND == "Pod":
        return obj, None
    sel = (obj.get("spec") or {}).get("selector")
    if not sel:
        raise CliError(f"cannot attach to {cls.KIND}: selector for {cls.KIND} not implemented")
    text = str(selector_from_map(sel) if cls.KIND in ("Service", "ReplicationController") else selector_from_model(sel))
    page = await client.request("GET", f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": text})
    pods = sorted(page.get("items") or [], key=by_logging)
    if not pods:
        raise CliError("timed out waiting for the condition")
    return pods[0], obj if cls.KIND == "Service" else None


def listen_hosts(addresses: list[str]) -> list[str]:
    hosts: list[str] = []
    for item in addresses:
        for addr in item.split(","):
            addr = addr.strip()
            if addr == "localhost":
                hosts += ["127.0.0.1", "::1"]
            elif addr:
                hosts.append(addr)
    return hosts


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _copy_to_ws(reader: asyncio.StreamReader, ws: Any, protocol: str | None) -> None:
    while data := await reader.read(CHUNK):
        await ws.send(channels.encode(protocol, 0, data))


async def _forward(client: ApiClient, ns: str, pod: str, pair: PortPair, local_port: int,
                   reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    print(f"Handling connection for {local_port}", flush=True)
    try:
        ws = await client.websocket(f"/api/v1/namespaces/{ns}/pods/{pod}/portforward",
                                    params=[("ports", str(pair.remote))], subprotocols=[channels.V4])
    except errors.ApiError as exc:
        print(f"error: an error occurred forwarding {local_port} -> {pair.remote}: {exc.message}", file=sys.stderr,
              flush=True)
        writer.close()
        return
    async with ws:
        protocol = ws.subprotocol or channels.V4
        upload = asyncio.create_task(_copy_to_ws(reader, ws, protocol))
        seen_header = {0: False, 1: False}
        try:
            with contextlib.suppress(ConnectionClosed, ConnectionError):
                async for message in ws:
                    frame = channels.decode(protocol, message)
                    if frame is None or frame.channel not in seen_header:
                        continue
                    data = frame.data
                    if not seen_header[frame.channel]:  # the port number the stream starts with
                        seen_header[frame.channel] = True
                        data = data[2:]
                    if not data:
                        continue
                    if frame.channel == 1:
                        print(f"error: an error occurred forwarding {local_port} -> {pair.remote}: "
                              f"{data.decode(errors='replace')}", file=sys.stderr, flush=True)
                        break
                    writer.write(data)
                    await writer.drain()
        finally:
            upload.cancel()
            await asyncio.gather(upload, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


async def port_forward(g: Globals, args: list[str], *, addresses: list[str], ready: asyncio.Event | None = None) -> int:
    if len(args) < 2:
        raise CliError("TYPE/NAME and list of ports are required for port-forward\n"
                       "See 'kubelite port-forward -h' for help and examples")
    client, ns = open_client(g)
    async with client:
        pod, svc = await target_pod(client, ns, args[0])
        ports = service_ports(args[1:], svc, pod) if svc is not None else pod_ports(args[1:], pod)
        pairs = parse_pairs(ports)
        phase = (pod.get("status") or {}).get("phase")
        if phase != "Running":
            raise CliError(f"unable to forward port because pod is not running. Current status={phase}")
        name = pod["metadata"]["name"]
        servers = await _listen(client, ns, name, pairs, listen_hosts(addresses or ["localhost"]))
        if ready is not None:
            ready.set()
        try:
            await asyncio.gather(*(s.serve_forever() for s in servers))
        finally:
            for s in servers:
                s.close()
    return 0


async def _listen(client: ApiClient, ns: str, pod: str, pairs: list[PortPair], hosts: list[str]) -> list[Any]:
    servers: list[Any] = []
    for pair in pairs:
        local = pair.local
        bound = 0
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, p: PortPair = pair) -> Any:
                port = w.get_extra_info("sockname")[1]
                return _forward(client, ns, pod, p, port, r, w)

            try:
                server = await asyncio.start_server(handler, host=host, port=local, family=family,
                                                    reuse_address=True)
            except OSError as exc:
                if host == "::1" and bound:  # no IPv6 loopback here: kubectl carries on too
                    continue
                print(f"Unable to listen on port {pair.local}: Listeners failed to create with the following "
                      f"errors: [unable to create listener: Error listen tcp4 {_shown(host)}:{pair.local}: {exc}]",
                      file=sys.stderr)
                continue
            local = server.sockets[0].getsockname()[1]  # `:80` picked a free port: keep it for ::1
            print(f"Forwarding from {_shown(host)}:{local} -> {pair.remote}", flush=True)
            servers.append(server)
            bound += 1
        if not bound:
            raise CliError(f"unable to listen on any of the requested ports: [{{{pair.local} {pair.remote}}}]")
    return servers
