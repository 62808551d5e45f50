"""`kubelite top nodes|pods`: resource usage from metrics.k8s.io, as `kubectl top` prints it.

Contract (kubectl's columns and wording):
- `top node [NAME] [-l SEL] [--sort-by cpu|memory]`: NAME, CPU(cores), CPU(%), MEMORY(bytes),
  MEMORY(%); percentages of the node's allocatable. Nodes without metrics show `<unknown>`.
- `top pod [NAME] [-n NS | -A] [-l SEL] [--containers] [--sort-by cpu|memory]`: [NAMESPACE,]
  NAME, CPU(cores), MEMORY(bytes); with --containers: [NAMESPACE,] POD, NAME, CPU(cores),
  MEMORY(bytes). CPU in millicores (rounded up, `5m`), memory in Mi (`12Mi`).
- The metrics API missing or unavailable (404/503) -> `error: Metrics API not available`,
  exit 1; no pod metrics -> `No resources found in NS namespace.`; a named pod without
  metrics -> `error: Metrics not available for pod NS/NAME, age: ...`.
"""

from __future__ import annotations

from typing import Any

import typer

from cli.errors import CliError, run
from cli.printers import render_table
from cli.session import Globals, open_client
from machinery import errors
from machinery.client import ApiClient
from machinery.quantity import memory_bytes, parse_quantity

BASE = "/apis/metrics.k8s.io/v1beta1"
MI = 1024 * 1024


def cpu_millis_up(q: str) -> int:
    """kubectl's Quantity.MilliValue(): rounded up."""
    v = parse_quantity(q) * 1000
    return int(v) if v == int(v) else int(v) + 1


def fmt_cpu(q: str) -> str:
    return f"{cpu_millis_up(q)}m"


def fmt_mem(q: str) -> str:
    return f"{memory_bytes(q) // MI}Mi"


