"""Health probes of a local cluster's processes: etcd members, the API server (through the
cluster CA), any pid. Each answers a bool within about a second and never raises. Standard
library only (http.client): the supervisor, which runs them, stays small at rest."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import ssl
import urllib.parse
from pathlib import Path

from cli.clusterplan import Settings, ca_file


def http_get(url: str, timeout_s: float = 1.0, *, ca: str | None = None) -> tuple[int, bytes] | None:
    """GET `url` (https verified against `ca`, else the system's CAs): (status, body), or None
    when nothing answered in time."""
    u = urllib.parse.urlsplit(url)
    conn: http.client.HTTPConnection
    try:
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname or "", u.port, timeout=timeout_s,
                                               context=ssl.create_default_context(cafile=ca))
        else:
            conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=timeout_s)
        try:
            conn.request("GET", (u.path or "/") + (f"?{u.query}" if u.query else ""))
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError):
        return None


def http_ok(url: str, timeout_s: float = 1.0, *, ca: str | None = None) -> bool:
    answer = http_get(url, timeout_s, ca=ca)
    return answer is not None and answer[0] == 200


def etcd_member_healthy(url: str) -> bool:
    """etcd's /health: true only when the member answers and its cluster has a leader."""
    answer = http_get(f"{url}/health")
    if answer is None or answer[0] != 200:
        return False
    try:
        body = json.loads(answer[1])
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("health") == "true"


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
