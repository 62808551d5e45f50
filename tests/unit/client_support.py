"""Helpers of the ApiClient tests: fake resource classes (so the tests only depend on the client
and the path rules: GROUP/VERSION/PLURAL/NAMESPACED), a scripted httpx.MockTransport server
and a client that records its back-off sleeps instead of sleeping."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from machinery.client import ApiClient
from machinery.meta import Resource


class FPod(Resource):
    KIND = "Pod"
    PLURAL = "pods"
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


class FNode(Resource):
    KIND = "Node"
    PLURAL = "nodes"
    NAMESPACED = False


class FDeployment(Resource):
    GROUP = "apps"
    KIND = "Deployment"
    PLURAL = "deployments"
    spec: dict[str, Any] | None = None


class FStrict(Resource):
    """A kind with a required field: bookmarks must still build a model for it."""

    KIND = "Strict"
    PLURAL = "stricts"
    target: dict[str, Any]


Handler = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """Records requests; answers from a script (one entry per request) or a handler."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def make_client(server: FakeServer, **kw: Any) -> tuple[ApiClient, list[float]]:
    client = ApiClient("http://kubelite.test", transport=httpx.MockTransport(server),
                       retry_delays_s=kw.pop("retry_delays_s", (0.1, 0.2, 0.5)), **kw)
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    client._sleep = fake_sleep
    return client, slept


def echo(request: httpx.Request) -> httpx.Response:
    """Answer with the request body, plus a resourceVersion, like a create/update does."""
    body = json.loads(request.content)
    body.setdefault("metadata", {})["resourceVersion"] = "42"
    return httpx.Response(200, json=body)


def status(code: int, reason: str, message: str = "nope", **details: Any) -> httpx.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code, "details": details}
    return httpx.Response(code, json=body)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)
