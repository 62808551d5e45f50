"""The API server's Prometheus metrics, as kube-apiserver names them.

Contract:
- `apiserver_request_total{verb,group,version,resource,subresource,scope,code}` and
  `apiserver_request_duration_seconds{verb,group,version,resource,subresource,scope}` (Kubernetes'
  buckets) for every request under /api and /apis; verb is Kubernetes' (GET, LIST, WATCH, POST,
  PUT, PATCH, DELETE, DELETECOLLECTION); WATCH requests are counted but not timed (they last as
  long as the client wants). Other paths (discovery roots, /healthz, /metrics, /openapi) are
  counted with resource "" and their path kept out of the labels.
- `apiserver_registered_watchers{group,version,kind}`: open watches (watch.py increments and
  decrements it).
- `etcd_request_duration_seconds{operation,type}`: every etcd call of the storage (operation
  get/list/create/update/delete/..., type the resource of the key).
- `Instrument(app)`: `await instrument(scope, receive, send, call)` wraps one HTTP request; the
  fast path costs a path split, two dict updates and a bisect (machinery.prom's lock-free
  FastCounter/FastHistogram: the API server answers on one event-loop thread).
- `metrics_response()` answers `GET /metrics`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Gauge
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from machinery import prom

_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60)
_LABELS = ["verb", "group", "version", "resource", "subresource", "scope"]
# Lock-free (one event loop thread): a dict update per request, turned into families at scrape.
REQUESTS = prom.FastCounter("apiserver_request_total", "Counter of apiserver requests broken out for each verb, "
                            "group, version, resource, scope, component, and HTTP response code.", [*_LABELS, "code"])
DURATION = prom.FastHistogram("apiserver_request_duration_seconds", "Response latency distribution in seconds for "
                              "each verb, group, version, resource, subresource, scope and component.", _LABELS,
                              _BUCKETS)
WATCHERS = Gauge("apiserver_registered_watchers", "Number of currently registered watchers for a given resources",
                 ["group", "version", "kind"])
ETCD = prom.FastHistogram("etcd_request_duration_seconds",
                          "Etcd request latency in seconds for each operation and object type.", ["operation", "type"],
                          _BUCKETS)

Labels = tuple[str, str, str, str, str, str]
_METHOD_VERB = {"GET": "GET", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE"}


def request_labels(method: str, path: str, query: bytes) -> Labels:
    """(verb, group, version, resource, subresource, scope) of a request, as kube-apiserver's."""
    return _labels(method, path, method == "GET" and (b"watch=1" in query or b"watch=true" in query))


@functools.lru_cache(maxsize=4096)  # the same paths recur (status writes, gets, lists): a hit is ~0.2 us
def _labels(method: str, path: str, watch_query: bool) -> Labels:
    parts = path.strip("/").split("/")
    verb = _METHOD_VERB.get(method, method)
    if parts[0] == "api" and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return (verb, "", "", "", "", "")
    watch = False
    if rest and rest[0] == "watch":
        rest, watch = rest[1:], True
    scope = "cluster"
    # namespaces/NAME/status|finalize is the namespace's own subresource, not a namespaced kind
    namespace_sub = len(rest) == 3 and rest[0] == "namespaces" and rest[2] in ("status", "finalize")
    if len(rest) > 2 and rest[0] == "namespaces" and not namespace_sub:
        rest, scope = rest[2:], "namespace"
    if not rest:
        return (verb, group, version, "", "", "")
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if name:
        scope = "resource"
    if verb == "GET" and not name:
        watch = watch or watch_query
        verb = "WATCH" if watch else "LIST"
    elif verb == "GET" and watch:
        verb = "WATCH"
    elif verb == "DELETE" and not name:
        verb = "DELETECOLLECTION"
    return (verb, group, version, resource, sub, scope)


def _count(labels: Labels, code: int) -> None:
    REQUESTS.inc((*labels, str(code)))


def _observe(labels: Labels, seconds: float) -> None:
    DURATION.observe(labels, seconds)


def etcd_observe(what: str, seconds: float) -> None:
    """`what` is the storage's description of the call: "get /registry/pods/ns/x"."""
    op, _, key = what.partition(" ")
    parts = key.split("/", 3)
    typ = parts[2] if len(parts) > 2 and parts[1] == "registry" else ""
    ETCD.observe((op, typ), seconds)


Call = Callable[[Scope, Receive, Send], Awaitable[None]]


async def instrument(scope: Scope, receive: Receive, send: Send, call: Call) -> None:
    """Run one HTTP request through `call`, counting and timing it."""
    start = time.perf_counter()
    code = 500
    labels = request_labels(scope["method"], scope["path"], scope.get("query_string", b""))

    async def send_wrapper(message: Message) -> None:
        nonlocal code
        if message["type"] == "http.response.start":
            code = int(message["status"])
        await send(message)

    try:
        await call(scope, receive, send_wrapper)
    finally:
        _count(labels, code)
        if labels[0] != "WATCH":
            _observe(labels, time.perf_counter() - start)


async def metrics_response(request: Request) -> Response:
    body, content_type = prom.exposition()
    return Response(body, media_type=content_type)
