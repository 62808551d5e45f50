"""Pure builders of the objects hollow nodes write: Node, Lease, and a running pod's status.

Contract: no I/O; every function returns the JSON body (dicts) exactly as sent, so they are
unit-tested on their own. Timestamps are UTC RFC 3339 from machinery.clock (`utc_micro` with
microseconds, as Lease.renewTime, `utc_seconds` otherwise).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from machinery.clock import now_micro_rfc3339 as utc_micro
from machinery.clock import now_rfc3339 as utc_seconds


def node_ip(index: int) -> str:
    """A fake InternalIP per node index (never routed; 10.250.0.0/16 is not the pod CIDR)."""
    return f"10.250.{(index // 250) % 256}.{index % 250 + 1}"


def pod_ip(index: int, n: int) -> str:
    """Pod address n (1..254) of node `index` in 10.244.<index % 256>.0/24."""
    return f"10.244.{index % 256}.{n}"


def pod_ip_in(cidr: str, n: int) -> str:
    """Address n of the node's pod CIDR (as assigned by node IPAM)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address + (n % max(2, net.num_addresses - 1)))


def node_body(name: str, index: int, *, cpu: str, memory: str, pods: str) -> dict[str, Any]:
    now = utc_seconds()
    resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    conditions = [
        {"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": now, "lastTransitionTime": now}
        for t, r, m in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "hollow kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubelite.io/hollow": "true",
            },
        },
        "spec": {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": node_ip(index)}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "kubeletVersion": "kubelite-hollow",
                "containerRuntimeVersion": "hollow://0",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def lease_body(name: str, duration_s: int = 40) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": duration_s, "renewTime": utc_micro()},
    }


def running_status(pod: dict[str, Any], *, node_index: int, pod_ip: str) -> dict[str, Any]:
    """Merge patch making `pod` Running and Ready, every container running."""
    now = utc_seconds()
    spec = pod.get("spec") or {}
    uid = (pod.get("metadata") or {}).get("uid") or ""
    cond_types = ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    statuses = [
        {
            "name": c.get("name", ""),
            "image": c.get("image", ""),
            "imageID": f"hollow://{c.get('image', '')}",
            "containerID": f"hollow://{uid}/{c.get('name', '')}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
        }
        for c in spec.get("containers") or []
    ]
    return {
        "status": {
            "phase": "Running",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now} for t in cond_types],
            "hostIP": node_ip(node_index),
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": now,
            "containerStatuses": statuses,
        }
    }
