"""apply/delete logic against the fake clientset (tests/unit/fake_client.py, no server): create,
unchanged, configured, 409 retry, namespace rules, DeleteOptions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli import apply as apply_mod
from cli import delete as delete_mod
from cli import session
from cli.errors import CliError
from cli.manifests import Manifest
from cli.merge import LAST_APPLIED
from machinery import errors
from machinery.models import ConfigMap, Namespace
from tests.unit.fake_client import FakeClient

CFG = ("ConfigMap", "default", "cfg")


def writes(api: FakeClient) -> list[str]:
    return [c.kind for c in api.calls_of("request") if c.kind != "GET"]


def cm(data: dict[str, str], ns: str | None = None) -> Manifest:
    meta: dict[str, Any] = {"name": "cfg"}
    if ns:
        meta["namespace"] = ns
    return Manifest("cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


async def test_create_then_unchanged_then_configured() -> None:
    api = FakeClient()
    line = await apply_mod.apply_one(api, cm({"a": "1", "b": "2"}), "default", None, "none")
    assert line == "configmap/cfg created"
    stored = api.objects[CFG]
    assert json.loads(stored["metadata"]["annotations"][LAST_APPLIED])["data"] == {"a": "1", "b": "2"}

    api.calls.clear()
    assert await apply_mod.apply_one(api, cm({"a": "1", "b": "2"}), "default", None, "none") == "configmap/cfg unchanged"
    assert writes(api) == []

    assert await apply_mod.apply_one(api, cm({"a": "9"}), "default", None, "none") == "configmap/cfg configured"
    assert api.objects[CFG]["data"] == {"a": "9"}


async def test_conflict_is_retried_from_a_fresh_read_then_gives_up() -> None:
    api = FakeClient()
    await apply_mod.apply_one(api, cm({"a": "1"}), "default", None, "none")
    conflict = errors.Conflict('Operation cannot be fulfilled on configmaps "cfg"')
    api.fail("patch", "ConfigMap", conflict, times=2)
    assert await apply_mod.apply_one(api, cm({"a": "2"}), "default", None, "none") == "configmap/cfg configured"
    assert writes(api).count("PATCH") == 3
    api.fail("patch", "ConfigMap", conflict)
    with pytest.raises(CliError, match="conflicts"):
        await apply_mod.apply_one(api, cm({"a": "3"}), "default", None, "none")


async def test_dry_run_client_writes_nothing() -> None:
    api = FakeClient()
    assert await apply_mod.apply_one(api, cm({"a": "1"}), "default", None, "client") == "configmap/cfg created (dry run)"
    assert writes(api) == []


def test_namespace_rules() -> None:
    obj = cm({}, ns="other").obj
    with pytest.raises(CliError, match='the namespace from the provided object "other" does not match the namespace "x"'):
        apply_mod.place(obj, ConfigMap, "x", "x")
    assert apply_mod.place(cm({}).obj, ConfigMap, "dflt", None) == "dflt"
    assert apply_mod.place(cm({}, ns="other").obj, ConfigMap, "dflt", None) == "other"
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "namespace": "junk"}}
    assert apply_mod.place(ns_obj, Namespace, "dflt", "x") is None and "namespace" not in ns_obj["metadata"]
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
