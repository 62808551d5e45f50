"""Helpers every test may import: free ports, polling waits, and a real etcd process.

- `free_port()`: a TCP port on 127.0.0.1 that was free a moment ago; `free_port_range(n)`
  the first of n consecutive ones.
- `await wait_until(predicate, timeout_s)`: polls a sync or async predicate; raises
  AssertionError naming it on timeout. `wait_until_sync` is the same for sync code.
- `EtcdProcess`: /usr/bin/etcd on free client and peer ports with a temp data dir, quick
  election settings and a 1 s progress-notify interval. `.start()` waits until it answers,
  `.stop()` (SIGTERM), `.kill()` (SIGKILL), `.start()` again on the SAME ports and data dir,
  `.cleanup()` stops it and removes the data dir. Usable as a context manager.
- `async with running_controllers(client, Ctor, ...)`: controllers run in-process on one
  informer factory (tests that need, say, the EndpointSlice controller without a manager).
- `EtcdCluster(size=3)`: that many members forming one cluster (free ports, one temp dir).
- TLS and credentials (the API server serves HTTPS only and authenticates every request):
  `session_pki()` is this process's cluster PKI (machinery/pki.py, generated once in a temp dir,
  node certificates added on demand with `node_cert(name)`), plus a static token file
  (`TEST_TOKEN` = user `test-token-user` in system:masters). `apiserver_tls_args()` are the
  API server's TLS/authn flags for it (with the ServiceAccount signing key and the kubelet client
  certificate, --kubelet-client-certificate/--kubelet-certificate-authority).
  `kubelet_tls_args(node, ips)` are a kubelet's HTTPS flags (a serving certificate for the node
  from the CA, the CA as --client-ca-file). `tls_context(user)` is an SSLContext trusting the CA
  and presenting `user`'s client certificate ("admin", "scheduler", "controller-manager",
  "kube-proxy", "apiserver-kubelet-client", "node-NAME"; None: no certificate).
  `admin_http(base_url)` / `admin_http_sync(base_url)` are httpx clients as cluster admin,
  `admin_request(method, url, ...)` one request;
  `write_test_kubeconfig(path, server, user="admin")` writes a kubeconfig kubectl, the
  official client and our components load. Tests never build http:// API URLs by hand.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import inspect
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from machinery.kubeconfig import write_kubeconfig
from machinery.pki import ClusterPki, ensure_cluster_pki, ensure_kubelet_serving_cert, ensure_node_cert

ETCD_BIN = os.environ.get("KUBELITE_ETCD_BIN", "/usr/bin/etcd")

ROOT = Path(__file__).resolve().parents[1]


TEST_TOKEN = "kubelite-test-token-0123456789abcdef"  # a test-only credential
TEST_TOKEN_USER = "test-token-user"


@functools.cache
def session_pki() -> ClusterPki:
    """This process's PKI (CA, API server and component certificates, ServiceAccount key)."""
    base = Path(tempfile.mkdtemp(prefix="kubelite-pki-"))
    atexit.register(shutil.rmtree, base, True)
    pki = ensure_cluster_pki(base / "pki")
    token_file = pki.dir / "tokens.csv"
    token_file.write_text(f'{TEST_TOKEN},{TEST_TOKEN_USER},uid-test-token,"system:masters"\n')
    os.chmod(token_file, 0o600)
    return pki


def node_cert(node: str) -> str:
    """The stem of `node`'s kubelet client certificate in session_pki() (created on demand)."""
    ensure_node_cert(session_pki(), node)
    return f"node-{node}"


def apiserver_tls_args(pki: ClusterPki | None = None) -> list[str]:
    pki = pki or session_pki()
    return ["--tls-cert-file", str(pki.cert("apiserver")), "--tls-private-key-file", str(pki.key("apiserver")),
            "--client-ca-file", str(pki.ca_cert), "--token-auth-file", str(pki.dir / "tokens.csv"),
            "--service-account-signing-key-file", str(pki.sa_key), "--authorization-mode", "Node,RBAC",
            "--kubelet-client-certificate", str(pki.cert("apiserver-kubelet-client")),
            "--kubelet-client-key", str(pki.key("apiserver-kubelet-client")),
            "--kubelet-certificate-authority", str(pki.ca_cert)]


