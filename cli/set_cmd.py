"""`kubelite set image` and `kubelite set resources`.

Contract (kubectl's set_image.go / set_resources.go):
- `set image TARGET... CONTAINER=IMAGE...`: targets are deployments, replicasets,
  statefulsets, daemonsets (their pod template) or pods (their spec). `*=IMAGE` sets every
  container and init container. The change is a strategic merge patch of the containers
  lists, merged by name, so nothing else in the spec is touched. A name that is in neither
  list fails with `error: unable to find container named "x"` before anything is sent.
  Prints `deployment.apps/web image updated`.
- `set resources TARGET... [-c NAME|*] [--limits k=v,...] [--requests k=v,...]`: merges the
  given quantities into each chosen container's resources (other keys stay). Bad quantities
  and a missing update are client errors. Prints `... resource requirements updated`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cli.errors import CliError
from cli.session import Globals, obj_path, open_client
from cli.targets import Target, parse_targets
from machinery.client import ApiClient
from machinery.quantity import parse_quantity

Obj = dict[str, Any]
WITH_PODS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Pod")
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
LISTS = ("initContainers", "containers")


def pod_spec(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    return spec if obj.get("kind") == "Pod" else (spec.get("template") or {}).get("spec") or {}


def wrap(kind: str, spec_patch: Obj) -> Obj:
    """Put a pod-spec patch where the kind keeps its pod spec."""
    return {"spec": spec_patch} if kind == "Pod" else {"spec": {"template": {"spec": spec_patch}}}


def split_args(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Resources first, then CONTAINER=IMAGE pairs (kubectl splits at the first `=`)."""
    resources = [a for a in args if "=" not in a]
    pairs = [a for a in args if "=" in a]
    if not pairs:
        raise CliError("at least one image update is required")
    if args[:len(resources)] != resources:
        raise CliError("all resources must be specified before image changes: " + " ".join(args))
    images: dict[str, str] = {}
    for pair in pairs:
        name, _, image = pair.partition("=")
        if not name or not image:
            raise CliError(f"invalid image update {pair!r}: expected CONTAINER=IMAGE")
        images[name] = image
    return resources, images


def _chosen(spec: Obj, name: str) -> dict[str, list[str]]:
    """Names per list ("containers", "initContainers") that `name` (or `*`) selects."""
    found = {lst: [c.get("name", "") for c in spec.get(lst) or [] if name in ("*", c.get("name"))]
             for lst in LISTS}
    if not any(found.values()):
        raise CliError(f'unable to find container named "{name}"')
    return found


def image_patch(obj: Obj, images: dict[str, str]) -> Obj:
    spec = pod_spec(obj)
    by_list: dict[str, dict[str, str]] = {lst: {} for lst in LISTS}
    for name, image in images.items():
        for lst, names in _chosen(spec, name).items():
            for n in names:
                by_list[lst][n] = image
    patch = {lst: [{"name": n, "image": img} for n, img in sorted(m.items())] for lst, m in by_list.items() if m}
    return wrap(str(obj.get("kind")), patch)


def parse_quantities(text: str, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise CliError(f'invalid argument "{text}" for "{flag}": expected name=quantity[,name=quantity]')
        try:
            parse_quantity(value)
        except (ValueError, ArithmeticError):
            raise CliError(f'invalid argument "{text}" for "{flag}": quantities must match the regular '
                           f"expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' ({value!r})") from None
        out[key] = value
    return out


def resources_patch(obj: Obj, container: str, limits: dict[str, str], requests: dict[str, str]) -> Obj:
    resources: Obj = {}
    if limits:
        resources["limits"] = limits
    if requests:
        resources["requests"] = requests
    patch = {lst: [{"name": n, "resources": resources} for n in names]
             for lst, names in _chosen(pod_spec(obj), container).items() if names}
    return wrap(str(obj.get("kind")), patch)


async def _patch_each(client: ApiClient, targets: list[Target], namespace: str,
                      make: Callable[[Obj], Obj], done: str) -> None:
    # Every patch is computed (and checked) before the first is sent: one bad container name
    # must not leave half of the objects changed.
    planned = []
    for t in targets:
        obj = await client.request("GET", obj_path(t.cls, t.name, namespace))
        obj.setdefault("kind", t.cls.KIND)
        planned.append((t, make(obj)))
    for t, patch in planned:
        await client.request("PATCH", obj_path(t.cls, t.name, namespace), json=patch, headers=STRATEGIC)
        print(f"{t.label} {done}", flush=True)


async def set_image(g: Globals, args: list[str]) -> int:
    resources, images = split_args(args)
    targets = parse_targets(resources, allowed=WITH_PODS, verb="set image")
    client, namespace = open_client(g)
    async with client:
        await _patch_each(client, targets, namespace, lambda o: image_patch(o, images), "image updated")
    return 0


async def set_resources(g: Globals, args: list[str], *, container: str, limits: str, requests: str) -> int:
    lim, req = parse_quantities(limits, "--limits"), parse_quantities(requests, "--requests")
    if not lim and not req:
        raise CliError("you must specify an update to requests or limits (in the form of --requests/--limits)")
    targets = parse_targets(args, allowed=WITH_PODS, verb="set resources")
    client, namespace = open_client(g)
    async with client:
        await _patch_each(client, targets, namespace, lambda o: resources_patch(o, container or "*", lim, req),
                          "resource requirements updated")
    return 0
