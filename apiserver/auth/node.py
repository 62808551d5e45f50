"""The Node authorizer and NodeRestriction: what a kubelet may touch.

Contract (as Kubernetes' plugin/pkg/auth/authorizer/node and plugin/pkg/admission/
noderestriction):
- A kubelet is the user `system:node:NAME` in the group `system:nodes`; other users get
  NO_OPINION. A node user with an empty NAME gets NO_OPINION too.
- `NodeGraph` knows, from the pods watch, which pods are bound to which node and which
  secrets, configmaps, PVCs and ServiceAccounts each references (volumes, projected sources,
  env/envFrom, imagePullSecrets, serviceAccountName), and from the PVC watch which PV a claim
  is bound to. Updates are per pod: O(references of that pod).
- `NodeAuthorizer.authorize(attrs)`:
  * secrets, configmaps: get (and a list/watch of one name) only when a pod bound to the node
    references it; PVCs and PVs: get only, likewise; `serviceaccounts/token` create only for a
    pod's ServiceAccount. Otherwise NO_OPINION with "no relationship found between node 'N'
    and this object" (or the verb's reason).
  * leases in kube-node-lease: only the node's own (create is checked by NodeRestriction on
    the body's name).
  * everything else: allowed by the `system:node` rules (bootstrappolicy.NODE_RULES).
- `node_restriction(attrs, graph) -> errors.Forbidden | None`, called after authorization
  allowed the request, with the admission plugin's wording: a node may modify (update,
  patch, delete) only its own Node (`node "n1" is not allowed to modify node "n2"`), update
  status only of pods bound to itself, delete only pods bound to itself.
- `admit_node_create(user, obj)`: a node creating a Node must create its own; creating a pod
  is allowed only for a mirror pod bound to itself. Called from the create path.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from apiserver.auth.authz import Decision
from apiserver.auth.bootstrappolicy import NODE_RULES
from apiserver.auth.rbac import Rule, rule_allows
from apiserver.auth.user import RequestAttributes, UserInfo
from machinery import errors

Obj = dict[str, Any]
NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
LEASE_NAMESPACE = "kube-node-lease"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_REFERENCED = {"secrets": "secret", "configmaps": "configmap", "persistentvolumeclaims": "pvc"}


def node_name(user: UserInfo) -> str | None:
    """NAME of a kubelet user, "" for a malformed one, None for anyone else."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    return user.name[len(NODE_PREFIX):]


def _volume_references(pod: Obj, volumes: list[Obj]) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for v in volumes:
        refs.add(("secret", str((v.get("secret") or {}).get("secretName") or "")))
        refs.add(("configmap", str((v.get("configMap") or {}).get("name") or "")))
        refs.add(("pvc", str((v.get("persistentVolumeClaim") or {}).get("claimName") or "")))
        if v.get("ephemeral"):
            refs.add(("pvc", f"{(pod.get('metadata') or {}).get('name', '')}-{v.get('name', '')}"))
        for src in (v.get("projected") or {}).get("sources") or []:
            refs.add(("secret", str((src.get("secret") or {}).get("name") or "")))
            refs.add(("configmap", str((src.get("configMap") or {}).get("name") or "")))
    return refs


def _container_references(containers: list[Obj]) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for c in containers:
        for env in c.get("env") or []:
            vf = env.get("valueFrom") or {}
            refs.add(("secret", str((vf.get("secretKeyRef") or {}).get("name") or "")))
            refs.add(("configmap", str((vf.get("configMapKeyRef") or {}).get("name") or "")))
        for ef in c.get("envFrom") or []:
            refs.add(("secret", str((ef.get("secretRef") or {}).get("name") or "")))
            refs.add(("configmap", str((ef.get("configMapRef") or {}).get("name") or "")))
    return refs


