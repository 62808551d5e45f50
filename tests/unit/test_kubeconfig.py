"""Kubeconfig loading (several real-world shapes), default path rules, and writing a file
that the official kubernetes Python client accepts."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import ssl
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from machinery import errors
from machinery.client import ApiClient
from machinery.kubeconfig import (
    KubeconfigError,
    default_kubeconfig_path,
    load_kubeconfig,
    write_kubeconfig,
)

CA_PEM = b"-----BEGIN CERTIFICATE-----\nTUlJQ0NB\n-----END CERTIFICATE-----\n"
KEY_PEM = b"-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(tmp_path: Path, doc: dict[str, Any] | str, name: str = "config") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def kind_style() -> dict[str, Any]:
    """What `kind` / kubeadm write: embedded CA and client certificate data."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "kind-dev", "cluster": {
            "server": "https://127.0.0.1:40123/", "certificate-authority-data": b64(CA_PEM)}}],
        "users": [{"name": "kind-dev", "user": {
            "client-certificate-data": b64(CA_PEM), "client-key-data": b64(KEY_PEM)}}],
        "contexts": [{"name": "kind-dev", "context": {"cluster": "kind-dev", "user": "kind-dev"}},
                     {"name": "other", "context": {"cluster": "plain", "user": "tok", "namespace": "team"}}],
        "current-context": "kind-dev",
    }


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBELITE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_default_path_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_kubeconfig_path() == tmp_path / "home" / ".kubelite" / "kubeconfig"
    monkeypatch.setenv("KUBELITE_HOME", str(tmp_path / "kl"))
    assert default_kubeconfig_path() == tmp_path / "kl" / "kubeconfig"
    monkeypatch.setenv("KUBECONFIG", f"{os.pathsep}{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    assert default_kubeconfig_path() == tmp_path / "a"


def test_kind_style_embedded_data_written_to_private_files(tmp_path: Path) -> None:
    cfg = load_kubeconfig(write(tmp_path, kind_style()))
    assert cfg.server == "https://127.0.0.1:40123"
    assert cfg.namespace == "default" and cfg.token is None and cfg.verify and cfg.context == "kind-dev"
    assert cfg.ca_file and Path(cfg.ca_file).read_bytes() == CA_PEM
    assert cfg.cert_file and Path(cfg.cert_file).read_bytes() == CA_PEM
    assert cfg.key_file and Path(cfg.key_file).read_bytes() == KEY_PEM
    assert stat.S_IMODE(os.stat(cfg.key_file).st_mode) == 0o600


def test_context_override_token_and_namespace(tmp_path: Path) -> None:
    doc = kind_style()
    doc["clusters"].append({"name": "plain", "cluster": {"server": "http://127.0.0.1:6443"}})
    doc["users"].append({"name": "tok", "user": {"token": "abc.def"}})
    cfg = load_kubeconfig(write(tmp_path, doc), context="other")
    assert (cfg.server, cfg.token, cfg.namespace) == ("http://127.0.0.1:6443", "abc.def", "team")
    assert cfg.ca_file is None and cfg.cert_file is None


def test_minikube_style_relative_file_paths_and_insecure(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "minikube",
        "clusters": [{"name": "minikube", "cluster": {
            "server": "https://192.168.49.2:8443", "certificate-authority": "certs/ca.crt",
            "insecure-skip-tls-verify": True}}],
        "users": [{"name": "minikube", "user": {
            "client-certificate": "/abs/client.crt", "client-key": "~/client.key"}}],
        "contexts": [{"name": "minikube", "context": {"cluster": "minikube", "user": "minikube",
                                                      "namespace": "kube-system"}}],
    }
    cfg = load_kubeconfig(write(tmp_path, doc))
    assert cfg.ca_file == str(tmp_path / "certs" / "ca.crt")
    assert cfg.cert_file == "/abs/client.crt"
    assert cfg.key_file == str(tmp_path / "home" / "client.key")
    assert cfg.verify is False and cfg.namespace == "kube-system"


def test_token_file_and_exec_user_without_credentials(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    doc = {
        "current-context": "a",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"tokenFile": "token"}},
                  {"name": "eks", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                    "command": "aws", "args": ["eks", "get-token"]}}}],
        "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}},
                     {"name": "b", "context": {"cluster": "c", "user": "eks"}},
                     {"name": "nouser", "context": {"cluster": "c"}}],
    }
    path = write(tmp_path, doc)
    assert load_kubeconfig(path).token == "from-file"
    assert load_kubeconfig(path, context="b").token is None
    assert load_kubeconfig(path, context="nouser").token is None


def test_kubeconfig_env_is_used_when_no_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "env-config", "http://127.0.0.1:7777", token="t")
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert load_kubeconfig().server == "http://127.0.0.1:7777"


