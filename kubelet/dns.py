"""Pod DNS: the /etc/resolv.conf a pod's containers get.

Contract: `resolv_conf(pod, cluster_dns=, cluster_domain=)` returns the file content, or None
to keep the one Docker writes. The policy logic (dnsPolicy ClusterFirst, ClusterFirstWithHostNet,
Default, None, the hostNetwork and no-cluster-DNS fallbacks, merging spec.dnsConfig) is the one
shared implementation in `machinery.dnsconfig.pod_resolv_conf`; this module only adapts it to
Docker. The worker writes the text into the pod directory and bind-mounts it read-only into
every container (as Kubernetes' Docker shim did): containers joined to the sandbox may not set
DNS options themselves.

Docker, not the kubelet, owns the "host" resolv.conf a container should inherit (on a pod
bridge it is Docker's embedded resolver, 127.0.0.11, whose upstreams are the host's): so the
shared function is given an empty host file, and when it then has nothing to say (dnsPolicy
Default, or ClusterFirst without cluster DNS or on hostNetwork, with no dnsConfig) the
container keeps Docker's file.
"""

from __future__ import annotations

import os
from typing import Any

from machinery.dnsconfig import pod_resolv_conf


def resolv_conf(pod: dict[str, Any], *, cluster_dns: list[str], cluster_domain: str = "cluster.local") -> str | None:
    """The pod's /etc/resolv.conf per its dnsPolicy, or None to keep Docker's."""
    text = pod_resolv_conf(pod, cluster_dns=list(cluster_dns), cluster_domain=cluster_domain,
                           host_resolv_conf=os.devnull)
    # A file without a nameserver would leave the pod with no DNS at all: Docker's is better.
    return text if "nameserver " in text else None