def pod_references(pod: Obj) -> set[tuple[str, str]]:
    """(type, name) of the secrets, configmaps, PVCs and ServiceAccount the pod uses."""
    spec = pod.get("spec") or {}
    refs: set[tuple[str, str]] = {("serviceaccount", str(spec.get("serviceAccountName") or "default"))}
    refs |= {("secret", str(s.get("name") or "")) for s in spec.get("imagePullSecrets") or []}
    refs |= _volume_references(pod, spec.get("volumes") or [])
    refs |= _container_references([*(spec.get("initContainers") or []), *(spec.get("containers") or []),
                                   *(spec.get("ephemeralContainers") or [])])
    return {r for r in refs if r[1]}


class NodeGraph:
    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], tuple[str, frozenset[tuple[str, str]]]] = {}
        """(namespace, pod) -> (node, its references)."""
        self._counts: dict[str, dict[tuple[str, str, str], int]] = defaultdict(lambda: defaultdict(int))
        """node -> (type, namespace, name) -> number of its pods referencing it."""
        self.pv_of_claim: dict[tuple[str, str], str] = {}

    def _add(self, key: tuple[str, str], node: str, refs: frozenset[tuple[str, str]], sign: int) -> None:
        counts = self._counts[node]
        for kind, name in refs:
            ref = (kind, key[0], name)
            counts[ref] += sign
            if counts[ref] <= 0:
                del counts[ref]
        if not counts:
            del self._counts[node]

    def apply_pod(self, event_type: str, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        old = self.pods.pop(key, None)
        if old is not None:
            self._add(key, old[0], old[1], -1)
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if event_type != "DELETED" and node:
            refs = frozenset(pod_references(pod))
            self.pods[key] = (node, refs)
            self._add(key, node, refs, +1)

    def reset_pods(self, pods: list[Obj]) -> None:
        self.pods.clear()
        self._counts.clear()
        for pod in pods:
            self.apply_pod("ADDED", pod)

    def apply_pvc(self, event_type: str, pvc: Obj) -> None:
        meta = pvc.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        volume = (pvc.get("spec") or {}).get("volumeName")
        if event_type == "DELETED" or not volume:
            self.pv_of_claim.pop(key, None)
        else:
            self.pv_of_claim[key] = str(volume)

    def reset_pvcs(self, pvcs: list[Obj]) -> None:
        self.pv_of_claim.clear()
        for pvc in pvcs:
            self.apply_pvc("ADDED", pvc)

    def references(self, node: str, kind: str, namespace: str, name: str) -> bool:
        return self._counts.get(node, {}).get((kind, namespace, name), 0) > 0

    def uses_pv(self, node: str, pv: str) -> bool:
        return any(kind == "pvc" and self.pv_of_claim.get((ns, name)) == pv
                   for kind, ns, name in self._counts.get(node, {}))

    def node_of_pod(self, namespace: str, name: str) -> str | None:
        found = self.pods.get((namespace, name))
        return found[0] if found else None


_NODE_RULES = tuple(Rule.of(r) for r in NODE_RULES)


def _no_relationship(node: str) -> tuple[Decision, str]:
    return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"


class NodeAuthorizer:
    def __init__(self, graph: NodeGraph) -> None:
        self.graph = graph

    def authorize(self, attrs: RequestAttributes) -> tuple[Decision, str]:
        node = node_name(attrs.user)
        if node is None:
            return Decision.NO_OPINION, ""
        if not node:
            return Decision.NO_OPINION, "unknown node"
        if attrs.resource_request and attrs.api_group == "":
            res, sub = attrs.resource, attrs.subresource
            if res in _REFERENCED and not sub:
                return self._read_referenced(node, attrs, _REFERENCED[res])
            if res == "persistentvolumeclaims" and sub == "status":
                if attrs.verb in ("update", "patch") and self.graph.references(node, "pvc", attrs.namespace, attrs.name):
                    return Decision.ALLOW, ""
                return _no_relationship(node)
            if res == "persistentvolumes":
                if attrs.verb == "get" and attrs.name and self.graph.uses_pv(node, attrs.name):
                    return Decision.ALLOW, ""
                return _no_relationship(node)
            if res == "serviceaccounts" and sub == "token":
                if attrs.verb == "create" and self.graph.references(node, "serviceaccount", attrs.namespace, attrs.name):
                    return Decision.ALLOW, ""
                return _no_relationship(node)
        if attrs.resource_request and attrs.api_group == "coordination.k8s.io" and attrs.resource == "leases":
            if attrs.namespace != LEASE_NAMESPACE:
                return Decision.NO_OPINION, "can only access node lease with the same name as the requesting node"
            if attrs.verb == "create" or (attrs.name == node and attrs.verb in ("get", "update", "patch", "delete")):
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, "can only get, update, patch, delete or create a node lease with the same name as the requesting node"
        if any(rule_allows(r, attrs) for r in _NODE_RULES):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _read_referenced(self, node: str, attrs: RequestAttributes, kind: str) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "list", "watch") or not attrs.name or not attrs.namespace:
            return Decision.NO_OPINION, f"can only read individual {attrs.resource}"
        if kind == "pvc" and attrs.verb != "get":
            return Decision.NO_OPINION, f"can only get individual {attrs.resource}"
        if self.graph.references(node, kind, attrs.namespace, attrs.name):
            return Decision.ALLOW, ""
        return _no_relationship(node)


