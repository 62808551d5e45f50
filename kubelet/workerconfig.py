"""The settings every pod worker of a node shares (kubelet.podworker, kubelet.sandbox).

Contract: `WorkerConfig` is built once by the kubelet's main from its flags and handed to
the PodManager, which gives it to each PodWorker; nothing changes it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelet import logs


@dataclass
class WorkerConfig:
    cluster: str
    node: str
    node_ip: str
    network: str
    root_dir: str
    log_dir: str
    pause_image: str = "kubelite/pause:latest"
    log_max_bytes: int = logs.DEFAULT_MAX_SIZE
    log_max_files: int = logs.DEFAULT_MAX_FILES
    resync_s: float = 10.0
    image_retry_s: float = 10.0
    cluster_dns: list[str] = field(default_factory=list)  # e.g. ["10.96.0.10"]; empty: Docker's DNS
    cluster_domain: str = "cluster.local"
    hairpin_bridge: str | None = None  # pod bridge whose ports get hairpin mode after a sandbox starts
    max_parallel_starts: int = 0  # pods creating/starting containers at once (kubelet.startgate); <= 0: no limit (default)


__all__ = ["WorkerConfig"]
