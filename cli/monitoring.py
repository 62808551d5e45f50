"""`python -m cli.monitoring --home H --out DIR [--interval-s 15] [--once]`: Prometheus file-based
discovery targets for a kubelite cluster (what `make monitoring` runs next to Prometheus).

Contract:
- `kubelet.json`: one target per Node (its InternalIP, else Hostname, and
  `status.daemonEndpoints.kubeletEndpoint.Port`, default 10250) labelled `node`, from the Node
  list read through H/kubeconfig (or --kubeconfig); Prometheus scrapes them over HTTPS with the
  client certificate copied into pki/ (deploy/monitoring/prometheus.yml).
- `apiserver.json`, `controllers.json`, `scheduler.json`, `proxy.json`: from H/run/metrics.json
  (written by the supervisor, cli/supervisor.py) when the component runs.
- Files are written atomically (temp file + rename: Prometheus never reads half a file) and only
  when their content changes. Without --once it rewrites every --interval-s seconds and survives
  the API server being away (the last files stay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from machinery import errors
from machinery.client import ApiClient
from machinery.logsetup import setup_logging

log = logging.getLogger("monitoring")
COMPONENTS = ("apiserver", "controllers", "scheduler", "proxy")
DEFAULT_KUBELET_PORT = 10250


def kubelet_targets(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        status = node.get("status") or {}
        addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        host = addrs.get("InternalIP") or addrs.get("Hostname")
        if not host:
            continue
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
        host = f"[{host}]" if ":" in host else host
        out.append({"targets": [f"{host}:{int(port)}"], "labels": {"node": node["metadata"]["name"]}})
    return out


def component_targets(home: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        targets = json.loads((home / "run" / "metrics.json").read_text()).get("targets") or {}
    except (OSError, ValueError):
        targets = {}
    return {c: ([{"targets": [str(targets[c])], "labels": {}}] if c in targets else []) for c in COMPONENTS}


def write_if_changed(path: Path, data: Any) -> bool:
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def _copy_credentials(home: Path, dest: Path) -> None:
    """The API server serves /metrics over HTTPS to authenticated clients only: Prometheus gets
    the cluster CA and the admin client certificate next to its configuration (dest, 0700)."""
    from machinery.pki import write_private, write_public

    pki = home / "pki"
    if not (pki / "ca.crt").exists():
        return
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    write_public(dest / "ca.crt", (pki / "ca.crt").read_bytes())
    write_public(dest / "client.crt", (pki / "admin.crt").read_bytes())
    write_private(dest / "client.key", (pki / "admin.key").read_bytes())


def _write_all(home: Path, out: Path, nodes: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _copy_credentials(home, out.parent / "pki")
    for name, targets in component_targets(home).items():
        write_if_changed(out / f"{name}.json", targets)
    if write_if_changed(out / "kubelet.json", kubelet_targets(nodes)):
        log.info("kubelet targets: %d nodes", len(nodes))


async def write_targets(client: ApiClient, home: Path, out: Path) -> None:
    nodes = await client.request("GET", "/api/v1/nodes")
    await asyncio.to_thread(_write_all, home, out, list(nodes.get("items") or []))


async def run(args: argparse.Namespace) -> None:
    home = Path(args.home)
    kubeconfig = args.kubeconfig or str(home / "kubeconfig")
    async with ApiClient.from_kubeconfig(kubeconfig, user_agent="kubelite-monitoring") as client:
        while True:
            try:
                await write_targets(client, home, Path(args.out))
            except (errors.ApiError, OSError) as exc:
                if args.once:
                    raise
                log.warning("targets not refreshed: %s", exc)
            if args.once:
                return
            await asyncio.sleep(args.interval_s)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m cli.monitoring", description="Prometheus targets of a kubelite cluster")
    p.add_argument("--home", default=os.environ.get("KUBELITE_HOME", str(Path.home() / ".kubelite")))
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--out", required=True, help="directory of the file_sd JSON files")
    p.add_argument("--interval-s", type=float, default=15.0)
    p.add_argument("--once", action="store_true")
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
