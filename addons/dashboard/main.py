"""`python -m addons.dashboard`: the web dashboard add-on.

Contract:
- Serves the UI and its backend (addons/dashboard/server.py) on `--listen` (default
  127.0.0.1:8100), acting on the API server with the identity of `--kubeconfig`, as `kubectl
  proxy` does: it answers only to loopback Host names; open http://127.0.0.1:8100/ in a browser.
- Charts come from the metrics add-on's history, else from PodMetrics/NodeMetrics it samples
  every `--sample-every-s` (addons/dashboard/metrics.py).
- SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from addons.dashboard.metrics import History
from addons.dashboard.server import create_app
from machinery.client import ApiClient
from machinery.logsetup import setup_logging

log = logging.getLogger("dashboard")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (ours closes the API client)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


async def run(args: argparse.Namespace) -> None:
    client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent="kubelite-dashboard")
    history = History(client, sample_every_s=args.sample_every_s)
    host, port = args.listen
    server = _Server(uvicorn.Config(create_app(client, history), host=host, port=port, log_level="warning",
                                    access_log=False, timeout_graceful_shutdown=1))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    log.info("dashboard on http://%s:%d/", host, port)
    try:
        await server.serve()
    finally:
        await history.close()
        await client.aclose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m addons.dashboard", description="kubelite web dashboard")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--listen", type=_hostport, default=("127.0.0.1", 8100), help="HOST:PORT")
    p.add_argument("--sample-every-s", type=float, default=5.0)
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    asyncio.run(run(args))
