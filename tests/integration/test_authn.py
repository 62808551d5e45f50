"""Authentication against the real API server (HTTPS only): client certificates, the static
token file, bootstrap tokens, anonymous health paths, 401 Status otherwise; kubectl and the
official client through kubeconfigs carrying a token."""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from machinery import pki
from machinery.kubeconfig import write_kubeconfig
from tests.integration.conftest import ApiServerProcess
from tests.support import TEST_TOKEN, admin_http_sync, session_pki, tls_context

pytestmark = pytest.mark.integration
KUBECTL = str(Path(sys.executable).parent / "kubectl")


def anonymous(apiserver: ApiServerProcess) -> httpx.Client:
    return httpx.Client(base_url=apiserver.url, verify=tls_context(None), timeout=10.0, trust_env=False)


def test_plain_http_is_not_served(apiserver: ApiServerProcess) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(apiserver.url.replace("https://", "http://") + "/api", timeout=5.0, trust_env=False)


def test_no_credential_is_401_except_health_and_version(apiserver: ApiServerProcess) -> None:
    with anonymous(apiserver) as http:
        for path in ("/healthz", "/readyz", "/livez", "/version"):
            assert http.get(path).status_code == 200, path
        for method, path in (("GET", "/api/v1/namespaces"), ("GET", "/api"), ("POST", "/api/v1/namespaces"),
                             ("GET", "/openapi/v3"), ("DELETE", "/api/v1/namespaces/default")):
            r = http.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.text)
            assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
        r = http.get("/api/v1/namespaces", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"


def test_client_certificates_of_the_cluster_ca_only(apiserver: ApiServerProcess, tmp_path: Path) -> None:
    with admin_http_sync(apiserver.url) as http:
        assert http.get("/api/v1/namespaces").status_code == 200
    with admin_http_sync(apiserver.url, user="scheduler") as http:
        assert http.get("/api/v1/namespaces").status_code == 200  # authenticated (authorization: rbac's)
    # A certificate from another CA is refused during the handshake (or answered 401).
    other = pki.CertificateAuthority.create("not-the-cluster")
    cert, key = pki.write_pair(tmp_path, "intruder", other.issue("kubernetes-admin", ["system:masters"]))
    ctx = ssl.create_default_context(cafile=str(session_pki().ca_cert))
    ctx.load_cert_chain(str(cert), str(key))
    try:
        with httpx.Client(base_url=apiserver.url, verify=ctx, timeout=10.0, trust_env=False) as http:
            code = http.get("/api/v1/namespaces").status_code
    except httpx.HTTPError:
        code = 0
    assert code in (0, 401)


def test_static_token_with_kubectl_and_the_official_client(apiserver: ApiServerProcess, tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "token.kubeconfig", apiserver.url, user="tok", token=TEST_TOKEN,
                          ca_file=str(session_pki().ca_cert))
    out = subprocess.run([KUBECTL, "--kubeconfig", str(kc), "get", "ns", "default", "-o", "name"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "namespace/default", out.stderr
    bad = write_kubeconfig(tmp_path / "bad.kubeconfig", apiserver.url, user="tok", token="wrong-token",
                           ca_file=str(session_pki().ca_cert))
    out = subprocess.run([KUBECTL, "--kubeconfig", str(bad), "get", "ns"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "Unauthorized" in out.stderr, out.stderr
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(kc), client_configuration=cfg)
    with k8s.ApiClient(cfg) as api:
        ns = k8s.CoreV1Api(api).read_namespace("default")
        assert ns.metadata is not None and ns.metadata.name == "default"
    # Without a CA the client refuses the server: the kubeconfig's CA is what makes it trusted.
    insecure = write_kubeconfig(tmp_path / "noca.kubeconfig", apiserver.url, user="tok", token=TEST_TOKEN)
    out = subprocess.run([KUBECTL, "--kubeconfig", str(insecure), "get", "ns"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "SSL_CERT_FILE": "/nonexistent"})
    assert out.returncode != 0 and "certificate" in out.stderr.lower(), out.stderr


def _bootstrap_secret(token_id: str, secret: str, expiration: datetime) -> dict[str, Any]:
    data = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-authentication": "true",
            "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_bootstrap_tokens_authenticate_until_expired_or_deleted(apiserver: ApiServerProcess) -> None:
    now = datetime.now(UTC)
    with admin_http_sync(apiserver.url) as admin, anonymous(apiserver) as http:
        for tid, exp in (("live01", now + timedelta(hours=1)), ("dead01", now - timedelta(minutes=1))):
            r = admin.post("/api/v1/namespaces/kube-system/secrets", json=_bootstrap_secret(tid, "0123456789abcdef", exp))
            assert r.status_code == 201, r.text
        try:
            def status(token: str) -> int:
                return http.get("/api", headers={"Authorization": f"Bearer {token}"}).status_code

            assert status("live01.0123456789abcdef") == 200
            assert status("live01.0123456789abcdee") == 401
            assert status("dead01.0123456789abcdef") == 401
            admin.delete("/api/v1/namespaces/kube-system/secrets/bootstrap-token-live01")
            assert status("live01.0123456789abcdef") == 401
        finally:
            for tid in ("live01", "dead01"):
                admin.delete(f"/api/v1/namespaces/kube-system/secrets/bootstrap-token-{tid}")
