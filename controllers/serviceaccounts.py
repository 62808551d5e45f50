"""ServiceAccount controller and root CA publisher, per namespace (Kubernetes'
serviceaccounts-controller and root-ca-cert-publisher).

Contract: keys are namespace names. `sync(ns)` for an existing namespace that is not being
deleted:
- `ServiceAccountsController` (NAME "serviceaccount"): creates the ServiceAccount `default`
  when it is missing (AlreadyExists is success); a deleted `default` comes back.
- `RootCAPublisher` (NAME "root-ca-cert-publisher"): keeps the ConfigMap `kube-root-ca.crt`
  with `data: {ca.crt: <the cluster CA>}` (the CA of the controller-manager's kubeconfig, or
  `--root-ca-file`), created when missing, replaced when its data differs, with Kubernetes'
  annotation `kubernetes.io/description`. Pods' projected service-account volumes read
  ca.crt from it. With no CA known the controller does nothing.
Handlers only route: namespace add/update enqueue it; a ServiceAccount named `default` or a
ConfigMap named `kube-root-ca.crt` that is deleted or changed enqueues its namespace.
"""

from __future__ import annotations

import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.meta import ObjectMeta
from machinery.models import ConfigMap, Namespace, ServiceAccount

log = logging.getLogger(__name__)

ROOT_CA_NAME = "kube-root-ca.crt"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
               "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
               "guaranteed across distributions of Kubernetes clusters.")


class _PerNamespace(Controller):
    KIND = Namespace

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = ctx.factory.informer(Namespace)
        self.namespaces.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))

    def _live(self, ns: str) -> bool:
        obj = self.namespaces.get(ns)
        return obj is not None and not obj.metadata.deletionTimestamp and (
            obj.status is None or obj.status.phase != "Terminating")

    def _route(self, name: str) -> Any:
        def handler(obj: Any) -> None:
            if obj.metadata.name == name and obj.metadata.namespace:
                self.enqueue_key(obj.metadata.namespace)
        return handler


class ServiceAccountsController(_PerNamespace):
    NAME = "serviceaccount"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.accounts = ctx.factory.informer(ServiceAccount)
        route = self._route("default")
        self.accounts.add_handlers(on_delete=route)

    async def sync(self, key: str) -> None:
        if not self._live(key) or self.accounts.get(f"{key}/default") is not None:
            return
        try:
            await self.client.create(ServiceAccount(metadata=ObjectMeta(name="default", namespace=key)))
            log.info("created ServiceAccount %s/default", key)
        except errors.AlreadyExists:
            pass
        except errors.Forbidden as exc:  # the namespace is terminating: nothing to do
            log.debug("ServiceAccount %s/default not created: %s", key, exc)


class RootCAPublisher(_PerNamespace):
    NAME = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.ca_pem = ctx.options.root_ca_pem
        self.configmaps = ctx.factory.informer(ConfigMap, field_selector=f"metadata.name={ROOT_CA_NAME}")
        route = self._route(ROOT_CA_NAME)
        self.configmaps.add_handlers(on_update=lambda old, new: route(new), on_delete=route)

    async def sync(self, key: str) -> None:
        if not self.ca_pem or not self._live(key):
            return
        want = {"ca.crt": self.ca_pem}
        current = self.configmaps.get(f"{key}/{ROOT_CA_NAME}")
        try:
            if current is None:
                await self.client.create(ConfigMap(
                    metadata=ObjectMeta(name=ROOT_CA_NAME, namespace=key,
                                        annotations={"kubernetes.io/description": DESCRIPTION}), data=want))
            elif current.data != want:
                current.data = want
                await self.client.replace(current)
        except errors.AlreadyExists:
            self.enqueue_key(key)  # the cache lags: look again
        except errors.Forbidden as exc:
            log.debug("ConfigMap %s/%s not written: %s", key, ROOT_CA_NAME, exc)
