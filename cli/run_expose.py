"""`kubelite run NAME --image I ...` and `kubelite expose KIND NAME|KIND/NAME ...`.

Contract (kubectl's behaviour):
- `run` creates one Pod (cli.generators.pod: label run=NAME unless --labels, container NAME,
  args after `--`, or the command with --command, dnsPolicy ClusterFirst, restartPolicy from
  --restart, default Always) and prints `pod/NAME created`.
- `expose` reads the deployment, replica set, replication controller, pod or service, and
  creates a Service named after it (or --name) selecting what it selects, with the given
  --port/--target-port or the container ports of its pod template; prints
  `service/NAME exposed`. Other kinds are refused with kubectl's message.
Both accept `--dry-run=client|server` and `-o yaml|json|name` through cli.emit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cli import generators as gen
from cli.emit import emit
from cli.errors import CliError
from cli.session import Globals, obj_path, open_client, with_type
from cli.targets import parse_targets

EXPOSABLE = ("Deployment", "ReplicaSet", "ReplicationController", "Pod", "Service")


@dataclass
class RunOptions:
    image: str = ""
    env: list[str] | None = None
    port: int = -1
    labels: str = ""
    restart: str = ""
    command: bool = False
    image_pull_policy: str = ""
    dry_run: str = "none"
    output: str = ""


async def run_pod(g: Globals, name: str, args: list[str], opts: RunOptions) -> int:
    def build() -> dict[str, Any]:
        if opts.command and not args:
            raise CliError("--command requires a command after --")
        return gen.pod(name, opts.image, env=list(opts.env or []), port=opts.port, labels=opts.labels,
                       restart=opts.restart, command=opts.command, args=args,
                       image_pull_policy=opts.image_pull_policy)

    return await emit(g, build, dry_run=opts.dry_run, output=opts.output, wrap_errors=False)


@dataclass
class ExposeOptions:
    name: str = ""
    port: str = ""
    target_port: str = ""
    protocol: str = ""
    type: str = ""
    selector: str = ""
    labels: str = ""
    cluster_ip: str = ""
    dry_run: str = "none"
    output: str = ""


async def expose(g: Globals, args: list[str], opts: ExposeOptions) -> int:
    targets = parse_targets(args, verb="expose")
    if len(targets) != 1:
        raise CliError("expose takes exactly one object")
    target = targets[0]
    if target.cls.KIND not in EXPOSABLE:
        raise CliError(f"cannot expose a {target.cls.KIND}")
    client, namespace = open_client(g)
    async with client:
        obj = with_type(target.cls, await client.request("GET", obj_path(target.cls, target.name, namespace)))

    def build() -> dict[str, Any]:
        return gen.expose_service(obj, name=opts.name, port=opts.port, target_port=opts.target_port,
                                  protocol=opts.protocol, service_type=opts.type, selector=opts.selector,
                                  labels=opts.labels, cluster_ip=opts.cluster_ip)

    return await emit(g, build, dry_run=opts.dry_run, output=opts.output, verb="exposed", wrap_errors=False)
