"""API discovery documents and /version, built from the registry of kinds.

Contract:
- `/api` -> APIVersions, `/api/v1` -> APIResourceList of the core group, `/apis` ->
  APIGroupList, `/apis/GROUP` -> APIGroup, `/apis/GROUP/VERSION` -> APIResourceList.
- Each resource lists name (plural), singularName, namespaced, kind, verbs, shortNames,
  categories; each subresource is its own entry (`pods/status`, `deployments/scale` of kind
  Scale in autoscaling/v1, `pods/binding` of kind Binding, ...), as kubectl expects.
- Aggregated discovery (what kubectl asks for first): `/api` and `/apis` with Accept
  `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` (or v2beta1) answer
  an APIGroupDiscoveryList of the core group / the named groups, every resource with its
  responseKind, scope, verbs, shortNames, categories and subresources, with exactly that
  Content-Type (`aggregated_type(accept)` picks it, None for the legacy documents).
- `/version`: `{"major": "1", "minor": "30", "gitVersion": "v1.30.0-kubelite", ...}`.
- `Discovery(kinds)` precomputes every document once (they never change while running).
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable
from typing import Any

from machinery.meta import Resource

K8S_MAJOR, K8S_MINOR = "1", "30"
GIT_VERSION = f"v{K8S_MAJOR}.{K8S_MINOR}.0-kubelite"

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
# subresource -> (kind, group, version, verbs); group/version None = the parent's
_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, list[str]]] = {
    "status": (None, None, None, ["get", "patch", "update"]),
    "scale": ("Scale", "autoscaling", "v1", ["get", "patch", "update"]),
    "binding": ("Binding", None, None, ["create"]),
    "finalize": (None, None, None, ["update"]),
    "log": (None, None, None, ["get"]),
    "exec": ("PodExecOptions", None, None, ["create", "get"]),
    "eviction": ("Eviction", "policy", "v1", ["create"]),
    "attach": ("PodAttachOptions", None, None, ["create", "get"]),
    "portforward": ("PodPortForwardOptions", None, None, ["create", "get"]),
    "proxy": ("NodeProxyOptions", None, None, ["create", "delete", "get", "patch", "update"]),
}


AGGREGATED = "apidiscovery.k8s.io"


def aggregated_type(accept: str) -> str | None:
    """The Content-Type of the aggregated discovery the Accept header asks for, if any."""
    for clause in accept.split(","):
        parts = [p.strip() for p in clause.split(";")]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if (parts[0] == "application/json" and params.get("g") == AGGREGATED
                and params.get("as") == "APIGroupDiscoveryList" and params.get("v") in ("v2", "v2beta1")):
            return f"application/json;g={AGGREGATED};v={params['v']};as=APIGroupDiscoveryList"
    return None


def _verbs(cls: type[Resource]) -> list[str]:
    """A kind's verbs: all of them, or its `VERBS` (the create-only reviews, the read-only metrics)."""
    return list(getattr(cls, "VERBS", _VERBS))


def _aggregated_resource(cls: type[Resource]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": cls.PLURAL, "responseKind": {"group": cls.GROUP, "version": cls.VERSION, "kind": cls.KIND},
        "scope": "Namespaced" if cls.NAMESPACED else "Cluster",
        "singularResource": cls.SINGULAR or cls.KIND.lower(), "verbs": _verbs(cls)}
    if cls.SHORT_NAMES:
        out["shortNames"] = list(cls.SHORT_NAMES)
    if cls.CATEGORIES:
        out["categories"] = list(cls.CATEGORIES)
    subs = []
    for sub in cls.SUBRESOURCES:
        kind, group, version, verbs = _SUBRESOURCES.get(sub, (None, None, None, ["get"]))
        subs.append({"subresource": sub, "verbs": verbs, "responseKind": {
            "group": cls.GROUP if group is None else group, "version": version or cls.VERSION,
            "kind": kind or cls.KIND}})
    if subs:
        out["subresources"] = subs
    return out


