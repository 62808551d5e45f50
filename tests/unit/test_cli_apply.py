"""apply/delete logic against a recording fake API (no server): create, unchanged, configured,
409 retry, namespace rules, DeleteOptions."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from cli import apply as apply_mod
from cli import delete as delete_mod
from cli import session
from cli.errors import CliError
from cli.manifests import Manifest
from cli.merge import LAST_APPLIED
from machinery import errors
from machinery.meta import Resource


class FakeConfigMap(Resource):
    KIND: ClassVar[str] = "ConfigMap"
    PLURAL: ClassVar[str] = "configmaps"


class FakeNamespace(Resource):
    KIND: ClassVar[str] = "Namespace"
    PLURAL: ClassVar[str] = "namespaces"
    NAMESPACED: ClassVar[bool] = False


def _coll(cls: type[Resource], ns: str | None = None) -> str:
    return f"/api/v1/namespaces/{ns}/{cls.PLURAL}" if ns else f"/api/v1/{cls.PLURAL}"


FAKE_REGISTRY = SimpleNamespace(
    model_for=lambda obj: {"ConfigMap": FakeConfigMap, "Namespace": FakeNamespace}[obj["kind"]],
    resolve=lambda name: {"cm": FakeConfigMap, "configmaps": FakeConfigMap, "ns": FakeNamespace}[name],
    collection_path=_coll,
    object_path=lambda cls, name, ns=None, sub=None: f"{_coll(cls, ns)}/{name}" + (f"/{sub}" if sub else ""),
)


class FakeApi:
    """Serves GET/POST/PATCH/DELETE from a dict keyed by path; records every call."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.conflicts = 0
        self.rv = 10

    async def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                      headers: Any = None) -> Any:
        self.calls.append((method, path, copy.deepcopy(json)))
        if method == "GET":
            if path not in self.objects:
                raise errors.NotFound(f'configmaps "{path.rsplit("/", 1)[1]}" not found')
            return copy.deepcopy(self.objects[path])
        if method == "POST":
            path = f"{path}/{json['metadata']['name']}"
            if path in self.objects:
                raise errors.AlreadyExists("exists")
            self.rv += 1
            self.objects[path] = {**json, "metadata": {**json["metadata"], "resourceVersion": str(self.rv)}}
            return self.objects[path]
        if method == "PATCH":
            if self.conflicts:
                self.conflicts -= 1
                self.rv += 1
                self.objects[path]["metadata"]["resourceVersion"] = str(self.rv)
                raise errors.Conflict("the object has been modified")
            live = self.objects[path]
            assert json["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
            self.objects[path] = _merge(live, json)
            return self.objects[path]
        raise AssertionError(method)

    def writes(self) -> list[str]:
        return [m for m, _, _ in self.calls if m != "GET"]


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_registry", lambda: FAKE_REGISTRY)


def cm(data: dict[str, str], ns: str | None = None) -> Manifest:
    meta: dict[str, Any] = {"name": "cfg"}
    if ns:
        meta["namespace"] = ns
    return Manifest("cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


async def test_create_then_unchanged_then_configured() -> None:
    api = FakeApi()
    line = await apply_mod.apply_one(api, cm({"a": "1", "b": "2"}), "default", None, "none")  # type: ignore[arg-type]
    assert line == "configmap/cfg created"
    stored = api.objects["/api/v1/namespaces/default/configmaps/cfg"]
    assert json.loads(stored["metadata"]["annotations"][LAST_APPLIED])["data"] == {"a": "1", "b": "2"}

    api.calls.clear()
    assert await apply_mod.apply_one(api, cm({"a": "1", "b": "2"}), "default", None, "none") == "configmap/cfg unchanged"  # type: ignore[arg-type]
    assert api.writes() == []

    assert await apply_mod.apply_one(api, cm({"a": "9"}), "default", None, "none") == "configmap/cfg configured"  # type: ignore[arg-type]
    assert api.objects["/api/v1/namespaces/default/configmaps/cfg"]["data"] == {"a": "9"}


async def test_conflict_is_retried_from_a_fresh_read_then_gives_up() -> None:
    api = FakeApi()
    await apply_mod.apply_one(api, cm({"a": "1"}), "default", None, "none")  # type: ignore[arg-type]
    api.conflicts = 2
    assert await apply_mod.apply_one(api, cm({"a": "2"}), "default", None, "none") == "configmap/cfg configured"  # type: ignore[arg-type]
    assert api.writes().count("PATCH") == 3
    api.conflicts = 99
    with pytest.raises(CliError, match="conflicts"):
        await apply_mod.apply_one(api, cm({"a": "3"}), "default", None, "none")  # type: ignore[arg-type]


async def test_dry_run_client_writes_nothing() -> None:
    api = FakeApi()
    assert await apply_mod.apply_one(api, cm({"a": "1"}), "default", None, "client") == "configmap/cfg created (dry run)"  # type: ignore[arg-type]
    assert api.writes() == []


def test_namespace_rules() -> None:
    obj = cm({}, ns="other").obj
    with pytest.raises(CliError, match='the namespace from the provided object "other" does not match the namespace "x"'):
        apply_mod.place(obj, FakeConfigMap, "x", "x")
    assert apply_mod.place(cm({}).obj, FakeConfigMap, "dflt", None) == "dflt"
    assert apply_mod.place(cm({}, ns="other").obj, FakeConfigMap, "dflt", None) == "other"
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "namespace": "junk"}}
    assert apply_mod.place(ns_obj, FakeNamespace, "dflt", "x") is None and "namespace" not in ns_obj["metadata"]
    with pytest.raises(CliError, match="dry-run"):
        apply_mod.check_dry_run("maybe")


def test_delete_options_body() -> None:
    opts = delete_mod.DeleteOptions
    assert delete_mod.delete_body(opts()) == {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    assert delete_mod.delete_body(opts(now=True, cascade="foreground"))["gracePeriodSeconds"] == 1
    body = delete_mod.delete_body(opts(grace_period=0, cascade="orphan"))
    assert body["gracePeriodSeconds"] == 0 and body["propagationPolicy"] == "Orphan"
    assert delete_mod.delete_body(opts(force=True))["gracePeriodSeconds"] == 0
    with pytest.raises(CliError, match="cascade"):
        delete_mod.delete_body(opts(cascade="sideways"))


def test_unknown_kind_message() -> None:
    with pytest.raises(CliError, match='the server doesn\'t have a resource type "foo"'):
        session.resolve_kind("foo")
