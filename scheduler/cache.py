"""Node usage as the scheduler counts it: bound pods from the watch plus its own assumptions.

Contract:
- `set_node` / `remove_node` follow Node objects; `add_pod` / `remove_pod` follow bound pods
  (spec.nodeName set). Terminated pods hold nothing (NodeInfo ignores them).
- `assume(pod, node)` counts a pod on a node the moment the scheduler decides, before the
  binding is written, so the next pod already sees the space taken (no waiting for the watch).
  `forget(key)` undoes it when the binding fails. `finish_binding(key)` starts the assumption's
  expiry clock (`assume_ttl_s`, default 30 s): if the watch never confirms the binding, the
  assumption is dropped by `cleanup_expired()` instead of leaking capacity forever.
- When the watch shows the pod bound (`add_pod`), the assumption becomes a confirmed pod, on
  whichever node the API says (the truth wins over our guess).
- `nodes()` lists the known nodes in name order; the list is rebuilt only when nodes come or go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scheduler.info import NodeInfo, PodInfo


@dataclass
class _Assumed:
    pod: PodInfo
    deadline: float | None = None  # None while the binding call is still in flight


class SchedulerCache:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, assume_ttl_s: float = 30.0) -> None:
        self._clock = clock
        self.assume_ttl_s = assume_ttl_s
        self._nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}  # pod key -> node it is counted on
        self._assumed: dict[str, _Assumed] = {}
        self._sorted: list[NodeInfo] | None = None

    # ---- nodes -------------------------------------------------------------------------
    def _node(self, name: str) -> NodeInfo:
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(name=name)
        return info

    def set_node(self, node: Any) -> bool:
        """Add or refresh a node; True when something a filter or score reads changed."""
        d = node if isinstance(node, dict) else node.to_dict()
        name = (d.get("metadata") or {}).get("name") or ""
        info = self._node(name)
        before = (info.known, info.labels, info.allocatable, info.taints, info.unschedulable, info.ready)
        info.set_node(d)
        after = (info.known, info.labels, info.allocatable, info.taints, info.unschedulable, info.ready)
        if not before[0]:
            self._sorted = None
        return before != after

    def remove_node(self, name: str) -> None:
        info = self._nodes.get(name)
        if info is None:
            return
        self._sorted = None
        if info.pods:
            info.known = False  # keep counting its pods in case the node comes back
        else:
            del self._nodes[name]

    def nodes(self) -> list[NodeInfo]:
        if self._sorted is None:
            self._sorted = [n for _, n in sorted(self._nodes.items()) if n.known]
        return self._sorted

    def get_node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    # ---- pods --------------------------------------------------------------------------
    def _place(self, pod: PodInfo, node_name: str) -> None:
        old = self._pod_node.get(pod.key)
        if old is not None and old != node_name and old in self._nodes:
            self._nodes[old].remove_pod(pod.key)
        self._node(node_name).add_pod(pod)
        self._pod_node[pod.key] = node_name

    def add_pod(self, pod: PodInfo) -> None:
        """A pod the API shows bound (add or update event); confirms any assumption."""
        self._assumed.pop(pod.key, None)
        self._place(pod, pod.node_name)

    def remove_pod(self, key: str) -> None:
        self._assumed.pop(key, None)
        node = self._pod_node.pop(key, None)
        if node is not None and node in self._nodes:
            info = self._nodes[node]
            info.remove_pod(key)
            if not info.known and not info.pods:
                del self._nodes[node]

    def assume(self, pod: PodInfo, node_name: str) -> None:
        pod.node_name = node_name
        self._place(pod, node_name)
        self._assumed[pod.key] = _Assumed(pod)

    def finish_binding(self, key: str) -> None:
        assumed = self._assumed.get(key)
        if assumed is not None:
            assumed.deadline = self._clock() + self.assume_ttl_s

    def forget(self, key: str) -> None:
        if key in self._assumed:
            self.remove_pod(key)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def node_of(self, key: str) -> str | None:
        return self._pod_node.get(key)

    def cleanup_expired(self) -> list[str]:
        """Drop assumptions whose binding the watch never confirmed; returns their keys."""
        now = self._clock()
        expired = [k for k, a in self._assumed.items() if a.deadline is not None and a.deadline <= now]
        for key in expired:
            self.remove_pod(key)
        return expired