def version_info() -> dict[str, str]:
    return {
        "major": K8S_MAJOR, "minor": K8S_MINOR, "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython", "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


def _resource_entries(cls: type[Resource]) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": cls.PLURAL, "singularName": cls.SINGULAR or cls.KIND.lower(),
        "namespaced": cls.NAMESPACED, "kind": cls.KIND, "verbs": _verbs(cls),
        "storageVersionHash": "",
    }
    if cls.SHORT_NAMES:
        main["shortNames"] = list(cls.SHORT_NAMES)
    if cls.CATEGORIES:
        main["categories"] = list(cls.CATEGORIES)
    out = [main]
    for sub in cls.SUBRESOURCES:
        kind, group, version, verbs = _SUBRESOURCES.get(sub, (None, None, None, ["get"]))
        entry: dict[str, Any] = {"name": f"{cls.PLURAL}/{sub}", "singularName": "",
                                 "namespaced": cls.NAMESPACED, "kind": kind or cls.KIND, "verbs": verbs}
        if group is not None:
            entry["group"], entry["version"] = group, version
        out.append(entry)
    return out


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version order (GA before beta before alpha, higher numbers first) as a sort
    key: v2 < v1 < v1beta2 < v1beta1 < v1alpha1."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if m is None:
        return (3, 0, 0)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0))


class Discovery:
    def __init__(self, kinds: Iterable[type[Resource]], server_address: str = "127.0.0.1:6443") -> None:
        by_gv: dict[tuple[str, str], list[type[Resource]]] = {}
        for cls in kinds:
            by_gv.setdefault((cls.GROUP, cls.VERSION), []).append(cls)
        self.server_address = server_address
        self.resource_lists: dict[tuple[str, str], dict[str, Any]] = {}
        for (group, version), classes in by_gv.items():
            gv = f"{group}/{version}" if group else version
            resources = [e for cls in sorted(classes, key=lambda c: c.PLURAL) for e in _resource_entries(cls)]
            self.resource_lists[(group, version)] = {
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
        core_versions = sorted(v for g, v in by_gv if g == "")
        self.api_versions = {
            "kind": "APIVersions", "versions": core_versions or ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }
        self.groups: dict[str, dict[str, Any]] = {}
        for group in sorted({g for g, _ in by_gv if g}):
            versions = sorted((v for g, v in by_gv if g == group), key=version_priority)
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            self.groups[group] = {"kind": "APIGroup", "apiVersion": "v1", "name": group,
                                  "versions": entries, "preferredVersion": entries[0]}
        self.group_list = {"kind": "APIGroupList", "apiVersion": "v1",
                           "groups": [{k: v for k, v in g.items() if k not in ("kind", "apiVersion")}
                                      for g in self.groups.values()]}

        self.aggregated: dict[bool, dict[str, Any]] = {}
        for core in (True, False):
            items: list[dict[str, Any]] = []
            for group in sorted({g for g, _ in by_gv if (g == "") == core}):
                gv_docs: list[dict[str, Any]] = [{"version": v, "freshness": "Current", "resources": [
                    _aggregated_resource(c) for c in sorted(by_gv[(group, v)], key=lambda c: c.PLURAL)]}
                    for v in sorted((v for g, v in by_gv if g == group), key=version_priority)]
                items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": gv_docs})
            self.aggregated[core] = {"kind": "APIGroupDiscoveryList", "apiVersion": f"{AGGREGATED}/v2",
                                     "metadata": {}, "items": items}

    def aggregated_list(self, *, core: bool, content_type: str) -> dict[str, Any]:
        doc = self.aggregated[core]
        version = content_type.split("v=", 1)[1].split(";", 1)[0]
        return {**doc, "apiVersion": f"{AGGREGATED}/{version}"}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        return self.resource_lists.get((group, version))

    def group(self, name: str) -> dict[str, Any] | None:
        return self.groups.get(name)