@pytest.mark.parametrize(("doc", "context", "message"), [
    ({"clusters": []}, None, "current-context is not set"),
    ({"current-context": "x", "contexts": [{"name": "y", "context": {"cluster": "c"}}]}, None,
     "no context named 'x' in contexts \\(known: y\\)"),
    ({"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c"}}]}, "zz",
     "no context named 'zz'"),
    ({"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c"}}]}, None,
     "no cluster named 'c'"),
    ({"current-context": "x", "contexts": [{"name": "x", "context": {"user": "u"}}]}, None, "names no cluster"),
    ({"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
      "clusters": [{"name": "c", "cluster": {"server": "http://h"}}]}, None, "no user named 'u'"),
    ({"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c"}}],
      "clusters": [{"name": "c", "cluster": {}}]}, None, "has no server"),
    ({"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c"}}],
      "clusters": [{"name": "c", "cluster": {"server": "https://h", "certificate-authority-data": "%%%"}}]},
     None, "certificate-authority-data is not valid base64"),
    ({"current-context": "x", "contexts": {"x": 1}}, None, "contexts must be a list"),
    ("- just\n- a list\n", None, "is not a mapping"),
    ("clusters: [unclosed\n", None, "is not valid YAML"),
])
def test_bad_kubeconfigs_raise_clear_errors(tmp_path: Path, doc: Any, context: str | None, message: str) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(KubeconfigError, match=message) as info:
        load_kubeconfig(path, context=context)
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="does not exist"):
        load_kubeconfig(tmp_path / "nope")
    with pytest.raises(KubeconfigError, match=r"\.kubelite/kubeconfig does not exist"):
        load_kubeconfig()


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "deep" / "dir" / "kubeconfig", "http://127.0.0.1:6443",
                            namespace="dev", token="tok")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config" and doc["current-context"] == "kubelite"
    cfg = load_kubeconfig(path)
    assert (cfg.server, cfg.namespace, cfg.token, cfg.context) == ("http://127.0.0.1:6443", "dev", "tok", "kubelite")
    write_kubeconfig(path, "http://127.0.0.1:7000", cluster_name="two", user="me")
    cfg = load_kubeconfig(path)
    assert (cfg.server, cfg.token, cfg.context) == ("http://127.0.0.1:7000", None, "two")
    assert [p.name for p in path.parent.iterdir()] == ["kubeconfig"]  # no temp files left


def test_official_kubernetes_client_accepts_written_file(tmp_path: Path) -> None:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    path = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:6443", namespace="dev", token="tok")
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == "http://127.0.0.1:6443"
    assert configuration.api_key["BearerToken"] == "Bearer tok"
    _contexts, active = k8s_config.list_kube_config_contexts(config_file=str(path))
    assert active["name"] == "kubelite" and active["context"]["namespace"] == "dev"


async def test_client_from_kubeconfig_uses_server_token_and_namespace(tmp_path: Path) -> None:
    from machinery.meta import Resource

    class Thing(Resource):
        KIND = "Thing"
        PLURAL = "things"

    path = write_kubeconfig(tmp_path / "kubeconfig", "http://kubelite.test:6443", namespace="dev", token="tok")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"metadata": {"name": "x", "namespace": "dev"}})

    async with ApiClient.from_kubeconfig(str(path), transport=httpx.MockTransport(handler)) as client:
        await client.get(Thing, "x")
    assert str(seen[0].url) == "http://kubelite.test:6443/api/v1/namespaces/dev/things/x"
    assert seen[0].headers["authorization"] == "Bearer tok"


# -- TLS end to end: kubeconfig *-data -> ApiClient -> a loopback HTTPS server ------------------

def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (EC: fast)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path / "pki"
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "admin")):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "1", "-extfile", "san.ext", cwd=d)
    return d


@pytest.fixture
async def https_server(pki: Path) -> AsyncIterator[tuple[int, list[str]]]:
    """An HTTPS server demanding a client certificate; records the client's CN per request."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    clients: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            cert = writer.get_extra_info("peercert") or {}
            clients.append(dict(x[0] for x in cert.get("subject", ()))["commonName"])
            body = b'{"major": "1", "minor": "0"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    try:
        yield server.sockets[0].getsockname()[1], clients
    finally:
        server.close()
        await server.wait_closed()


def tls_kubeconfig(tmp_path: Path, pki: Path, port: int, *, with_ca: bool, insecure: bool = False) -> Path:
    cluster: dict[str, Any] = {"server": f"https://127.0.0.1:{port}"}
    if with_ca:
        cluster["certificate-authority-data"] = b64((pki / "ca.crt").read_bytes())
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    return write(tmp_path, {
        "apiVersion": "v1", "kind": "Config", "current-context": "tls",
        "clusters": [{"name": "tls", "cluster": cluster}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64((pki / "client.crt").read_bytes()),
                                             "client-key-data": b64((pki / "client.key").read_bytes())}}],
        "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "admin"}}],
    }, name=f"tls-{with_ca}-{insecure}")


async def test_tls_with_embedded_ca_and_client_certificate(
        tmp_path: Path, pki: Path, https_server: tuple[int, list[str]]) -> None:
    port, clients = https_server
    async with ApiClient.from_kubeconfig(str(tls_kubeconfig(tmp_path, pki, port, with_ca=True))) as client:
        assert await client.request("GET", "/version") == {"major": "1", "minor": "0"}
    assert clients == ["admin"]


async def test_tls_unknown_ca_fails_unless_insecure(
        tmp_path: Path, pki: Path, https_server: tuple[int, list[str]]) -> None:
    port, clients = https_server
    path = tls_kubeconfig(tmp_path, pki, port, with_ca=False)
    async with ApiClient.from_kubeconfig(str(path), retry_delays_s=()) as client:
        with pytest.raises(errors.ConnectionFailed, match=r"(?i)certificate"):
            await client.request("GET", "/version")
    path = tls_kubeconfig(tmp_path, pki, port, with_ca=False, insecure=True)
    async with ApiClient.from_kubeconfig(str(path)) as client:
        assert (await client.request("GET", "/version"))["major"] == "1"
    assert clients == ["admin"]
