"""The async API client every component uses: typed CRUD, patch, bind and watch over httpx.

Contract (docs/CONTRACTS.md, "machinery/client.py"):
- Results are typed: `cls.model_validate(json)`; lists give `ObjectList[T]`.
- Namespaces: for a namespaced kind, `namespace=None` means the object's own namespace, then
  the client's default namespace (`namespace=` kw, from the kubeconfig context, "default")
  for create/get/replace/patch/delete/bind; for `list`, `watch` and `delete_collection` it
  means ALL namespaces (what informers want).
- Errors: a non-2xx answer raises `errors.error_from_status(body, code)` when the body is a
  Status, else the class for the HTTP code with the body text as message.
- Retries: connection errors (connect/read/write errors, timeouts, a peer that closes
  mid-answer), 5xx and 429 are retried after each delay of `retry_delays_s` (default 0.1, 0.2,
  0.5, 1, 2, 4 s; a 429/503's Retry-After or `details.retryAfterSeconds` replaces the delay,
  capped at 60 s), one warning log line per retry; then the last error is raised:
  `errors.ConnectionFailed` if nothing answered, the server's own error otherwise. Other 4xx
  are never retried.
- Creates are retried like everything else. If a create reached the server but its answer was
  lost, the retry gets `AlreadyExists` (409) and that is what the caller sees: callers treat
  AlreadyExists on create as "someone (maybe us) created it" and read the object. A
  `generateName` create retried that way may create two objects (as in client-go).
- `watch()` is ONE watch request: it yields events until the server ends the stream, raises
  `errors.Expired` on a 410 ERROR event, and `errors.ConnectionFailed` if the connection drops
  mid-stream. Establishing the request is retried like any call. Without `timeout_s` there is
  no read timeout; with it, reads time out after `timeout_s + 30` s. Use
  `contextlib.aclosing(c.watch(...))` to close the connection promptly when breaking out.
"""

from __future__ import annotations

import asyncio
import builtins
import email.utils
import json as jsonlib
import logging
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from machinery import errors
from machinery.kubeconfig import load_kubeconfig, ssl_context
from machinery.leanhttp import LeanTransport
from machinery.meta import Resource
from machinery.registry import collection_path, object_path
from machinery.watchstream import WatchEvent, parse_event

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Resource)

DEFAULT_RETRY_DELAYS_S: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0)
MAX_RETRY_AFTER_S = 60.0
WATCH_READ_SLACK_S = 30.0

PatchType = Literal["merge", "json", "strategic", "apply"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

# Errors after which nothing (or nothing complete) came back: worth another try.
_TRANSPORT_RETRYABLE: tuple[type[Exception], ...] = (
    httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError,
)

__all__ = ["DEFAULT_RETRY_DELAYS_S", "ApiClient", "KubeClient", "ObjectList", "PatchType", "WatchEvent"]


@dataclass
class ObjectList(Generic[T]):
    """A list answer: typed items plus the list's metadata and the raw JSON."""

    items: list[T]
    resource_version: str = ""
    continue_token: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def error_from_response(status_code: int, body: bytes) -> errors.ApiError:
    """The exception for a non-2xx answer: from its Status body, else from the HTTP code."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = jsonlib.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("kind") == "Status":
        return errors.error_from_status(data, status_code)
    # Not a Status (a proxy, a crash page): keep the text, pick the class by the code.
    message = text.strip()[:1000] or f"HTTP {status_code}"
    return errors.error_from_status({"code": status_code, "message": message}, status_code)


def _retry_after_s(response: httpx.Response | None, err: errors.ApiError | None) -> float | None:
    """The server's requested delay: Retry-After header (seconds or HTTP date), else the Status."""
    if response is not None and (value := response.headers.get("retry-after")):
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    if err is not None and err.retry_after_s is not None:
        return max(0.0, err.retry_after_s)
    return None


def _object_path(cls: type[Resource], name: str, namespace: str | None = None,
                 subresource: str | None = None) -> str:
    if not name:  # an API error, not registry's ValueError: it is a bad request by the caller
        raise errors.BadRequest(f"a {cls.KIND or cls.__name__} name is required", kind=cls.KIND)
    return object_path(cls, name, namespace, subresource)


class KubeClient(Protocol):
    """What components need from an API client: `ApiClient` is it, and so is the unit tests'
    fake clientset (tests/unit/fake_client.py), which mypy checks against this Protocol."""

    async def create(self, obj: T, *, namespace: str | None = None, dry_run: bool = False) -> T: ...

    async def get(self, cls: type[T], name: str, *, namespace: str | None = None) -> T: ...

    async def list(self, cls: type[T], *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None,
                   continue_token: str | None = None) -> ObjectList[T]: ...

    async def replace(self, obj: T, *, subresource: str | None = None) -> T: ...

    async def replace_status(self, obj: T) -> T: ...

    async def patch(self, cls: type[T], name: str, patch: dict[str, Any] | builtins.list[Any], *,
                    namespace: str | None = None, patch_type: PatchType = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None) -> T: ...

    async def delete(self, cls: type[Resource], name: str, *, namespace: str | None = None,
                     grace_period_s: float | None = None, propagation_policy: str | None = None,
                     preconditions: dict[str, str] | None = None) -> dict[str, Any]: ...

    async def delete_collection(self, cls: type[Resource], *, namespace: str | None = None,
                                label_selector: str | None = None,
                                field_selector: str | None = None) -> dict[str, Any]: ...

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None: ...

    def watch(self, cls: type[T], *, namespace: str | None = None, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              timeout_s: float | None = None, allow_bookmarks: bool = True) -> AsyncIterator[WatchEvent[T]]: ...

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, content: bytes | str | None = None,
                      headers: dict[str, str] | None = None, retry: bool = True) -> Any: ...


