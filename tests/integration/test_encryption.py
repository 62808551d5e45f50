"""Secrets encrypted at rest on a real API server and etcd: the value in etcd (read directly)
is Kubernetes' aesgcm envelope, not the plaintext; the API reads it back; rotation (new key
first, restart, `kubelite secrets reencrypt`, old key dropped) leaves every Secret readable
under the new key; ConfigMaps, not listed, stay plaintext."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import aetcd
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdProcess

ROOT = Path(__file__).resolve().parents[2]
PLAIN = "hunter2-plaintext-marker"


def write_config(path: Path, *keys: tuple[str, bytes]) -> None:
    key_lines = "".join(f"          - name: {n}\n            secret: {base64.b64encode(k).decode()}\n" for n, k in keys)
    path.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
                    "  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys:\n"
                    + key_lines.replace("          - ", "          - ", 1) + "      - identity: {}\n")


def raw_value(etcd: EtcdProcess, key: str) -> bytes:
    async def get() -> bytes:
        async with aetcd.Client(host="127.0.0.1", port=etcd.client_port, timeout=5) as client:
            got = await client.get(key.encode())
            assert got is not None, key
            return bytes(got.value)
    return asyncio.run(get())


@pytest.fixture
def etcd() -> Iterator[EtcdProcess]:
    with EtcdProcess(name="kubelite-encryption") as proc:
        yield proc


def test_encrypted_secret_rotation(etcd: EtcdProcess, tmp_path: Path) -> None:
    cfg = tmp_path / "encryption.yaml"
    write_config(cfg, ("key1", b"1" * 32))
    server = ApiServerProcess(etcd.url, extra_args=("--encryption-provider-config", str(cfg)))
    try:
        server.start()
        with server.http_sync(timeout=20) as http:
            r = http.post("/api/v1/namespaces/default/secrets",
                          json={"metadata": {"name": "db"}, "stringData": {"password": PLAIN}})
            assert r.status_code == 201, r.text
            r = http.post("/api/v1/namespaces/default/configmaps",
                          json={"metadata": {"name": "cfg"}, "data": {"k": PLAIN}})
            assert r.status_code == 201, r.text
            stored = raw_value(etcd, "/registry/secrets/default/db")
            assert stored.startswith(b"k8s:enc:aesgcm:v1:key1:")
            assert PLAIN.encode() not in stored and base64.b64encode(PLAIN.encode()) not in stored
            assert PLAIN.encode() in raw_value(etcd, "/registry/configmaps/default/cfg")
            got = http.get("/api/v1/namespaces/default/secrets/db").json()
            assert base64.b64decode(got["data"]["password"]).decode() == PLAIN

        # Rotation step 1: the new key first, the old one still listed for reads.
        write_config(cfg, ("key2", b"2" * 32), ("key1", b"1" * 32))
        server.restart()
        with server.http_sync(timeout=20) as http:
            got = http.get("/api/v1/namespaces/default/secrets/db").json()
            assert base64.b64decode(got["data"]["password"]).decode() == PLAIN
        assert raw_value(etcd, "/registry/secrets/default/db").startswith(b"k8s:enc:aesgcm:v1:key1:")
        result = CliRunner().invoke(app, ["--kubeconfig", server.kubeconfig, "secrets", "reencrypt", "-A"])
        assert result.exit_code == 0, result.output
        assert "default/secret/db reencrypted" in result.output
        assert raw_value(etcd, "/registry/secrets/default/db").startswith(b"k8s:enc:aesgcm:v1:key2:")

        # Step 2: drop the old key; everything still reads.
        write_config(cfg, ("key2", b"2" * 32))
        server.restart()
        with server.http_sync(timeout=20) as http:
            got = http.get("/api/v1/namespaces/default/secrets/db").json()
            assert base64.b64decode(got["data"]["password"]).decode() == PLAIN
            listed = http.get("/api/v1/secrets").json()["items"]
            assert [s["metadata"]["name"] for s in listed] == ["db"]
    finally:
        server.cleanup()
