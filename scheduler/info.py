"""The scheduler's own view of pods and nodes: `PodInfo`, `NodeInfo`, `Resources`.

Contract: every filter and score works on these plain dataclasses, never on API models or raw
JSON. They are built once per object change (`pod_info(obj)`, `node_info` fields set by the
cache), so the hot path (1,000 nodes x every pod) reads precomputed ints and sets instead of
re-parsing quantities. Builders accept a pydantic model (anything with `to_dict()`) or the
wire dict, so the scheduler does not care which one an informer hands it.

Requests follow Kubernetes: effective request = max(sum of app containers, max of each init
container) per resource, plus `spec.overhead`. Scoring uses "non-zero" requests (a container
with no cpu/memory request counts as 100m / 200Mi) so empty pods still spread.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from machinery import quantity
from machinery.quantity import parse_quantity

# Pods of one template repeat the same few quantity strings: parse each once (pure functions).
cpu_millis = functools.lru_cache(maxsize=4096)(quantity.cpu_millis)
memory_bytes = functools.lru_cache(maxsize=4096)(quantity.memory_bytes)

DEFAULT_MILLI_CPU = 100  # Kubernetes' DefaultMilliCPURequest, used by scores only
DEFAULT_MEMORY = 200 * 1024 * 1024  # DefaultMemoryRequest
DEFAULT_SCHEDULER = "default-scheduler"


@dataclass(frozen=True, slots=True)
class Resources:
    """Resource amounts in scheduler units: cpu in millicores, memory in bytes, pod count."""

    milli_cpu: int = 0
    memory: int = 0
    pods: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.milli_cpu + other.milli_cpu, self.memory + other.memory, self.pods + other.pods)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.milli_cpu - other.milli_cpu, self.memory - other.memory, self.pods - other.pods)


HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort); hostIP "0.0.0.0" = every address


@dataclass(slots=True)
class PodInfo:
    """What the scheduler needs to know about one pod, precomputed from the object."""

    namespace: str
    name: str
    uid: str = ""
    node_name: str = ""
    scheduler_name: str = DEFAULT_SCHEDULER
    priority: int = 0
    creation: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    requests: Resources = field(default_factory=Resources)  # pods=1 always
    nonzero: Resources = field(default_factory=Resources)  # for scoring
    node_selector: dict[str, str] = field(default_factory=dict)
    affinity_terms: list[dict[str, Any]] | None = None  # required nodeSelectorTerms, None = none
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    host_ports: list[HostPort] = field(default_factory=list)
    owner_uid: str = ""  # uid of the controller ownerReference, for spreading
    terminated: bool = False  # phase Succeeded/Failed: holds no resources
    deleting: bool = False
    conditions: list[dict[str, Any]] = field(default_factory=list)
    preemption_policy: str = "PreemptLowerPriority"
    nominated_node: str = ""  # status.nominatedNodeName
    start_time: str = ""  # status.startTime (preemption: the latest-started victims go first)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(slots=True)
class NodeInfo:
    """One node plus the pods the scheduler counts on it (bound and assumed).

    `requested`, `nonzero_requested` and `used_ports` are kept up to date by `add_pod` and
    `remove_pod`, so a filter never walks the node's pods.
    """

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    allocatable: Resources = field(default_factory=Resources)
    taints: list[dict[str, Any]] = field(default_factory=list)
    unschedulable: bool = False
    ready: bool = True
    known: bool = False  # False while only pods name the node and its Node object is unseen
    pods: dict[str, PodInfo] = field(default_factory=dict)
    requested: Resources = field(default_factory=Resources)
    nonzero_requested: Resources = field(default_factory=Resources)
    used_ports: dict[HostPort, int] = field(default_factory=dict)
    owner_counts: dict[str, int] = field(default_factory=dict)
    # scores.score_nodes' last (pod cpu, pod memory, nonzero_requested, allocatable, resource
    # score): reused while the node's aggregates are the same objects (Resources is immutable:
    # a change replaces it), which is every node but the last chosen for a run of equal pods.
    resource_score: tuple[int, int, Resources, Resources, int] | None = field(default=None, compare=False, repr=False)

    def add_pod(self, pod: PodInfo) -> None:
        old = self.pods.get(pod.key)
        if old is not None:
            if not pod.terminated and _same_footprint(old, pod):
                # A new version holding the same (a status update): the aggregates stay the
                # same objects, so the node's memoized resource score stays valid.
                self.pods[pod.key] = pod
                return
            self.remove_pod(pod.key)
        if pod.terminated:
            return  # a finished pod keeps its node name but holds nothing, not even a pod slot
        self.pods[pod.key] = pod
        self.requested = self.requested + pod.requests
        self.nonzero_requested = self.nonzero_requested + pod.nonzero
        for port in pod.host_ports:
            self.used_ports[port] = self.used_ports.get(port, 0) + 1
        if pod.owner_uid:
            self.owner_counts[pod.owner_uid] = self.owner_counts.get(pod.owner_uid, 0) + 1

    def remove_pod(self, key: str) -> PodInfo | None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return None
        self.requested = self.requested - pod.requests
        self.nonzero_requested = self.nonzero_requested - pod.nonzero
        for port in pod.host_ports:
            left = self.used_ports.get(port, 0) - 1
            if left > 0:
                self.used_ports[port] = left
            else:
                self.used_ports.pop(port, None)
        if pod.owner_uid:
            left = self.owner_counts.get(pod.owner_uid, 0) - 1
            if left > 0:
                self.owner_counts[pod.owner_uid] = left
            else:
                self.owner_counts.pop(pod.owner_uid, None)
        return pod

    def set_node(self, node: Any) -> None:
        """Refresh the node's own fields from a Node model or dict (pods are kept)."""
        d = _as_dict(node)
        meta = d.get("metadata") or {}
        spec = d.get("spec") or {}
        status = d.get("status") or {}
        self.labels = dict(meta.get("labels") or {})
        self.allocatable = _node_allocatable(status)
        self.taints = list(spec.get("taints") or [])
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = _node_ready(status)
        self.known = True


