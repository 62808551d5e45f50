"""Health probes of a local cluster's processes: etcd members, the API server (through the
cluster CA), any pid. Each answers a bool within about a second and never raises."""

from __future__ import annotations

import contextlib
import os
import ssl
from pathlib import Path

import httpx

from cli.clusterplan import Settings, ca_file


def http_ok(url: str, timeout_s: float = 1.0, *, ca: str | None = None) -> bool:
    try:
        r = httpx.get(url, timeout=timeout_s, verify=ssl.create_default_context(cafile=ca) if ca else True)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def etcd_member_healthy(url: str) -> bool:
    """etcd's /health: true only when the member answers and its cluster has a leader."""
    try:
        r = httpx.get(f"{url}/health", timeout=1.0)
        return r.status_code == 200 and r.json().get("health") == "true"
    except (httpx.HTTPError, ValueError):
        return False


def etcd_healthy(s: Settings) -> bool:
    """A member answers with a leader elected (with --ha: the cluster has a quorum)."""
    return any(etcd_member_healthy(url) for url in s.etcd_urls)


def apiserver_ready(s: Settings) -> bool:
    return http_ok(f"{s.api_url}/readyz", ca=ca_file(s))


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; /proc tells us it is dead.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True
