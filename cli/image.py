"""`kubelite image load IMAGE...`: make images of this host's Docker available to the nodes.

There is no registry: a node runs only images its own Docker engine has. Contract:
- Every IMAGE must exist in the local Docker engine, else nothing is done and the command
  fails with `error: image "X" not found in the local Docker engine; build it first
  (docker build / docker import)`.
- Nodes whose kubelet runs inside a Docker container labelled `io.kubelite.lab-node` (the
  multi-host lab; the label's value is the node name, else the container name) get the image
  copied in with `docker save IMAGE | docker exec -i CONTAINER docker load`:
  `image "X" loaded into node "N"`. When the cluster's Nodes carry lab provider IDs
  (`lab://LAB/NODE`), only the containers of those labs (label `io.kubelite.lab=LAB`) count:
  two labs on one host both have a node1. A cluster without lab nodes loads into no lab.
- Every other registered Node except hollow ones (label `kubelite.io/hollow`, no Docker at all)
  runs on this host's engine: `image "X" is available on node "N"`. When no cluster answers
  (or none is configured), or no node is registered, the local node is named after this host,
  as `kubelite up` names it.
The Docker side sits behind the small `Engine` protocol so the planning is unit-tested.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from dataclasses import dataclass
from typing import Any, Protocol

from cli.errors import CliError
from cli.session import Globals, open_client
from machinery import errors

LAB_LABEL = "io.kubelite.lab-node"
LAB_NAME_LABEL = "io.kubelite.lab"
HOLLOW_LABEL = "kubelite.io/hollow"
LOAD_TIMEOUT_S = 600.0


class Engine(Protocol):
    def has_image(self, image: str) -> bool: ...
    def lab_nodes(self, labs: set[str] | None = None) -> dict[str, str]: ...  # node name -> container name
    def load_into(self, image: str, container: str) -> None: ...


class DockerEngine:
    """This host's Docker engine, through the docker SDK and (for the stream) the docker CLI."""

    def __init__(self) -> None:
        import docker

        try:
            self.client: Any = docker.from_env()
            self.client.ping()
        except Exception as exc:  # noqa: BLE001 - the SDK raises several types for "no daemon"
            raise CliError(f"cannot reach the local Docker engine: {exc}") from None

    def has_image(self, image: str) -> bool:
        import docker.errors

        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
        return True

    def lab_nodes(self, labs: set[str] | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in self.client.containers.list(filters={"label": LAB_LABEL}):
            labels = c.labels or {}
            if labs is None or labels.get(LAB_NAME_LABEL) in labs:
                out[labels.get(LAB_LABEL) or c.name] = c.name
        return out

    def load_into(self, image: str, container: str) -> None:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            load = subprocess.run(["docker", "exec", "-i", container, "docker", "load"], stdin=save.stdout,
                                  capture_output=True, text=True, timeout=LOAD_TIMEOUT_S, check=False)
        finally:
            if save.stdout is not None:
                save.stdout.close()
            save_err = save.stderr.read().decode(errors="replace") if save.stderr else ""
            save.wait()
        if save.returncode != 0 or load.returncode != 0:
            why = (save_err or load.stderr or load.stdout).strip()
            raise CliError(f'loading image "{image}" into node container "{container}" failed: {why}')


@dataclass(frozen=True)
class Step:
    node: str
    container: str | None  # None: the node uses this host's engine


def plan(nodes: list[dict[str, Any]] | None, lab: dict[str, str], local_name: str) -> list[Step]:
    """One step per node that can run containers; `nodes` None when no cluster answered."""
    steps = [Step(node, container) for node, container in sorted(lab.items())]
    if nodes is None:
        return [*steps, Step(local_name, None)] if not lab else steps
    for node in nodes:
        meta = node.get("metadata") or {}
        name = meta.get("name", "")
        if name in lab or (meta.get("labels") or {}).get(HOLLOW_LABEL):
            continue
        steps.append(Step(name, None))
    # No node registered yet: the image is still where a kubelet started on this host looks.
    return steps or [Step(local_name, None)]


def lab_names(nodes: list[dict[str, Any]] | None) -> set[str] | None:
    """The labs the cluster's nodes belong to (from `lab://LAB/NODE`); None: no cluster known."""
    if nodes is None:
        return None
    out: set[str] = set()
    for node in nodes:
        pid = str((node.get("spec") or {}).get("providerID") or "")
        if pid.startswith("lab://") and "/" in pid[6:]:
            out.add(pid[6:].split("/", 1)[0])
    return out


async def registered_nodes(g: Globals) -> list[dict[str, Any]] | None:
    try:
        client, _ = open_client(g)
    except CliError:  # no kubeconfig: a host without a cluster yet
        return None
    async with client:
        try:
            body = await client.request("GET", "/api/v1/nodes")
        except errors.ConnectionFailed:
            return None
    return list(body.get("items") or [])


async def load(g: Globals, images: list[str], *, engine: Engine | None = None) -> int:
    if not images:
        raise CliError("at least one image name is required")
    eng = engine or DockerEngine()
    for image in images:
        if not eng.has_image(image):
            raise CliError(f'image "{image}" not found in the local Docker engine; build it first '
                           "(docker build / docker import)")
    nodes = await registered_nodes(g)
    steps = plan(nodes, eng.lab_nodes(lab_names(nodes)), socket.gethostname())
    for image in images:
        for step in steps:
            if step.container is None:
                print(f'image "{image}" is available on node "{step.node}"', flush=True)
                continue
            await asyncio.to_thread(eng.load_into, image, step.container)
            print(f'image "{image}" loaded into node "{step.node}"', flush=True)
    return 0