def _same_footprint(a: PodInfo, b: PodInfo) -> bool:
    """Whether two versions of a pod count the same in a node's aggregates."""
    return (a.requests == b.requests and a.nonzero == b.nonzero and a.host_ports == b.host_ports
            and a.owner_uid == b.owner_uid)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"expected a model or a dict, got {type(obj).__name__}")
    result: dict[str, Any] = to_dict()
    return result


def _node_ready(status: dict[str, Any]) -> bool:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False  # a node that never reported Ready is not Ready


def _node_allocatable(status: dict[str, Any]) -> Resources:
    amounts = status.get("allocatable") or status.get("capacity") or {}
    return Resources(
        milli_cpu=cpu_millis(str(amounts.get("cpu", "0"))),
        memory=memory_bytes(str(amounts.get("memory", "0"))),
        pods=int(parse_quantity(str(amounts.get("pods", "0")))),
    )


def _container_requests(container: dict[str, Any]) -> tuple[int, int]:
    # Kubernetes defaults requests to limits when only limits are set.
    res = container.get("resources") or {}
    req = dict(res.get("limits") or {})
    req.update(res.get("requests") or {})
    cpu = cpu_millis(str(req["cpu"])) if "cpu" in req else 0
    mem = memory_bytes(str(req["memory"])) if "memory" in req else 0
    return cpu, mem


def _pod_requests(spec: dict[str, Any]) -> tuple[Resources, Resources]:
    """(requests, non-zero requests): max(init containers) vs sum(app containers), + overhead."""
    cpu = mem = nz_cpu = nz_mem = 0
    for c in spec.get("containers") or []:
        c_cpu, c_mem = _container_requests(c)
        cpu, mem = cpu + c_cpu, mem + c_mem
        nz_cpu += c_cpu or DEFAULT_MILLI_CPU
        nz_mem += c_mem or DEFAULT_MEMORY
    for c in spec.get("initContainers") or []:
        c_cpu, c_mem = _container_requests(c)
        cpu, mem = max(cpu, c_cpu), max(mem, c_mem)
        nz_cpu, nz_mem = max(nz_cpu, c_cpu), max(nz_mem, c_mem)
    overhead = spec.get("overhead") or {}
    o_cpu = cpu_millis(str(overhead["cpu"])) if "cpu" in overhead else 0
    o_mem = memory_bytes(str(overhead["memory"])) if "memory" in overhead else 0
    return (
        Resources(cpu + o_cpu, mem + o_mem, 1),
        Resources(nz_cpu + o_cpu, nz_mem + o_mem, 1),
    )


def _host_ports(spec: dict[str, Any]) -> list[HostPort]:
    ports: list[HostPort] = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            host_port = p.get("hostPort")
            if host_port:
                ports.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(host_port)))
    return ports


def _required_terms(spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return None
    return list(required.get("nodeSelectorTerms") or [])


def _controller_uid(meta: dict[str, Any]) -> str:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid") or "")
    return ""


def pod_info(obj: Any) -> PodInfo:
    """Build the scheduler view of a Pod model or wire dict."""
    d = _as_dict(obj)
    meta = d.get("metadata") or {}
    spec = d.get("spec") or {}
    status = d.get("status") or {}
    requests, nonzero = _pod_requests(spec)
    return PodInfo(
        namespace=meta.get("namespace") or "default",
        name=meta.get("name") or "",
        uid=meta.get("uid") or "",
        node_name=spec.get("nodeName") or "",
        scheduler_name=spec.get("schedulerName") or DEFAULT_SCHEDULER,
        priority=int(spec.get("priority") or 0),
        creation=meta.get("creationTimestamp") or "",
        labels=dict(meta.get("labels") or {}),
        requests=requests,
        nonzero=nonzero,
        node_selector=dict(spec.get("nodeSelector") or {}),
        affinity_terms=_required_terms(spec),
        tolerations=list(spec.get("tolerations") or []),
        host_ports=_host_ports(spec),
        owner_uid=_controller_uid(meta),
        terminated=status.get("phase") in ("Succeeded", "Failed"),
        deleting=bool(meta.get("deletionTimestamp")),
        conditions=list(status.get("conditions") or []),
        preemption_policy=spec.get("preemptionPolicy") or "PreemptLowerPriority",
        nominated_node=status.get("nominatedNodeName") or "",
        start_time=status.get("startTime") or meta.get("creationTimestamp") or "",
    )


def node_info(obj: Any) -> NodeInfo:
    """Build a NodeInfo (without pods) from a Node model or wire dict."""
    d = _as_dict(obj)
    info = NodeInfo(name=(d.get("metadata") or {}).get("name") or "")
    info.set_node(d)
    return info
