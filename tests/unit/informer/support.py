"""Helpers of the informer tests: the `Thing` kind, a recording handler, writes straight into
the fake clientset's tracker (as another client would write), and waits on conditions."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any, ClassVar

from machinery import errors
from machinery.backoff import Backoff
from machinery.informer import Informer
from machinery.meta import Resource, split_key
from tests.unit.fake_client import FakeClient


class Thing(Resource):
    """A minimal namespaced kind for informer tests (the real models are not needed)."""

    KIND: ClassVar[str] = "Thing"
    PLURAL: ClassVar[str] = "things"
    SINGULAR: ClassVar[str] = "thing"
    GROUP: ClassVar[str] = "test.kubelite.io"

    spec: dict[str, Any] | None = None



def fast_backoff() -> Backoff:
    return Backoff(0.001, 0.01, reset_after_s=60.0)


class Recorder:
    """Handler that records (event, key, resourceVersions) tuples."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def on_add(self, obj: Thing) -> None:
        self.calls.append(("add", obj.key, obj.resource_version))

    def on_update(self, old: Thing, new: Thing) -> None:
        self.calls.append(("update", new.key, old.resource_version, new.resource_version))

    def on_delete(self, obj: Thing) -> None:
        self.calls.append(("delete", obj.key, obj.resource_version))

    def register(self, inf: Informer[Any]) -> Recorder:
        inf.add_handlers(on_add=self.on_add, on_update=self.on_update, on_delete=self.on_delete)
        return self

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]


async def eventually(pred: Callable[[], bool], timeout_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


async def quiet(rounds: int = 20) -> None:
    """Give the informer a chance to (wrongly) do more work."""
    for _ in range(rounds):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)

def create(api: FakeClient, name: str, namespace: str | None = "default", *, labels: dict[str, str] | None = None,
           spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Thing written straight into the tracker (as another client would write it)."""
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    if ("Thing", namespace, name) in api.objects:
        raise errors.AlreadyExists(name)
    return api.store({"apiVersion": Thing.api_version(), "kind": "Thing", "metadata": meta, "spec": spec or {}})


def update(api: FakeClient, key: str, *, spec: dict[str, Any] | None = None,
           labels: dict[str, str] | None = None) -> dict[str, Any]:
    ns, name = split_key(key)
    new = copy.deepcopy(api.objects[("Thing", ns, name)])
    if spec is not None:
        new["spec"] = spec
    if labels is not None:
        new["metadata"]["labels"] = labels
    return api.store(new)


def delete(api: FakeClient, key: str) -> dict[str, Any]:
    ns, name = split_key(key)
    return api.remove(Thing, ns, name)


def make(api: FakeClient, **kw: Any) -> Informer[Thing]:
    kw.setdefault("backoff", fast_backoff())
    return Informer(api, Thing, **kw)


async def watching(api: FakeClient, start: Callable[[Informer[Any]], Any]) -> tuple[Informer[Thing], Recorder]:
    """An informer with a recording handler, started with `start` (the `running` fixture), synced
    and with its watch open."""
    inf = make(api)
    rec = Recorder().register(inf)
    start(inf)
    await inf.wait_synced(timeout_s=2)
    await eventually(lambda: api.open_watches == 1)
    return inf, rec
