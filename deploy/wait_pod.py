"""Wait until a pod is Running and Ready, printing progress (used by `make run`).

Usage: python deploy/wait_pod.py NAMESPACE NAME [TIMEOUT_S]
"""

from __future__ import annotations

import asyncio
import sys
import time

from machinery.client import ApiClient
from machinery.models import Pod


async def wait(namespace: str, name: str, timeout_s: float) -> int:
    async with ApiClient.from_kubeconfig() as client:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            pod = await client.get(Pod, name, namespace=namespace)
            status = pod.status
            phase = (status.phase if status else None) or "Pending"
            ready = any(c.type == "Ready" and c.status == "True" for c in (status.conditions or [])) if status else False
            node = pod.spec.nodeName if pod.spec else None
            line = f"pod {namespace}/{name}: phase={phase} node={node or '-'} ready={ready}"
            if line != last:
                print(line, flush=True)
                last = line
            if phase == "Running" and ready:
                return 0
            if phase in ("Failed", "Succeeded"):
                return 1
            await asyncio.sleep(0.5)
    print(f"pod {namespace}/{name} not Running and Ready after {timeout_s:.0f}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    ns, pod_name = sys.argv[1], sys.argv[2]
    sys.exit(asyncio.run(wait(ns, pod_name, float(sys.argv[3]) if len(sys.argv) > 3 else 120.0)))
