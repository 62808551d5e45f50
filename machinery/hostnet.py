"""Facts about this host's network that several components need.

Contract: `default_route_ip()` is the source address of the IPv4 default route, found by a route
lookup (`ip route get`, nothing is sent), or 127.0.0.1 when there is none: the kubelet's default
node IP, and so an address its serving certificate must name (`kubelite up`, cli/clusterplan.py).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any


def default_route_ip() -> str:
    try:
        out = subprocess.run(["ip", "-j", "-4", "route", "get", "192.0.2.255"], capture_output=True, text=True,
                             timeout=5).stdout
        routes: list[dict[str, Any]] = json.loads(out or "[]")
        if routes and routes[0].get("prefsrc"):
            return str(routes[0]["prefsrc"])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return "127.0.0.1"
