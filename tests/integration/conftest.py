"""Fixtures for tests against a real API server process on a real etcd.

- `ApiServerProcess(etcd_url)`: `python -m apiserver` (HTTPS, tests.support.session_pki()) on a
  free port with its log in a temp dir; `.start()` waits for /readyz, `.stop()` (SIGTERM then
  SIGKILL), `.restart()` (same port), `.url` (https://...); the ServiceAccount admission is off
  (no controller-manager creates `default`) unless `service_account_admission=True`; `.kubeconfig` (the cluster
  admin's kubeconfig for it: CA + client certificate), `.kubeconfig_for(user)` (another
  identity's, e.g. "scheduler"), `.http()` / `.http_sync()` (httpx clients as admin),
  `.log_text()`.
- `apiserver` (session): one such server on the session's `etcd_server`.
- `apiserver_factory`: start extra servers (e.g. on a private etcd); stopped after the test.
- `api_client`: a machinery.client.ApiClient for `apiserver` (from its admin kubeconfig).
- `http`: a raw httpx.AsyncClient on `apiserver` as cluster admin.
- `namespace`: a fresh namespace per test, deleted (and finalized) afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from machinery.client import ApiClient
from tests.support import (
    admin_http,
    admin_http_sync,
    apiserver_tls_args,
    delete_namespace_now,
    free_port,
    running_controllers,
    tls_context,
    write_test_kubeconfig,
)

ROOT = Path(__file__).resolve().parents[2]


class ApiServerProcess:
    def __init__(self, etcd_url: str, *, port: int | None = None, extra_args: tuple[str, ...] = (),
                 service_account_admission: bool = False) -> None:
        self.etcd_url = etcd_url
        self.port = port or free_port()
        # No controller-manager runs here (no `default` ServiceAccount, no kube-root-ca.crt):
        # the ServiceAccount admission is off unless a test asks for it.
        self.extra_args = extra_args if service_account_admission else (
            "--disable-admission-plugins", "ServiceAccount", *extra_args)
        self.dir = Path(tempfile.mkdtemp(prefix="kubelite-apiserver-"))
        self.log_path = self.dir / "apiserver.log"
        self.kubeconfig = str(self.dir / "kubeconfig")
        write_test_kubeconfig(self.kubeconfig, self.url)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubeconfig_for(self, user: str) -> str:
        """A kubeconfig for this server as `user` (a stem of tests.support.session_pki())."""
        path = self.dir / f"kubeconfig-{user}"
        if not path.exists():
            write_test_kubeconfig(path, self.url, user=user)
        return str(path)

    def http(self, **kwargs: object) -> httpx.AsyncClient:
        return admin_http(self.url, **kwargs)  # type: ignore[arg-type]

    def http_sync(self, **kwargs: object) -> httpx.Client:
        return admin_http_sync(self.url, **kwargs)  # type: ignore[arg-type]

    def start(self, timeout_s: float = 30.0, *, wait_ready: bool = True) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "apiserver", "--etcd-servers", self.etcd_url,
                 "--bind-address", "127.0.0.1", "--port", str(self.port),
                 "--min-request-timeout", "60", *apiserver_tls_args(), *self.extra_args],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            log.close()
        if wait_ready:
            self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"apiserver exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0, verify=tls_context(None)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"apiserver not ready within {timeout_s}s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def apiserver(etcd_server: object) -> Iterator[ApiServerProcess]:
    # Short bookmark interval so bookmark tests run in about a second.
    server = ApiServerProcess(etcd_server.url, extra_args=("--bookmark-interval", "1"))  # type: ignore[attr-defined]
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def apiserver_factory() -> Iterator[Callable[..., ApiServerProcess]]:
    started: list[ApiServerProcess] = []

    def make(etcd_url: str, **kwargs: object) -> ApiServerProcess:
        server = ApiServerProcess(etcd_url, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.cleanup()


@pytest.fixture
async def api_client(apiserver: ApiServerProcess) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig, timeout_s=20.0) as client:
        yield client


@pytest.fixture
async def http(apiserver: ApiServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the API server (for wire-level checks)."""
    async with apiserver.http() as client:
        yield client


@pytest.fixture
async def namespace(apiserver: ApiServerProcess) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    async with apiserver.http() as http:
        r = await http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert r.status_code == 201, r.text
        try:
            yield name
        finally:
            # No namespace controller runs here: do its work.
            await asyncio.to_thread(delete_namespace_now, apiserver.url, name)


@pytest.fixture
async def endpointslice_controller(api_client: ApiClient) -> AsyncIterator[object]:
    """The EndpointSlice controller (with its Endpoints mirroring) in-process: the proxy and the
    DNS add-on read slices, which tests writing Endpoints or pods need to exist."""
    from controllers.endpointslice import EndpointSliceController

    async with running_controllers(api_client, EndpointSliceController) as [ctrl]:
        yield ctrl
