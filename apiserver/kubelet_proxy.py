"""Pod `log` and `exec` subresources, proxied to the kubelet of the pod's node.

Contract: `router: fastapi.APIRouter`, mounted by `create_app(extra_routers=[router])`:
- `GET /api/v1/namespaces/{ns}/pods/{name}/log?container=&follow=&tailLines=&sinceSeconds=
  &timestamps=&previous=` -> text/plain (streamed while `follow`).
- `POST|GET /api/v1/namespaces/{ns}/pods/{name}/exec?command=..&command=..&container=..`
  -> JSON `{"stdout", "stderr", "exitCode"}` (non-interactive; what the kubelite CLI uses).
- `GET|POST|PUT|PATCH|DELETE|HEAD /api/v1/nodes/{name}/proxy[/PATH]` -> the node's kubelet API
  at /PATH (`kubectl get --raw /api/v1/nodes/N/proxy/stats/summary`, /metrics, /healthz...),
  authorized here as nodes/proxy and at the kubelet as the API server's kubelet-client identity,
  as Kubernetes; the answer (status, content type, body) is streamed back unchanged.
The pod is read from storage (`/registry/pods/NS/NAME`), its node from `/registry/nodes/N`;
the kubelet address is the node's InternalIP (else Hostname) and
`status.daemonEndpoints.kubeletEndpoint.Port` (default 10250), over HTTPS with the API server's
kubelet client certificate (apiserver/upstream.py `kubelet_client`). `container` may be omitted
when the pod has exactly one container. Errors are Status objects: 404 pod not found,
400 no node yet / bad container name, 503 kubelet unreachable; the kubelet's own errors
(also Status objects) are passed through.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from apiserver import upstream
from machinery import errors

router = APIRouter()
DEFAULT_KUBELET_PORT = 10250


async def _pod(request: Request, ns: str, name: str) -> dict[str, Any]:
    try:
        return dict(await upstream.storage(request).get(f"/registry/pods/{ns}/{name}"))
    except errors.NotFound:
        raise errors.NotFound(f'pods "{name}" not found', name=name, kind="pods") from None


async def _kubelet_url(request: Request, pod: dict[str, Any]) -> str:
    name = (pod.get("metadata") or {}).get("name", "")
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.BadRequest(f"pod {name} does not have a host assigned", name=name, kind="pods")
    return await _node_kubelet_url(request, str(node_name))


async def _node_kubelet_url(request: Request, node_name: str) -> str:
    try:
        node = dict(await upstream.storage(request).get(f"/registry/nodes/{node_name}"))
    except errors.NotFound:
        raise errors.NotFound(f'nodes "{node_name}" not found', name=node_name, kind="nodes") from None
    status = node.get("status") or {}
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addrs.get("InternalIP") or addrs.get("Hostname")
    if not host:
        raise errors.ServiceUnavailable(f"node {node_name} has no address to reach its kubelet")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{int(port)}"


def _container(pod: dict[str, Any], container: str | None) -> str:
    spec = pod.get("spec") or {}
    name = (pod.get("metadata") or {}).get("name", "")
    apps = [c.get("name") for c in spec.get("containers") or []]
    inits = [c.get("name") for c in spec.get("initContainers") or []]
    if not container:
        if len(apps) == 1:
            return str(apps[0])
        raise errors.BadRequest(f"a container name must be specified for pod {name}, choose one of: "
                                f"[{' '.join(str(a) for a in apps)}]", name=name, kind="pods")
    if container not in apps and container not in inits:
        raise errors.BadRequest(f"container {container} is not valid for pod {name}", name=name, kind="pods")
    return container


def _unreachable(url: str, exc: Exception) -> errors.ApiError:
    return errors.ServiceUnavailable(f"error dialing backend: kubelet at {url} is not reachable ({exc})")


@router.get("/api/v1/namespaces/{ns}/pods/{name}/log")
async def pod_log(request: Request, ns: str, name: str, container: str | None = None, follow: bool = False,
                  tailLines: int | None = None, sinceSeconds: int | None = None,
                  timestamps: bool = False, previous: bool = False) -> Response:
    pod = await _pod(request, ns, name)
    cname = _container(pod, container)
    base = await _kubelet_url(request, pod)
    params: dict[str, Any] = {"follow": str(follow).lower(), "timestamps": str(timestamps).lower(),
                              "previous": str(previous).lower()}
    if tailLines is not None:
        params["tailLines"] = tailLines
    if sinceSeconds is not None:
        params["sinceSeconds"] = sinceSeconds
    url = f"{base}/containerLogs/{ns}/{name}/{cname}"
    try:
        resp = await upstream.open_stream(request.app, "GET", url, params=params, kubelet=True)
    except httpx.HTTPError as exc:
        raise _unreachable(base, exc) from None
    if resp.status_code != 200 or not follow:
        body = await resp.aread()
        await resp.aclose()
        return Response(content=body, status_code=resp.status_code,
                        media_type=resp.headers.get("content-type", "text/plain"))
    return StreamingResponse(upstream.relay(resp), media_type="text/plain")


@router.api_route("/api/v1/namespaces/{ns}/pods/{name}/exec", methods=["GET", "POST"])
async def pod_exec(request: Request, ns: str, name: str, command: list[str] = Query(default=[]),
                   container: str | None = None, timeoutSeconds: float = 60.0) -> Response:
    if not command:
        raise errors.BadRequest("you must specify at least 1 command", name=name, kind="pods")
    pod = await _pod(request, ns, name)
    cname = _container(pod, container)
    base = await _kubelet_url(request, pod)
    try:
        resp = await upstream.open_stream(request.app, "POST", f"{base}/exec/{ns}/{name}/{cname}",
                                          params={"command": command, "timeoutSeconds": timeoutSeconds},
                                          timeout_s=timeoutSeconds + 10, kubelet=True)
        try:
            body = await resp.aread()
        finally:
            await resp.aclose()
    except httpx.HTTPError as exc:
        raise _unreachable(base, exc) from None
    return Response(content=body, status_code=resp.status_code, media_type="application/json")


_PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
_FORWARDED = ("accept", "content-type")
_RETURNED = ("content-type", "content-encoding", "cache-control")


@router.api_route("/api/v1/nodes/{name}/proxy", methods=_PROXY_METHODS)
@router.api_route("/api/v1/nodes/{name}/proxy/{path:path}", methods=_PROXY_METHODS)
async def node_proxy(request: Request, name: str, path: str = "") -> Response:
    base = await _node_kubelet_url(request, name)
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
    try:
        resp = await upstream.open_stream(request.app, request.method, f"{base}/{path}",
                                          params=list(request.query_params.multi_items()),
                                          content=await request.body(), headers=headers, kubelet=True)
    except httpx.HTTPError as exc:
        raise _unreachable(base, exc) from None
    keep = {k: v for k, v in resp.headers.items() if k.lower() in _RETURNED}
    return StreamingResponse(upstream.relay(resp), status_code=resp.status_code, headers=keep)