async def _get(client: ApiClient, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        return dict(await client.request("GET", path, params=params))
    except (errors.ServiceUnavailable, errors.MethodNotAllowed) as exc:
        raise CliError("Metrics API not available") from exc
    except errors.NotFound as exc:
        if "metrics.k8s.io" in str(exc):
            raise
        raise CliError("Metrics API not available") from exc


def _sort(rows: list[tuple[int, int, list[str]]], sort_by: str) -> list[list[str]]:
    if sort_by == "cpu":
        rows.sort(key=lambda r: -r[0])
    elif sort_by == "memory":
        rows.sort(key=lambda r: -r[1])
    return [r[2] for r in rows]


def _check_sort(sort_by: str) -> None:
    if sort_by not in ("", "cpu", "memory"):
        raise CliError("--sort-by accepts only cpu or memory")


async def top_nodes(g: Globals, name: str | None, *, selector: str | None, sort_by: str) -> int:
    _check_sort(sort_by)
    client, _ = open_client(g)
    async with client:
        params = {"labelSelector": selector} if selector else None
        if name:
            try:
                items = [await _get(client, f"{BASE}/nodes/{name}")]
            except errors.NotFound:
                raise CliError("metrics not available yet") from None
            nodes = [dict(await client.request("GET", f"/api/v1/nodes/{name}"))]
        else:
            items = list((await _get(client, f"{BASE}/nodes", params)).get("items") or [])
            nodes = list((await client.request("GET", "/api/v1/nodes", params=params)).get("items") or [])
    by_name = {m["metadata"]["name"]: m for m in items}
    if not nodes:
        raise CliError("metrics not available yet")
    rows: list[tuple[int, int, list[str]]] = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        nname = node["metadata"]["name"]
        m = by_name.get(nname)
        if m is None:
            rows.append((-1, -1, [nname, "<unknown>", "<unknown>", "<unknown>", "<unknown>"]))
            continue
        usage = m.get("usage") or {}
        alloc = (node.get("status") or {}).get("allocatable") or {}
        cpu_m, mem_b = cpu_millis_up(usage.get("cpu", "0")), memory_bytes(usage.get("memory", "0"))
        alloc_cpu = cpu_millis_up(alloc.get("cpu", "0")) or 1
        alloc_mem = memory_bytes(alloc.get("memory", "0")) or 1
        rows.append((cpu_m, mem_b, [nname, f"{cpu_m}m", f"{cpu_m * 100 // alloc_cpu}%", f"{mem_b // MI}Mi",
                                    f"{mem_b * 100 // alloc_mem}%"]))
    print(render_table(["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], _sort(rows, sort_by)))
    return 0


async def top_pods(g: Globals, name: str | None, *, all_namespaces: bool, selector: str | None, containers: bool,
                   sort_by: str) -> int:
    _check_sort(sort_by)
    client, namespace = open_client(g)
    params = {"labelSelector": selector} if selector else None
    async with client:
        if name:
            try:
                items = [await _get(client, f"{BASE}/namespaces/{namespace}/pods/{name}")]
            except errors.NotFound:
                pod = dict(await client.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}"))
                created = (pod.get("metadata") or {}).get("creationTimestamp", "")
                raise CliError(f"Metrics not available for pod {namespace}/{name}, age: since {created}") from None
        else:
            path = f"{BASE}/pods" if all_namespaces else f"{BASE}/namespaces/{namespace}/pods"
            items = list((await _get(client, path, params)).get("items") or [])
    if not items:
        print("No resources found" + ("" if all_namespaces else f" in {namespace} namespace") + ".")
        return 0
    rows: list[tuple[int, int, list[str]]] = []
    for m in sorted(items, key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"])):
        meta = m["metadata"]
        prefix = [meta.get("namespace", "")] if all_namespaces else []
        ctrs = m.get("containers") or []
        if containers:
            for c in ctrs:
                u = c.get("usage") or {}
                cpu_m, mem_b = cpu_millis_up(u.get("cpu", "0")), memory_bytes(u.get("memory", "0"))
                rows.append((cpu_m, mem_b, [*prefix, meta["name"], c.get("name", ""), f"{cpu_m}m", f"{mem_b // MI}Mi"]))
            continue
        cpu_m = sum(cpu_millis_up((c.get("usage") or {}).get("cpu", "0")) for c in ctrs)
        mem_b = sum(memory_bytes((c.get("usage") or {}).get("memory", "0")) for c in ctrs)
        rows.append((cpu_m, mem_b, [*prefix, meta["name"], f"{cpu_m}m", f"{mem_b // MI}Mi"]))
    headers = (["NAMESPACE"] if all_namespaces else []) + (["POD", "NAME"] if containers else ["NAME"])
    print(render_table([*headers, "CPU(cores)", "MEMORY(bytes)"], _sort(rows, sort_by)))
    return 0


top_app = typer.Typer(help="Display resource (CPU/memory) usage.", no_args_is_help=True)


def _g(ctx: typer.Context) -> Globals:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


_SELECTOR = typer.Option(None, "--selector", "-l", help="Label selector.")
_SORT = typer.Option("", "--sort-by", help="cpu or memory.")


@top_app.command("node")
def node_cmd(ctx: typer.Context, name: str | None = typer.Argument(None), selector: str | None = _SELECTOR,
             sort_by: str = _SORT) -> None:
    """Display resource (CPU/memory) usage of nodes."""
    run(top_nodes(_g(ctx), name, selector=selector, sort_by=sort_by))


@top_app.command("pod")
def pod_cmd(ctx: typer.Context, name: str | None = typer.Argument(None), selector: str | None = _SELECTOR,
            sort_by: str = _SORT, all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A"),
            containers: bool = typer.Option(False, "--containers", help="Print usage of each container.")) -> None:
    """Display resource (CPU/memory) usage of pods."""
    run(top_pods(_g(ctx), name, all_namespaces=all_namespaces, selector=selector, containers=containers,
                 sort_by=sort_by))


# kubectl accepts the plural and short forms too.
top_app.command("nodes", hidden=True)(node_cmd)
top_app.command("no", hidden=True)(node_cmd)
top_app.command("pods", hidden=True)(pod_cmd)
top_app.command("po", hidden=True)(pod_cmd)


def register(app: typer.Typer) -> None:
    app.add_typer(top_app, name="top")
