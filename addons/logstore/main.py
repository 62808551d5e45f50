"""`python -m addons.logstore`: the central log store add-on.

Contract:
- Serves `addons.logstore.server` on `--listen HOST:PORT` over the SQLite store at `--db`
  (retention `--max-age-s`, `--max-bytes`).
- With `--kubeconfig` and `--publish-ip IP`: publishes itself as the Service
  `kube-system/logstore` (port `http`) with Endpoints at IP:PORT (machinery.selfpublish), so node
  agents find it and clients reach it through the API server's service proxy
  (`/api/v1/namespaces/kube-system/services/logstore:http/proxy/v1/search`). Publishing is
  retried with backoff while the API server is unreachable; serving does not wait for it.
- A listen address that does not exist yet (the pod bridge's gateway before the kubelet made it)
  is retried with backoff, as the DNS add-on does.
- SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from addons.logstore.server import make_app
from addons.logstore.store import DEFAULT_MAX_AGE_S, DEFAULT_MAX_BYTES, SqliteStore
from machinery.backoff import Backoff
from machinery.client import ApiClient
from machinery.logsetup import setup_logging
from machinery.logwire import LOGSTORE_NAMESPACE, LOGSTORE_PORT_NAME, LOGSTORE_SERVICE
from machinery.selfpublish import ensure_published

log = logging.getLogger("logstore")


def _hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


async def _publish(args: argparse.Namespace, port: int, stop: asyncio.Event) -> None:
    backoff = Backoff(0.5, 10.0)
    client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent="kubelite-logstore")
    try:
        while not stop.is_set():
            try:
                await ensure_published(client, namespace=LOGSTORE_NAMESPACE, name=LOGSTORE_SERVICE,
                                       ports=[(LOGSTORE_PORT_NAME, port)], ip=args.publish_ip,
                                       labels={"k8s-app": "logstore"})
                return
            except Exception as exc:  # noqa: BLE001 - any failure: log it and retry
                delay_s = backoff.next()
                log.warning("cannot publish %s/%s yet (%s); retrying in %.1fs", LOGSTORE_NAMESPACE,
                            LOGSTORE_SERVICE, exc, delay_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay_s)
    finally:
        await client.aclose()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ours stops the publisher and closes the store."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(server: uvicorn.Server, host: str, port: int, stop: asyncio.Event) -> None:
    """Bind first (uvicorn exits the process when it cannot), retrying with backoff while the
    address does not exist yet; then serve on that socket."""
    backoff = Backoff(0.5, 10.0)
    while not stop.is_set():
        try:
            sock = _bind(host, port)
        except OSError as exc:
            delay_s = backoff.next()
            log.warning("cannot listen on %s:%d yet (%s); retrying in %.1fs", host, port, exc, delay_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay_s)
            continue
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()
        return


async def run(args: argparse.Namespace) -> None:
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(args.db, max_age_s=args.max_age_s, max_bytes=args.max_bytes)
    host, port = args.listen
    stop = asyncio.Event()
    config = uvicorn.Config(make_app(store, prune_every_s=args.prune_every_s), host=host, port=port,
                            log_level="warning", access_log=False)
    server = _Server(config)
    loop = asyncio.get_running_loop()

    def _stop() -> None:
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop)
    publisher = asyncio.create_task(_publish(args, port, stop)) if args.publish_ip else None
    try:
        log.info("log store serving on %s:%d (db %s)", host, port, args.db)
        await _serve(server, host, port, stop)
    finally:
        stop.set()
        if publisher is not None:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
        store.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m addons.logstore", description="kubelite log store")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--listen", type=_hostport, default=("127.0.0.1", 8428), help="HOST:PORT")
    p.add_argument("--db", default="logstore/logs.db", help="SQLite file")
    p.add_argument("--max-age-s", type=float, default=DEFAULT_MAX_AGE_S)
    p.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    p.add_argument("--prune-every-s", type=float, default=60.0)
    p.add_argument("--publish-ip", default=None,
                   help="publish kube-system/logstore with endpoints at this IP and the listen port")
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    asyncio.run(run(args))
