"""`kubelite autoscale (deployment|replicaset|statefulset|replicationcontroller) NAME --max N
[--min M] [--cpu-percent P] [--name HPA]`: create a HorizontalPodAutoscaler, as kubectl.

Contract (kubectl's autoscale): an autoscaling/v2 HorizontalPodAutoscaler named after the target
(or --name) in the current namespace, `scaleTargetRef` = the target's apiVersion/kind/name,
`maxReplicas` = --max (required, >= 1), `minReplicas` = --min when given (else the server's
default 1), a cpu Utilization metric of --cpu-percent when given (else the server's default
80%). The target must exist. Prints `horizontalpodautoscaler.autoscaling/NAME autoscaled`;
an existing HPA of that name is `AlreadyExists` (exit 1).
"""

from __future__ import annotations

from typing import Any

import typer

from cli.errors import CliError, run
from cli.session import Globals, obj_path, open_client
from cli.targets import parse_targets
from machinery import registry
from machinery.models import HorizontalPodAutoscaler

SCALABLE = ("Deployment", "ReplicaSet", "ReplicationController", "StatefulSet")


def hpa_manifest(*, name: str, namespace: str, target_api_version: str, target_kind: str, target_name: str,
                 max_replicas: int, min_replicas: int | None, cpu_percent: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"scaleTargetRef": {"apiVersion": target_api_version, "kind": target_kind,
                                               "name": target_name}, "maxReplicas": max_replicas}
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    if cpu_percent is not None:
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu_percent}}}]
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


async def autoscale(g: Globals, args: list[str], *, max_replicas: int, min_replicas: int, cpu_percent: int,
                    name: str) -> int:
    if max_replicas < 1:
        raise CliError(f"--max=MAXPODS is required and must be at least 1, max: {max_replicas}")
    if min_replicas > max_replicas:
        raise CliError(f"--max=MAXPODS must be larger or equal to --min=MINPODS, max: {max_replicas}, "
                       f"min: {min_replicas}")
    targets = parse_targets(args, allowed=SCALABLE, verb="autoscale")
    client, namespace = open_client(g)
    async with client:
        for t in targets:
            await client.request("GET", obj_path(t.cls, t.name, namespace))  # NotFound -> kubectl's error
            body = hpa_manifest(name=name or t.name, namespace=namespace, target_api_version=t.cls.api_version(),
                                target_kind=t.cls.KIND, target_name=t.name, max_replicas=max_replicas,
                                min_replicas=None if min_replicas < 0 else min_replicas,
                                cpu_percent=None if cpu_percent < 0 else cpu_percent)
            created = await client.request("POST", registry.collection_path(HorizontalPodAutoscaler, namespace),
                                           json=body)
            print(f"horizontalpodautoscaler.autoscaling/{created['metadata']['name']} autoscaled", flush=True)
    return 0


def register(app: typer.Typer) -> None:
    @app.command(name="autoscale")
    def autoscale_cmd(ctx: typer.Context,
                      args: list[str] = typer.Argument(None, help="KIND NAME | KIND/NAME"),
                      max_: int = typer.Option(-1, "--max", help="The upper limit for the number of pods."),
                      min_: int = typer.Option(-1, "--min", help="The lower limit for the number of pods."),
                      cpu_percent: int = typer.Option(-1, "--cpu-percent",
                                                      help="Target average CPU utilization (% of request)."),
                      name: str = typer.Option("", "--name", help="Name of the HorizontalPodAutoscaler.")) -> None:
        """Auto-scale a deployment, replica set, stateful set or replication controller."""
        obj: Any = ctx.obj
        run(autoscale(obj if isinstance(obj, Globals) else Globals(), list(args or []), max_replicas=max_,
                      min_replicas=min_, cpu_percent=cpu_percent, name=name))
