"""Volume binding for scheduling (Kubernetes' VolumeBinding plugin), on informer caches.

Contract:
- `VolumeBinder(get_claim, get_volume, get_class, patch_claim)`: the getters read caches by
  key (`ns/name` for claims, `name` for PVs and StorageClasses); `patch_claim(ns, name, patch)`
  writes a merge patch.
- `prefilter(pod) -> VolumeState | str`: for each `persistentVolumeClaim` volume of the pod:
  a missing claim -> `persistentvolumeclaim "x" not found`; a claim being deleted ->
  `persistentvolumeclaim "x" is being deleted`; a bound claim contributes its PV's
  `nodeAffinity`; an unbound claim whose class binds Immediate (or has no class) ->
  `pod has unbound immediate PersistentVolumeClaims` (the PV controller must bind it first);
  an unbound claim whose class is WaitForFirstConsumer is delayed: provisioned for the chosen
  node. A string answer makes the pod unschedulable on every node.
- `node_filter(state)` is a scheduler filter: a node that does not satisfy every bound PV's
  node affinity gets `node(s) had volume node affinity conflict`.
- `await prebind(state, node, timeout_s)`: for each delayed claim, sets the
  `volume.kubernetes.io/selected-node` annotation to the node (what asks the provisioner for a
  volume there) and waits until the claim is Bound (cache polled every `poll_s`); only then may
  the pod be bound, so the kubelet never sees a pod whose claims are not ready. A claim that is
  not bound in time, or vanished, raises `VolumeBindingError` (the pod is retried).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from machinery import nodematch
from machinery.models import SELECTED_NODE_ANNOTATION
from scheduler.info import NodeInfo, PodInfo

VOLUME_CONFLICT = "node(s) had volume node affinity conflict"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
Getter = Callable[[str], Any | None]
PatchClaim = Callable[[str, str, dict[str, Any]], Awaitable[Any]]


class VolumeBindingError(Exception):
    """A delayed claim could not be bound for the chosen node."""


@dataclass
class VolumeState:
    node_terms: list[list[dict[str, Any]]] = field(default_factory=list)
    """One list of nodeSelectorTerms (ORed) per bound PV with node affinity; all must match."""
    delayed: list[tuple[str, str]] = field(default_factory=list)
    """(namespace, name) of unbound WaitForFirstConsumer claims, provisioned at prebind."""

    @property
    def empty(self) -> bool:
        return not self.node_terms and not self.delayed


def _d(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_dict()


def claim_names(pod: Any) -> list[str]:
    spec = _d(pod).get("spec") or {}
    return [str((v.get("persistentVolumeClaim") or {}).get("claimName") or "")
            for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim")]


class VolumeBinder:
    def __init__(self, *, get_claim: Getter, get_volume: Getter, get_class: Getter, patch_claim: PatchClaim,
                 poll_s: float = 0.1) -> None:
        self.get_claim = get_claim
        self.get_volume = get_volume
        self.get_class = get_class
        self.patch_claim = patch_claim
        self.poll_s = poll_s

    def prefilter(self, pod: Any) -> VolumeState | str:
        meta = _d(pod).get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        state = VolumeState()
        for name in claim_names(pod):
            obj = self.get_claim(f"{namespace}/{name}")
            if obj is None:
                return f'persistentvolumeclaim "{name}" not found'
            claim = _d(obj)
            if (claim.get("metadata") or {}).get("deletionTimestamp"):
                return f'persistentvolumeclaim "{name}" is being deleted'
            volume_name = (claim.get("spec") or {}).get("volumeName")
            if volume_name:
                pv = self.get_volume(volume_name)
                if pv is None:
                    return f'persistentvolume "{volume_name}" not found'
                required = ((_d(pv).get("spec") or {}).get("nodeAffinity") or {}).get("required")
                if required:
                    state.node_terms.append(list(required.get("nodeSelectorTerms") or []))
                continue
            class_name = (claim.get("spec") or {}).get("storageClassName")
            sc = self.get_class(class_name) if class_name else None
            if sc is None or _d(sc).get("volumeBindingMode") != "WaitForFirstConsumer":
                return UNBOUND_IMMEDIATE
            state.delayed.append((namespace, name))
        return state

    @staticmethod
    def node_filter(state: VolumeState) -> Callable[[PodInfo, NodeInfo], list[str]]:
        def volume_binding(pod: PodInfo, node: NodeInfo) -> list[str]:
            for terms in state.node_terms:
                if not any(nodematch.term_matches(t, node.labels, node.name) for t in terms):
                    return [VOLUME_CONFLICT]
            return []
        return volume_binding

    def _bound(self, namespace: str, name: str) -> bool:
        obj = self.get_claim(f"{namespace}/{name}")
        if obj is None:
            raise VolumeBindingError(f'persistentvolumeclaim "{name}" not found')
        claim = _d(obj)
        return bool((claim.get("spec") or {}).get("volumeName")) and (
            (claim.get("status") or {}).get("phase") == "Bound")

    async def prebind(self, state: VolumeState, node: str, timeout_s: float = 120.0) -> None:
        for namespace, name in state.delayed:
            annotations = ((_d(self.get_claim(f"{namespace}/{name}") or {}).get("metadata") or {})
                           .get("annotations") or {})
            if annotations.get(SELECTED_NODE_ANNOTATION) != node:
                await self.patch_claim(namespace, name, {"metadata": {"annotations": {
                    SELECTED_NODE_ANNOTATION: node}}})
        deadline = time.monotonic() + timeout_s
        pending = list(state.delayed)
        while pending:
            pending = [(ns, n) for ns, n in pending if not self._bound(ns, n)]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise VolumeBindingError(f"claims not bound in {timeout_s:.0f}s: "
                                         + ", ".join(f"{ns}/{n}" for ns, n in pending))
            await asyncio.sleep(self.poll_s)


__all__ = ["UNBOUND_IMMEDIATE", "VOLUME_CONFLICT", "VolumeBinder", "VolumeBindingError", "VolumeState",
           "claim_names"]
