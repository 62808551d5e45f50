"""The serviceaccount and root-ca-cert-publisher controllers: sync(key) on preloaded caches with
the fake clientset, then the exact calls made."""

from __future__ import annotations

from dataclasses import replace

from controllers.serviceaccounts import ROOT_CA_NAME, RootCAPublisher, ServiceAccountsController
from machinery.models import ConfigMap, Namespace, ServiceAccount
from tests.unit.builders import make_context, preload
from tests.unit.fake_client import FakeClient


def ns(name: str, *, terminating: bool = False) -> Namespace:
    meta = {"name": name, "uid": f"uid-{name}"}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Namespace.from_dict({"metadata": meta, "status": {"phase": "Terminating" if terminating else "Active"}})


async def test_default_service_account_is_created_once_per_live_namespace() -> None:
    client = FakeClient()
    ctrl = ServiceAccountsController(make_context(client))
    preload(ctrl.namespaces, ns("team"), ns("gone", terminating=True), ns("has"))
    preload(ctrl.accounts, ServiceAccount.from_dict({"metadata": {"name": "default", "namespace": "has"}}))
    for key in ("team", "gone", "has", "missing"):
        await ctrl.sync(key)
    created = client.calls_of("create", "ServiceAccount")
    assert [(c.namespace, c.name) for c in created] == [("team", "default")]


async def test_root_ca_configmap_created_and_repaired() -> None:
    client = FakeClient()
    ctx = make_context(client)
    ctx.options = replace(ctx.options, root_ca_pem="CA-1")
    ctrl = RootCAPublisher(ctx)
    preload(ctrl.namespaces, ns("a"), ns("b"))
    preload(ctrl.configmaps, ConfigMap.from_dict({"metadata": {"name": ROOT_CA_NAME, "namespace": "b",
                                                               "resourceVersion": "3"},
                                                  "data": {"ca.crt": "OLD"}}))
    client.add(ConfigMap.from_dict({"metadata": {"name": ROOT_CA_NAME, "namespace": "b", "resourceVersion": "3"},
                                    "data": {"ca.crt": "OLD"}}))
    await ctrl.sync("a")
    await ctrl.sync("b")
    assert client.stored(ConfigMap, ROOT_CA_NAME, "a").data == {"ca.crt": "CA-1"}
    assert client.stored(ConfigMap, ROOT_CA_NAME, "b").data == {"ca.crt": "CA-1"}
    assert [c.namespace for c in client.calls_of("replace", "ConfigMap")] == ["b"]
    # No CA known: nothing is written.
    quiet = RootCAPublisher(make_context(FakeClient()))
    preload(quiet.namespaces, ns("c"))
    await quiet.sync("c")
    assert not quiet.client.calls_of("create", "ConfigMap")  # type: ignore[attr-defined]