def kubelet_tls_args(node: str, ips: Sequence[str] = ("127.0.0.1",)) -> list[str]:
    """A kubelet's HTTPS flags: a serving certificate for `node` (SANs: its name, `ips`,
    127.0.0.1) signed by the test CA, which also verifies its callers' client certificates."""
    pki = session_pki()
    cert, key = ensure_kubelet_serving_cert(pki, node, ip_addresses=ips)
    return ["--tls-cert-file", str(cert), "--tls-private-key-file", str(key), "--client-ca-file", str(pki.ca_cert)]


@functools.cache
def tls_context(user: str | None = "admin") -> ssl.SSLContext:
    """Trusts the test CA; presents `user`'s client certificate (None: none)."""
    pki = session_pki()
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if user is not None:
        ctx.load_cert_chain(str(pki.cert(user)), str(pki.key(user)))
    return ctx


def admin_http(base_url: str, *, user: str | None = "admin", **kwargs: object) -> httpx.AsyncClient:
    """An httpx.AsyncClient on the API server as `user` (default: the cluster admin)."""
    kwargs.setdefault("timeout", 20.0)
    return httpx.AsyncClient(base_url=base_url, verify=tls_context(user), trust_env=False, **kwargs)  # type: ignore[arg-type]


def admin_http_sync(base_url: str, *, user: str | None = "admin", **kwargs: object) -> httpx.Client:
    kwargs.setdefault("timeout", 20.0)
    return httpx.Client(base_url=base_url, verify=tls_context(user), trust_env=False, **kwargs)  # type: ignore[arg-type]