class ApiClient:
    """Async client of the kubelite (Kubernetes-shaped) REST API. One per process is enough:
    the pool holds up to 1000 connections so hundreds of watches can be open at once.
    `slots=N` instead gives N connections, one request each at a time (machinery.leanhttp:
    plain HTTP/1.1 without httpcore, for a hot path of plain requests, never watches)."""

    def __init__(self, server: str, *, token: str | None = None, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None, verify: bool = True,
                 timeout_s: float = 30.0, user_agent: str = "kubelite",
                 namespace: str = "default",
                 retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
                 transport: httpx.AsyncBaseTransport | None = None, slots: int | None = None) -> None:
        if not server.startswith(("http://", "https://")):
            raise ValueError(f"server must be an http:// or https:// URL, not {server!r}")
        self.server = server.rstrip("/")
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.retry_delays_s = tuple(retry_delays_s)
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        tls: ssl.SSLContext | bool = True
        if self.server.startswith("https:"):
            tls = ssl_context(ca_file, cert_file, key_file, verify)
        self._ws_headers = {k: v for k, v in headers.items() if k != "Accept"}
        self._ws_ssl = tls if isinstance(tls, ssl.SSLContext) else None
        if slots is not None and transport is None:
            # A hot request/response path (the scheduler's bindings and Events, hollow nodes'
            # writes): `slots` connections spoken to directly instead of through httpcore.
            transport = LeanTransport(slots, tls=tls if isinstance(tls, ssl.SSLContext) else None)
        self._http = httpx.AsyncClient(
            base_url=self.server, headers=headers, verify=tls, transport=transport,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )
        # Tests swap this to record retry delays without waiting for them.
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, *, context: str | None = None,
                        **kwargs: Any) -> ApiClient:
        """Client for a kubeconfig (path None: $KUBECONFIG, $KUBELITE_HOME/kubeconfig, ~/.kubelite)."""
        cfg = load_kubeconfig(path, context=context)
        return cls(cfg.server, token=cfg.token, ca_file=cfg.ca_file, cert_file=cfg.cert_file,
                   key_file=cfg.key_file, verify=cfg.verify, namespace=cfg.namespace, **kwargs)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    content: bytes | None = None, headers: dict[str, str] | None = None,
                    stream: bool = False, http_timeout: httpx.Timeout | None = None,
                    retry: bool = True) -> httpx.Response:
        """One call with the retry policy. Returns a 2xx response (unread when `stream`).

        `retry=False` is for calls that must not run twice (exec: a 5xx may come after the
        command already ran)."""
        request = self._http.build_request(
            method, path, params=_clean(params), content=content, headers=headers,
            timeout=http_timeout if http_timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.send(request, stream=stream)
                if response.is_success:
                    return response
                body = await response.aread()
                await response.aclose()
            except _TRANSPORT_RETRYABLE as exc:
                response = None  # nothing complete came back
                failed = errors.ConnectionTimeout if isinstance(exc, httpx.TimeoutException) else errors.ConnectionFailed
                err: errors.ApiError = failed(f"{method} {self.server}{path}: {type(exc).__name__}: {exc}")
                cause: Exception | None = exc
            except httpx.HTTPError as exc:  # a local problem (bad URL, protocol misuse): no retry
                raise errors.ConnectionFailed(f"{method} {self.server}{path}: {type(exc).__name__}: {exc}") \
                    from exc
            else:
                err = error_from_response(response.status_code, body)
                cause = None
                if not isinstance(err, errors.TemporaryError):
                    raise err
            if not retry or attempt >= len(self.retry_delays_s):
                raise err from cause
            delay = self.retry_delays_s[attempt]
            server_delay = _retry_after_s(response, err if response is not None else None)
            if server_delay is not None:
                delay = min(server_delay, MAX_RETRY_AFTER_S)
            attempt += 1
            log.warning("%s %s failed (%s: %s); retry %d/%d in %.1fs", method, path,
                        err.reason, err.message, attempt, len(self.retry_delays_s), delay)
            await self._sleep(delay)

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    body: Any = None, content_type: str = "application/json") -> Any:
        content = None if body is None else jsonlib.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else None
        response = await self._send(method, path, params=params, content=content, headers=headers)
        return _decode(response)

    def _ns(self, cls: type[Resource], namespace: str | None) -> str | None:
        """The namespace a single-object call addresses (None for cluster-scoped kinds)."""
        if not cls.NAMESPACED:
            return None
        return namespace or self.namespace

    # -- typed API --------------------------------------------------------------------------

    async def create(self, obj: T, *, namespace: str | None = None, dry_run: bool = False) -> T:
        cls = type(obj)
        ns = self._ns(cls, namespace or obj.metadata.namespace)
        data = await self._call("POST", collection_path(cls, ns), body=obj.to_dict(),
                                params={"dryRun": "All" if dry_run else None})
        return _typed(cls, data)

    async def get(self, cls: type[T], name: str, *, namespace: str | None = None) -> T:
        data = await self._call("GET", _object_path(cls, name, self._ns(cls, namespace)))
        return _typed(cls, data)

    async def list(self, cls: type[T], *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None) -> ObjectList[T]:
        ns = namespace if cls.NAMESPACED else None
        params = {"labelSelector": label_selector, "fieldSelector": field_selector,
                  "limit": limit, "continue": continue_token}
        data = await self._call("GET", collection_path(cls, ns), params=params)
        if not isinstance(data, dict):
            raise errors.InternalError(f"list of {cls.PLURAL} answered with {type(data).__name__}")
        meta = data.get("metadata") or {}
        return ObjectList(items=[_typed(cls, item) for item in data.get("items") or []],
                          resource_version=str(meta.get("resourceVersion") or ""),
                          continue_token=meta.get("continue") or None, raw=data)

    async def replace(self, obj: T, *, subresource: str | None = None) -> T:
        cls = type(obj)
        path = _object_path(cls, obj.name, self._ns(cls, obj.metadata.namespace), subresource)
        return _typed(cls, await self._call("PUT", path, body=obj.to_dict()))

    async def replace_status(self, obj: T) -> T:
        return await self.replace(obj, subresource="status")

    async def patch(self, cls: type[T], name: str, patch: dict[str, Any] | builtins.list[Any], *,
                    namespace: str | None = None, patch_type: PatchType = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None) -> T:
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_CONTENT_TYPES)}, not {patch_type!r}")
        if patch_type == "json" and not isinstance(patch, list):
            raise ValueError("a JSON patch (patch_type='json') is a list of operations")
        if patch_type != "json" and not isinstance(patch, dict):
            raise ValueError(f"a {patch_type} patch is an object (dict)")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply (patch_type='apply') requires field_manager")
        params = {"fieldManager": field_manager,
                  "force": None if force is None else ("true" if force else "false")}
        path = _object_path(cls, name, self._ns(cls, namespace), subresource)
        # JSON is valid YAML, so the apply body is sent as JSON too.
        data = await self._call("PATCH", path, params=params, body=patch, content_type=content_type)
        return _typed(cls, data)

    async def delete(self, cls: type[Resource], name: str, *, namespace: str | None = None,
                     grace_period_s: float | None = None, propagation_policy: str | None = None,
                     preconditions: dict[str, str] | None = None) -> dict[str, Any]:
        body = _delete_options(grace_period_s, propagation_policy, preconditions)
        data = await self._call("DELETE", _object_path(cls, name, self._ns(cls, namespace)), body=body)
        return data if isinstance(data, dict) else {}

    async def delete_collection(self, cls: type[Resource], *, namespace: str | None = None,
                                label_selector: str | None = None,
                                field_selector: str | None = None) -> dict[str, Any]:
        ns = namespace if cls.NAMESPACED else None
        params = {"labelSelector": label_selector, "fieldSelector": field_selector}
        data = await self._call("DELETE", collection_path(cls, ns), params=params)
        return data if isinstance(data, dict) else {}

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pod_name, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        path = f"/api/v1/namespaces/{namespace}/pods/{pod_name}/binding"
        await self._call("POST", path, body=body)

    async def watch(self, cls: type[T], *, namespace: str | None = None,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, timeout_s: float | None = None,
                    allow_bookmarks: bool = True) -> AsyncGenerator[WatchEvent[T], None]:
        ns = namespace if cls.NAMESPACED else None
        params = {"watch": "1", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true" if allow_bookmarks else None,
                  "timeoutSeconds": None if timeout_s is None else max(1, int(timeout_s)),
                  "labelSelector": label_selector, "fieldSelector": field_selector}
        async with aclosing(self.stream_lines(collection_path(cls, ns), params=params,
                                              timeout_s=timeout_s)) as lines:
            async for line in lines:
                event = parse_event(line, cls)
                if event is not None:  # None: a blank keep-alive line
                    yield event

    async def stream_lines(self, path: str, *, params: dict[str, Any] | None = None,
                           timeout_s: float | None = None) -> AsyncGenerator[str, None]:
        """Lines of a long-running GET (a watch, `pods/NAME/log?follow=true`). Opening it is
        retried like any call; a connection dropped mid-stream raises ConnectionFailed."""
        read_s = None if timeout_s is None else timeout_s + WATCH_READ_SLACK_S
        timeout = httpx.Timeout(self.timeout_s, read=read_s)
        response = await self._send("GET", path, params=params, stream=True, http_timeout=timeout)
        try:
            async for line in response.aiter_lines():
                yield line
        except _TRANSPORT_RETRYABLE as exc:
            failed = errors.ConnectionTimeout if isinstance(exc, httpx.TimeoutException) else errors.ConnectionFailed
            raise failed(f"stream {path} lost: {type(exc).__name__}: {exc}") from exc
        finally:
            await response.aclose()

    async def websocket(self, path: str, *, params: Sequence[tuple[str, str]] = (),
                        subprotocols: Sequence[str] = ()) -> Any:
        """An open WebSocket (websockets' ClientConnection, `async with` closes it) to a streaming
        subresource (pods/NAME/exec|attach|portforward) with this client's credentials. Never
        retried (the command may have run). A refused upgrade raises the Status's ApiError;
        nothing answering raises ConnectionFailed."""
        # lazy: only exec/attach/port-forward callers need websockets; every daemon imports this module
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        from machinery.wscompat import connect

        url = ("wss:" if self.server.startswith("https:") else "ws:") + self.server.split(":", 1)[1] + path
        if params:
            url += "?" + urlencode(list(params))
        try:
            return await connect(url, subprotocols=list(subprotocols), ssl=self._ws_ssl,
                                 additional_headers=self._ws_headers, open_timeout=self.timeout_s,
                                 max_size=None, compression=None)
        except InvalidStatus as exc:
            raise error_from_response(exc.response.status_code, bytes(exc.response.body or b"")) from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            failed = errors.ConnectionTimeout if isinstance(exc, TimeoutError) else errors.ConnectionFailed
            raise failed(f"GET {self.server}{path}: {type(exc).__name__}: {exc}") from exc

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, content: bytes | str | None = None,
                      headers: dict[str, str] | None = None, retry: bool = True) -> Any:
        """Raw access: parsed JSON when the answer is JSON, else its text. Same error policy
        (`retry=False`: no retry at all, for calls with side effects such as exec)."""
        hdrs = dict(headers or {})
        body: bytes | None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            if not any(k.lower() == "content-type" for k in hdrs):  # a caller's patch type wins
                hdrs["Content-Type"] = "application/json"
        else:
            body = content.encode() if isinstance(content, str) else content
        response = await self._send(method.upper(), path, params=params, content=body, headers=hdrs,
                                    retry=retry)
        return _decode(response)


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop unset query parameters (None), so defaults stay the server's."""
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None}


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", "json"):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _typed(cls: type[T], data: Any) -> T:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise errors.InternalError(f"server answer is not a valid {cls.KIND or cls.__name__}: {exc}") from exc


def _delete_options(grace_period_s: float | None, propagation_policy: str | None,
                    preconditions: dict[str, str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if grace_period_s is not None:
        body["gracePeriodSeconds"] = int(grace_period_s)
    if propagation_policy is not None:
        body["propagationPolicy"] = propagation_policy
    if preconditions:
        body["preconditions"] = preconditions
    return body


def _conforms(client: ApiClient) -> KubeClient:
    return client  # mypy: ApiClient has the surface KubeClient promises
