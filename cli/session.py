"""What every verb needs: the global flags, an API client, and kind resolution.

Contract:
- `Globals` holds --kubeconfig, --context, --server/-s, --namespace/-n as given (None = unset).
- `open_client(g) -> (ApiClient, default_namespace)`: kubeconfig from --kubeconfig, else
  machinery.kubeconfig's default path ($KUBECONFIG, $KUBELITE_HOME/kubeconfig,
  ~/.kubelite/kubeconfig); --server overrides the cluster's server and works without any
  kubeconfig; the namespace is -n, else the context's namespace, else "default".
- `resolve_kind(name)` maps "po", "pods", "deploy", "deployments.apps" ... to the model class
  via machinery.registry.resolve; an unknown name raises CliError with kubectl's wording.
- `coll_path` / `obj_path` are the REST paths (machinery.registry's, namespace dropped for
  cluster-scoped kinds). Everything here returns/handles plain JSON dicts.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from cli.errors import CliError, set_server_hint
from machinery import kubeconfig
from machinery.client import ApiClient

CLI_RETRY_DELAYS_S = (0.1, 0.3)
ALL_CATEGORY = ["pods", "replicationcontrollers", "services", "daemonsets", "deployments", "replicasets",
                "statefulsets", "jobs"]


@dataclass
class Globals:
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    namespace: str | None = None


def _load_config(g: Globals) -> Any:
    try:
        return kubeconfig.load_kubeconfig(g.kubeconfig, context=g.context)
    except Exception as exc:  # noqa: BLE001 - reported, never raised past this point
        if g.server:  # -s works without a kubeconfig, as with kubectl
            return None
        raise CliError(str(exc)) from None


def quiet_logs() -> None:
    """The client logs each retry; a CLI user wants only the final kubectl-like message."""
    if not os.environ.get("KUBELITE_DEBUG"):
        logging.getLogger("machinery").setLevel(logging.CRITICAL)


def open_client(g: Globals) -> tuple[ApiClient, str]:
    quiet_logs()
    cfg = _load_config(g)
    server = g.server or (cfg.server if cfg is not None else "")
    if not server:
        raise CliError("no server found in the kubeconfig; pass --server")
    set_server_hint(server)
    namespace = g.namespace or (getattr(cfg, "namespace", None) if cfg is not None else None) or "default"
    tls: dict[str, Any] = {}
    if cfg is not None:
        tls = {"token": cfg.token, "ca_file": cfg.ca_file, "verify": cfg.verify}
        if not g.server or g.server == cfg.server:
            tls.update(cert_file=cfg.cert_file, key_file=cfg.key_file)
    # kubectl fails at once when nothing listens; a short retry list keeps us close to that.
    client = ApiClient(server, namespace=namespace, retry_delays_s=CLI_RETRY_DELAYS_S, **tls)
    return client, namespace


def _registry() -> Any:
    """machinery.registry, imported on first use so `up`/`down` work whatever else is missing."""
    return importlib.import_module("machinery.registry")


def resolve_kind(name: str) -> type[Any]:
    try:
        cls: type[Any] = _registry().resolve(name)
        return cls
    except KeyError:
        raise CliError(f'the server doesn\'t have a resource type "{name}"') from None


def kind_for_object(obj: dict[str, Any]) -> type[Any]:
    try:
        model: type[Any] = _registry().model_for(obj)
        return model
    except KeyError:
        raise CliError(f'resource mapping not found for name: "{(obj.get("metadata") or {}).get("name", "")}" '
                       f'namespace: "" from "": no matches for kind "{obj.get("kind")}" in version '
                       f'"{obj.get("apiVersion")}"') from None


def coll_path(cls: type[Any], namespace: str | None) -> str:
    return str(_registry().collection_path(cls, namespace if cls.NAMESPACED else None))


def obj_path(cls: type[Any], name: str, namespace: str | None, subresource: str | None = None) -> str:
    return str(_registry().object_path(cls, name, namespace if cls.NAMESPACED else None, subresource))


def kind_label(cls: type[Any]) -> str:
    """`pod`, `deployment.apps`: how kubectl names a kind in messages."""
    return f"{cls.KIND.lower()}.{cls.GROUP}" if cls.GROUP else cls.KIND.lower()


def with_type(cls: type[Any], obj: dict[str, Any]) -> dict[str, Any]:
    """List items may come without kind/apiVersion (Kubernetes omits them): fill them in."""
    obj.setdefault("apiVersion", cls.api_version())
    obj.setdefault("kind", cls.KIND)
    if not obj.get("kind"):
        obj["kind"] = cls.KIND
    return obj
