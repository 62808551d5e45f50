"""Which kinds exist, and how names and paths map to them.

Contract (docs/CONTRACTS.md):
- `ALL_KINDS`: the stored, REST-served kinds (the API server generates routes from it).
  The subresource bodies `Binding`, `Scale`, `Eviction` are not in it; `by_kind` and
  `model_for` still find them (they are in `SUBRESOURCE_KINDS`).
- `by_kind(kind, api_version=None)`, `by_resource(group, version, plural)`, `resolve(name)`,
  `model_for(obj)` raise `KeyError` when nothing matches.
- `resolve` takes what kubectl takes: plural, singular, short name, Kind (any case),
  `plural.group` / `singular.group` / `Kind.group` ("deployments.apps"), and the full
  `plural.version.group` form ("deployments.v1.apps").
- `collection_path(cls, namespace=None)`: `/api/v1/namespaces/NS/pods`; without a namespace
  (or for cluster-scoped kinds) `/api/v1/pods` (all namespaces). `object_path` appends the
  name and an optional subresource.
"""

from __future__ import annotations

from typing import Any

from machinery.meta import Resource
from machinery.models import (
    Binding,
    CertificateSigningRequest,
    ClusterRole,
    ClusterRoleBinding,
    ConfigMap,
    ControllerRevision,
    CronJob,
    DaemonSet,
    Deployment,
    Endpoints,
    EndpointSlice,
    Event,
    Eviction,
    HorizontalPodAutoscaler,
    Job,
    Lease,
    LimitRange,
    LocalSubjectAccessReview,
    Namespace,
    NetworkPolicy,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    PodPreset,
    PriorityClass,
    ReplicaSet,
    ReplicationController,
    ResourceQuota,
    Role,
    RoleBinding,
    Scale,
    Secret,
    SelfSubjectAccessReview,
    Service,
    ServiceAccount,
    StatefulSet,
    StorageClass,
    SubjectAccessReview,
    TokenReview,
)

ALL_KINDS: list[type[Resource]] = [
    Namespace, Node, Pod, Service, Endpoints, ConfigMap, Secret, Event,
    ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob, Lease, ControllerRevision,
    PersistentVolume, PersistentVolumeClaim, StorageClass, ReplicationController,
    LimitRange, ResourceQuota, PodDisruptionBudget, PriorityClass, EndpointSlice,
    Role, ClusterRole, RoleBinding, ClusterRoleBinding, HorizontalPodAutoscaler, PodPreset, ServiceAccount,
    NetworkPolicy, CertificateSigningRequest,
]
SUBRESOURCE_KINDS: list[type[Resource]] = [Binding, Scale, Eviction]
REVIEW_KINDS: list[type[Resource]] = [SubjectAccessReview, SelfSubjectAccessReview, LocalSubjectAccessReview,
                                      TokenReview]
"""Create-only kinds answered without storage (discovery lists them; their routes are their own)."""


def _group_of(api_version: str) -> tuple[str, str]:
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", version)


def by_kind(kind: str, api_version: str | None = None) -> type[Resource]:
    """The model of `kind` (exact Kind spelling), optionally in `api_version` ("apps/v1")."""
    for cls in [*ALL_KINDS, *SUBRESOURCE_KINDS, *REVIEW_KINDS]:
        if kind != cls.KIND:
            continue
        if api_version is None or cls.api_version() == api_version:
            return cls
    raise KeyError(f"no kind {kind!r}" + (f" in {api_version!r}" if api_version else ""))


def by_resource(group: str, version: str, plural: str) -> type[Resource]:
    """The stored kind served at `/api(s)/GROUP/VERSION/.../PLURAL`."""
    for cls in ALL_KINDS:
        if group == cls.GROUP and version == cls.VERSION and plural == cls.PLURAL:
            return cls
    raise KeyError(f"no resource {plural!r} in {group + '/' if group else ''}{version}")


def _names(cls: type[Resource]) -> set[str]:
    return {cls.PLURAL, cls.SINGULAR, cls.KIND.lower(), *cls.SHORT_NAMES}


def resolve(name: str) -> type[Resource]:
    """A kind from a CLI resource name ("po", "pods", "Pod", "deployments.apps", "deploy")."""
    lowered = name.strip().lower()
    if not lowered:
        raise KeyError("empty resource name")
    for cls in ALL_KINDS:
        if lowered in _names(cls):
            return cls
    # Qualified forms: NAME.GROUP or NAME.VERSION.GROUP; the core group has no suffix but
    # kubectl also accepts "pods.v1" (empty group), hence the version check on the tail.
    base, _, qualifier = lowered.partition(".")
    for cls in ALL_KINDS:
        if base not in _names(cls):
            continue
        if qualifier in (cls.GROUP, f"{cls.VERSION}.{cls.GROUP}".rstrip("."), cls.VERSION):
            return cls
    raise KeyError(f"unknown resource type {name!r}")


def model_for(obj: dict[str, Any]) -> type[Resource]:
    """The model of a manifest, from its `apiVersion` and `kind`."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        raise KeyError("object has no kind")
    if not isinstance(api_version, str) or not api_version:
        raise KeyError(f"object of kind {kind!r} has no apiVersion")
    return by_kind(kind, api_version)


def _base(cls: type[Resource]) -> str:
    return f"/apis/{cls.GROUP}/{cls.VERSION}" if cls.GROUP else f"/api/{cls.VERSION}"


def collection_path(cls: type[Resource], namespace: str | None = None) -> str:
    """The REST collection of `cls`, in `namespace` or across all namespaces."""
    if cls.NAMESPACED and namespace:
        return f"{_base(cls)}/namespaces/{namespace}/{cls.PLURAL}"
    return f"{_base(cls)}/{cls.PLURAL}"


def object_path(cls: type[Resource], name: str, namespace: str | None = None,
                subresource: str | None = None) -> str:
    """The REST path of one object (and of its subresource). Like `collection_path`, a
    namespaced kind without a namespace gets the all-namespaces prefix (the server 404s it)."""
    if not name:
        raise ValueError(f"a {cls.KIND} name is required")
    path = f"{collection_path(cls, namespace)}/{name}"
    return f"{path}/{subresource}" if subresource else path


__all__ = [
    "ALL_KINDS", "SUBRESOURCE_KINDS", "by_kind", "by_resource", "collection_path", "model_for",
    "object_path", "resolve",
]
