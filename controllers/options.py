"""Controller-manager settings that individual controllers read (flags of `python -m controllers`).

Contract: one frozen dataclass, defaults as in Kubernetes' kube-controller-manager; the
manager hands it to every controller through `ControllerContext.options`. Durations are float
seconds named `*_s`, rates are per second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ControllerOptions:
    # --- node IPAM (pkg/controller/nodeipam) -----------------------------------------------
    allocate_node_cidrs: bool = True
    """Assign each node a pod CIDR from `cluster_cidr` (Kubernetes: --allocate-node-cidrs)."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network of the whole cluster (--cluster-cidr)."""
    node_cidr_mask_size: int = 24
    """Prefix length of each node's pod CIDR (--node-cidr-mask-size)."""

    # --- node lifecycle (pkg/controller/nodelifecycle) -------------------------------------
    node_monitor_period_s: float = 5.0
    """How often node health is checked (--node-monitor-period)."""
    node_monitor_grace_period_s: float = 50.0
    """A node whose Lease and status were not renewed for this long is Unknown
    (--node-monitor-grace-period; 50 s since Kubernetes 1.32)."""
    node_startup_grace_period_s: float = 60.0
    """The same for a node that never posted a Ready condition (--node-startup-grace-period)."""
    node_eviction_rate: float = 0.1
    """Nodes per second whose pods may be evicted (NoExecute-tainted) in a healthy zone."""
    secondary_node_eviction_rate: float = 0.01
    """The same in a zone with more than `unhealthy_zone_threshold` of its nodes unhealthy,
    when the zone has more than `large_cluster_size_threshold` nodes (0 otherwise)."""
    unhealthy_zone_threshold: float = 0.55
    """Fraction of not-Ready nodes (at least 3) that makes a zone partially disrupted."""
    large_cluster_size_threshold: int = 50
    """Zones with at most this many nodes stop evicting when partially disrupted."""

    # --- storage (local-path provisioner, pkg/controller/volume) ----------------------------
    local_path_dir: str = "/var/lib/kubelite/local-path"
    """Directory on each node under which the local-path provisioner puts its volumes
    (a StorageClass may override it with the parameter `nodePath`)."""
    local_path_helper_image: str = "kubelite/busybox:latest"
    """Image of the helper pod that removes a deleted volume's directory on its node."""
    default_storage_class: str = "standard"
    """Name of the default StorageClass created at startup when none is marked default
    (empty: create none)."""

    # --- service load balancers (controllers/servicelb.py) -----------------------------------
    lb_pool: str = ""
    """CIDR LoadBalancer addresses come from (the lab's cloud provider: a range of the lab
    network); empty: every Ready node's address, as k3s' ServiceLB on one host."""

    # --- pod garbage collector (pkg/controller/podgc) ----------------------------------------
    pod_gc_quarantine_s: float = 40.0
    signing_ca: Any = None
    """machinery.pki.CertificateAuthority that signs approved kubelet/client CSRs
    (--cluster-signing-cert-file/--cluster-signing-key-file); None: csrsigning does nothing."""
    cluster_signing_duration_s: float = 365 * 86400.0
    """Longest certificate the CSR signer issues (--cluster-signing-duration)."""
    root_ca_pem: str = ""
    """The cluster CA (PEM) the root-ca-cert-publisher puts in every namespace's kube-root-ca.crt
    ConfigMap (--root-ca-file, default: the CA of the controller-manager's kubeconfig)."""
    """How long a pod bound to an unknown node waits before the node is checked again and the
    pod force-deleted (Kubernetes' fixed quarantine)."""

    # --- horizontal pod autoscaler (pkg/controller/podautoscaler) ----------------------------
    hpa_sync_period_s: float = 15.0
    """How often every HPA is recomputed (--horizontal-pod-autoscaler-sync-period)."""
    hpa_tolerance: float = 0.1
    """No scaling while the usage ratio is within this of 1.0 (--horizontal-pod-autoscaler-tolerance)."""
    hpa_downscale_stabilization_s: float = 300.0
    """Scale down only to the highest recommendation of this window
    (--horizontal-pod-autoscaler-downscale-stabilization)."""
    hpa_cpu_initialization_period_s: float = 300.0
    """After a pod starts, its CPU samples count only once it is Ready and sampled after that
    (--horizontal-pod-autoscaler-cpu-initialization-period)."""
    hpa_initial_readiness_delay_s: float = 30.0
    """A pod not Ready within this of its start is taken as not yet ready
    (--horizontal-pod-autoscaler-initial-readiness-delay)."""


def parse_duration_s(value: str) -> float:
    """"5", "5s", "500ms", "1m", "1m30s", "1h" -> float seconds (ValueError otherwise)."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, num, i = 0.0, "", 0
    if not text:
        raise ValueError("empty duration")
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not num:
            raise ValueError(f"invalid duration {value!r} (e.g. 5s, 500ms, 1m)")
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    if num:
        raise ValueError(f"invalid duration {value!r}: missing unit after {num}")
    return total

