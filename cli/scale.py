"""`kubelite scale KIND/NAME|KIND NAME --replicas N [--current-replicas M]`.

Contract (kubectl's behaviour): works on deployments, replicasets, replicationcontrollers and
statefulsets through the `/scale` subresource (an autoscaling/v1 Scale). Without a precondition it sends a merge
patch `{"spec": {"replicas": N}}`; with `--current-replicas M` it GETs the Scale, fails with
`error: Expected replicas to be M, was K` when they differ, and PUTs the Scale carrying the
resourceVersion it read, so a concurrent change gets a 409 instead of being overwritten.
Prints `deployment.apps/web scaled` per object.
"""

from __future__ import annotations

from typing import Any

from cli.errors import CliError
from cli.session import Globals, obj_path, open_client
from cli.targets import Target, parse_targets
from machinery.client import ApiClient

SCALABLE = ("Deployment", "ReplicaSet", "ReplicationController", "StatefulSet")
MERGE = {"Content-Type": "application/merge-patch+json"}


async def scale_one(client: ApiClient, target: Target, namespace: str, replicas: int,
                    current: int | None) -> str:
    path = obj_path(target.cls, target.name, namespace, "scale")
    if current is None:
        await client.request("PATCH", path, json={"spec": {"replicas": replicas}}, headers=MERGE)
        return f"{target.label} scaled"
    scale: dict[str, Any] = await client.request("GET", path)
    actual = int((scale.get("spec") or {}).get("replicas") or 0)
    if actual != current:
        raise CliError(f"Expected replicas to be {current}, was {actual}")
    scale.setdefault("spec", {})["replicas"] = replicas
    await client.request("PUT", path, json=scale)  # carries metadata.resourceVersion: stale -> 409
    return f"{target.label} scaled"


async def scale(g: Globals, args: list[str], *, replicas: int, current_replicas: int) -> int:
    if replicas < 0:
        raise CliError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    targets = parse_targets(args, allowed=SCALABLE, verb="scale")
    client, namespace = open_client(g)
    async with client:
        for target in targets:
            print(await scale_one(client, target, namespace, replicas,
                                  None if current_replicas < 0 else current_replicas), flush=True)
    return 0