def _forbidden(attrs: RequestAttributes, message: str) -> errors.Forbidden:
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    return errors.Forbidden(f'{qualified} "{attrs.name}" is forbidden: {message}', name=attrs.name,
                            kind=attrs.resource, group=attrs.api_group or None)


def node_restriction(attrs: RequestAttributes, graph: NodeGraph) -> errors.Forbidden | None:
    node = node_name(attrs.user)
    if node is None or not attrs.resource_request or attrs.api_group != "" or not attrs.name:
        return None
    if attrs.resource == "nodes" and attrs.verb in ("update", "patch", "delete") and attrs.name != node:
        return _forbidden(attrs, f'node "{node}" is not allowed to modify node "{attrs.name}"')
    if attrs.resource == "pods":
        bound = graph.node_of_pod(attrs.namespace, attrs.name)
        if attrs.subresource == "status" and attrs.verb in ("update", "patch") and bound != node:
            return _forbidden(attrs, f'node "{node}" can only update pod status for pods with spec.nodeName '
                              "set to itself")
        if not attrs.subresource and attrs.verb == "delete" and bound != node:
            return _forbidden(attrs, f'node "{node}" can only delete pods with spec.nodeName set to itself')
        if not attrs.subresource and attrs.verb in ("update", "patch"):
            return _forbidden(attrs, f'unexpected operation "UPDATE", node "{node}" can only create and delete '
                              "mirror pods")
    return None


def admit_node_create(user: UserInfo, kind: str, name: str, obj: Obj) -> errors.Forbidden | None:
    node = node_name(user)
    if node is None:
        return None
    if kind == "Node" and name != node:
        return errors.Forbidden(f'nodes "{name}" is forbidden: node "{node}" is not allowed to modify node "{name}"',
                                name=name, kind="nodes")
    if kind == "Pod":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if MIRROR_ANNOTATION not in annotations:
            return errors.Forbidden(f'pods "{name}" is forbidden: pod does not have "{MIRROR_ANNOTATION}" '
                                    f'annotation, node "{node}" can only create mirror pods', name=name, kind="pods")
        if (obj.get("spec") or {}).get("nodeName") != node:
            return errors.Forbidden(f'pods "{name}" is forbidden: node "{node}" can only create pods with '
                                    "spec.nodeName set to itself", name=name, kind="pods")
    if kind == "Lease" and name != node:
        return errors.Forbidden(f'leases.coordination.k8s.io "{name}" is forbidden: can only access node lease '
                                "with the same name as the requesting node", name=name, kind="leases",
                                group="coordination.k8s.io")
    return None