def admin_request(method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request (a full https:// URL) as the cluster admin."""
    with admin_http_sync("") as http:
        return http.request(method, url, **kwargs)  # type: ignore[arg-type]


def write_test_kubeconfig(path: str | os.PathLike[str], server: str, *, user: str = "admin",
                          namespace: str = "default") -> Path:
    pki = session_pki()
    return write_kubeconfig(path, server, user=user, namespace=namespace, ca_file=str(pki.ca_cert),
                            cert_file=str(pki.cert(user)), key_file=str(pki.key(user)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(count: int) -> int:
    """The first of `count` consecutive TCP ports on 127.0.0.1 that were free a moment ago
    (`kubelite up --ha` derives its ports from two bases)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0, interval_s: float = 0.05,
    message: str = "",
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition {predicate!r} not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


def wait_until_sync(
    predicate: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.05, message: str = ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition {predicate!r} not met within {timeout_s}s")
        time.sleep(interval_s)


class EtcdProcess:
    def __init__(self, data_dir: Path | None = None, *, client_port: int | None = None,
                 peer_port: int | None = None, name: str = "kubelite-test", initial_cluster: str = "",
                 heartbeat_ms: int = 20, election_ms: int = 200) -> None:
        self.initial_cluster = initial_cluster  # "" = a one-member cluster of this member
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self._own_dir = data_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="kubelite-etcd-")) if data_dir is None else data_dir
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "etcd.log"
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def command(self) -> list[str]:
        return [
            ETCD_BIN, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state", "new",
            "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms),
            # Progress notifications let idle watch caches advance (and bookmarks be fresh).
            "--experimental-watch-progress-notify-interval", "1s",
            "--logger", "zap", "--log-level", "warn",
        ]

    def start(self, timeout_s: float = 20.0, *, wait: bool = True) -> None:
        if self.running:
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        if wait:
            self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float = 20.0) -> None:
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text()[-2000:])
            if self.healthy():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"etcd did not become healthy in {timeout_s}s; see {self.log_path}")

    def healthy(self) -> bool:
        try:
            r = httpx.get(f"{self.url}/health", timeout=1.0)
            return r.status_code == 200 and r.json().get("health") == "true"
        except (httpx.HTTPError, ValueError):
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: int, timeout_s: float) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (graceful), then SIGKILL if it lingers."""
        self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 10.0)

    def cleanup(self) -> None:
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> EtcdProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()


class EtcdCluster:
    """`size` etcd members on free ports in one temp dir (members[i].kill()/.start() to play
    with failures; a restarted member rejoins with its data). `.urls` for --etcd-servers.
    Context manager; `.cleanup()` kills every member and removes the dir."""

    def __init__(self, size: int = 3) -> None:
        self.base_dir = Path(tempfile.mkdtemp(prefix="kubelite-etcd-cluster-"))
        ports = [(free_port(), free_port()) for _ in range(size)]
        initial = ",".join(f"m{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
        self.members = [EtcdProcess(self.base_dir / f"m{i}", client_port=client, peer_port=peer, name=f"m{i}",
                                    initial_cluster=initial, heartbeat_ms=100, election_ms=1000) for i, (client, peer) in enumerate(ports)]

    @property
    def urls(self) -> str:
        return ",".join(m.url for m in self.members)

    def start(self, timeout_s: float = 30.0) -> None:
        for m in self.members:  # all at once: each waits for a quorum of its peers
            m.start(wait=False)
        for m in self.members:
            m.wait_healthy(timeout_s)

    def cleanup(self) -> None:
        for m in self.members:
            m.kill()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()


def spawn_python(args: Sequence[str], log_path: Path, *, append: bool = True) -> subprocess.Popen[bytes]:
    """`python ARGS` from the project root in its own process group (stop it with
    `stop_process_group`), unbuffered output to `log_path`."""
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})


def stop_process_group(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM the process group of `proc`, SIGKILL it if it has not exited within `timeout_s`."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _spawn_apiserver(etcd_url: str, port: int, log_path: Path, extra_args: Sequence[str] = ()
                     ) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", *apiserver_tls_args(), *extra_args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.asynccontextmanager
async def apiserver_process(etcd_url: str, log_path: Path, *, timeout_s: float = 30.0,
                            extra_args: Sequence[str] = (),
                            ) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m apiserver` on a free port against `etcd_url` (benchmarks): yields (URL, process)
    once /readyz answers, raises if the server exits first (its log is `log_path`), and always
    stops it (SIGTERM to its process group, SIGKILL after 15 s). `extra_args` are more flags.
    The server uses session_pki(): reach it with admin_http(url) or write_test_kubeconfig."""
    port = free_port()
    proc = _spawn_apiserver(etcd_url, port, log_path, extra_args)
    url = f"https://127.0.0.1:{port}"
    try:
        async with admin_http(url) as http:
            deadline = time.monotonic() + timeout_s
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/readyz", timeout=1)).status_code == 200:
                        break
                if proc.poll() is not None:
                    raise RuntimeError(f"API server exited ({proc.returncode}); see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"API server not ready after {timeout_s:.0f}s; see {log_path}")
                await asyncio.sleep(0.1)
        yield url, proc
    finally:
        stop_process_group(proc)


def delete_namespace_now(base_url: str, name: str) -> None:
    """What the namespace controller does, for tests that run without one: DELETE the
    namespace, empty it (every namespaced kind, grace 0), then remove its `kubernetes`
    finalizer (the API server accepts that only once the namespace is empty)."""
    from machinery import registry

    with admin_http_sync(base_url) as http:
        http.delete(f"/api/v1/namespaces/{name}")
        for cls in registry.ALL_KINDS:
            if cls.NAMESPACED:
                http.delete(registry.collection_path(cls, name), params={"gracePeriodSeconds": "0"})
        ns = http.get(f"/api/v1/namespaces/{name}")
        if ns.status_code == 200:
            body = ns.json()
            body["spec"]["finalizers"] = []
            http.put(f"/api/v1/namespaces/{name}/finalize", json=body)


async def compact_etcd(url: str) -> int:
    """Compact etcd's history up to its current revision (as the API server's periodic
    compaction would); returns that revision. Older revisions then answer 410."""
    from urllib.parse import urlparse

    import aetcd
    from aetcd import rpc

    parsed = urlparse(url)
    async with aetcd.Client(host=parsed.hostname or "127.0.0.1", port=parsed.port or 2379, timeout=5) as client:
        assert client.channel is not None
        resp = await rpc.KVStub(client.channel).Range(rpc.RangeRequest(key=b"/", count_only=True), timeout=5)
        revision = int(resp.header.revision)
        await client.compact(revision, physical=True)
        return revision


@contextlib.asynccontextmanager
async def running_controllers(client: Any, *ctors: Callable[[Any], Any], workers: int = 2) -> AsyncIterator[list[Any]]:
    """Controllers (e.g. EndpointsController, EndpointSliceController) run in this process on one
    shared informer factory, as the controller-manager runs them; stopped on exit."""
    from controllers.base import ControllerContext
    from machinery.events import ClientSink, EventRecorder
    from machinery.informer import InformerFactory

    factory = InformerFactory(client)
    ctx = ControllerContext(client=client, factory=factory, workers=workers,
                            recorder=EventRecorder(ClientSink(client), component="test", background=False))
    ctrls = [ctor(ctx) for ctor in ctors]
    await factory.start()
    await factory.wait_synced(timeout_s=20)
    tasks = [asyncio.create_task(c.run()) for c in ctrls]
    try:
        yield ctrls
    finally:
        for c, t in zip(ctrls, tasks, strict=True):
            c.shutdown()
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        await factory.stop()
