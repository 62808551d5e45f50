"""The kubelet's TLS bootstrap against a real API server and controller-manager: a bootstrap
token creates a CertificateSigningRequest, the csrapproving/csrsigning controllers approve and
sign it, and the resulting kubeconfig authenticates as system:node:NAME in system:nodes (the
same token gets `kubelite join`'s proxy identity); a CSR for another kind of certificate stays
pending; kubectl get csr shows it. The API server runs Node,RBAC (tests.support)."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelet.bootstrap import ensure_kubeconfig
from machinery.client import ApiClient
from machinery.csr import request_certificate
from machinery.kubeconfig import load_kubeconfig, ssl_context, write_kubeconfig
from machinery.models import KUBE_APISERVER_CLIENT_SIGNER
from machinery.pki import make_csr, write_private
from tests.integration.conftest import ApiServerProcess
from tests.integration.test_controllers import ControllerManagerProcess
from tests.support import session_pki, wait_until_sync

pytestmark = pytest.mark.integration
KUBECTL = str(Path(sys.executable).parent / "kubectl")
TOKEN_ID, TOKEN_SECRET = "boot42", "0123456789abcdef"


@pytest.fixture
def signer(apiserver: ApiServerProcess) -> Iterator[ControllerManagerProcess]:
    pki = session_pki()
    cm = ControllerManagerProcess(apiserver.kubeconfig_for("controller-manager"), "--controllers",
                                  "csrapproving,csrsigning", "--cluster-signing-cert-file", str(pki.ca_cert),
                                  "--cluster-signing-key-file", str(pki.ca_key)).start()
    try:
        yield cm
    finally:
        cm.cleanup()


def _bootstrap_token(apiserver: ApiServerProcess) -> None:
    data = {"token-id": TOKEN_ID, "token-secret": TOKEN_SECRET, "usage-bootstrap-authentication": "true",
            "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
            "expiration": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    with apiserver.http_sync() as http:
        http.delete(f"/api/v1/namespaces/kube-system/secrets/bootstrap-token-{TOKEN_ID}")
        r = http.post("/api/v1/namespaces/kube-system/secrets", json={
            "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{TOKEN_ID}", "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
        assert r.status_code == 201, r.text


def _whoami(kubeconfig: Path) -> dict[str, Any]:
    cfg = load_kubeconfig(kubeconfig)
    with httpx.Client(base_url=cfg.server, verify=ssl_context(cfg.ca_file, cfg.cert_file, cfg.key_file),
                      headers={"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}, trust_env=False) as h:
        r = h.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={})
        assert r.status_code == 201, r.text
        return dict(r.json()["status"]["userInfo"])


async def test_bootstrap_token_to_node_certificate(apiserver: ApiServerProcess, signer: ControllerManagerProcess,
                                                   tmp_path: Path) -> None:
    _bootstrap_token(apiserver)
    boot = write_kubeconfig(tmp_path / "bootstrap.kubeconfig", apiserver.url, user="boot",
                            token=f"{TOKEN_ID}.{TOKEN_SECRET}", ca_file=str(session_pki().ca_cert))
    assert _whoami(boot)["username"] == f"system:bootstrap:{TOKEN_ID}"
    node_kc = tmp_path / "kubelet.kubeconfig"
    await ensure_kubeconfig(str(node_kc), str(boot), str(tmp_path / "pki"), "boot-node", timeout_s=60, poll_s=0.3)
    info = _whoami(node_kc)
    assert info["username"] == "system:node:boot-node"
    assert info["groups"] == ["system:nodes", "system:authenticated"]
    assert (tmp_path / "pki" / "kubelet-client-current.pem").stat().st_mode & 0o777 == 0o600
    # The CSR records who asked, and kubectl shows it approved and issued.
    with apiserver.http_sync() as http:
        csrs = [c for c in http.get("/apis/certificates.k8s.io/v1/certificatesigningrequests").json()["items"]
                if c["spec"]["username"] == f"system:bootstrap:{TOKEN_ID}"]
    assert len(csrs) == 1 and csrs[0]["spec"]["groups"] == [
        "system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"]
    out = await asyncio.to_thread(
        subprocess.run, [KUBECTL, "--kubeconfig", apiserver.kubeconfig, "get", "csr", csrs[0]["metadata"]["name"]],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:6] == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert "Approved,Issued" in out.stdout
    # A second start keeps the identity (no new CSR).
    await ensure_kubeconfig(str(node_kc), str(boot), str(tmp_path / "pki"), "boot-node", timeout_s=5)
    # `kubelite join`'s proxy identity through the general client signer, auto-approved for the token.
    async with ApiClient.from_kubeconfig(str(boot)) as client:
        cert_pem, key_pem = await request_certificate(client, "system:kube-proxy",
                                                      signer=KUBE_APISERVER_CLIENT_SIGNER, timeout_s=60, poll_s=0.3)
    write_private(tmp_path / "proxy.pem", cert_pem + key_pem)
    proxy_kc = write_kubeconfig(tmp_path / "proxy.kubeconfig", apiserver.url, user="proxy",
                                ca_file=str(session_pki().ca_cert), cert_file=str(tmp_path / "proxy.pem"),
                                key_file=str(tmp_path / "proxy.pem"))
    assert _whoami(proxy_kc)["username"] == "system:kube-proxy"


async def test_kubelet_serving_certificate_for_the_node_itself_only(
        apiserver: ApiServerProcess, signer: ControllerManagerProcess, tmp_path: Path) -> None:
    """--rotate-server-certificates (implied by TLS bootstrap): the node asks a kubelet-serving
    CSR with its own identity; csrapproving approves it, csrsigning issues a serving certificate
    from the cluster CA keeping the SANs. The same request from anyone else stays pending."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from kubelet.serving import SERVING_USAGES, requested_cert
    from machinery.models import KUBELET_SERVING_SIGNER
    from machinery.pki import cert_sans
    from tests.support import node_cert

    # First, the admin asking a serving certificate in a node's name (not the node itself): the
    # controller sees it before the node's own request below, and must leave it pending.
    csr_pem, _ = make_csr("system:node:serve-node", ["system:nodes"], dns_names=["serve-node"])
    with apiserver.http_sync() as http:
        http.delete("/apis/certificates.k8s.io/v1/certificatesigningrequests/not-the-node")
        r = http.post("/apis/certificates.k8s.io/v1/certificatesigningrequests", json={
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "not-the-node"},
            "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": KUBELET_SERVING_SIGNER,
                     "usages": list(SERVING_USAGES)}})
        assert r.status_code == 201, r.text
    node_kc = apiserver.kubeconfig_for(node_cert("serve-node"))
    async with ApiClient.from_kubeconfig(node_kc) as client:
        store = await requested_cert(client, "serve-node", "10.1.2.3", tmp_path, timeout_s=60, poll_s=0.3)
    pem = store.read_bytes()
    assert store.stat().st_mode & 0o777 == 0o600
    dns, ips = cert_sans(pem)
    assert "serve-node" in dns and {"10.1.2.3", "127.0.0.1"} <= ips
    cert = x509.load_pem_x509_certificate(pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(session_pki().ca_cert.read_bytes()))
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    # A second start keeps the certificate (no new CSR).
    async with ApiClient.from_kubeconfig(node_kc) as client:
        assert await requested_cert(client, "serve-node", "10.1.2.3", tmp_path, timeout_s=5) == store
    with apiserver.http_sync() as http:
        items = http.get("/apis/certificates.k8s.io/v1/certificatesigningrequests").json()["items"]
        mine = [c for c in items if c["spec"]["signerName"] == KUBELET_SERVING_SIGNER
                and c["spec"]["username"] == "system:node:serve-node"]
        assert len(mine) == 1 and mine[0]["status"]["conditions"][0]["reason"] == "AutoApproved"
        got = http.get("/apis/certificates.k8s.io/v1/certificatesigningrequests/not-the-node").json()
        assert not (got.get("status") or {}).get("conditions"), got


def test_other_requests_wait_for_a_human_and_bad_ones_are_422(apiserver: ApiServerProcess,
                                                              signer: ControllerManagerProcess) -> None:
    csr_pem, _ = make_csr("system:node:sneaky", ["system:masters"])  # not system:nodes: not auto-approved
    body: dict[str, Any] = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "sneaky"},
            "spec": {"request": base64.b64encode(csr_pem).decode(), "username": "forged",
                     "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                     "usages": ["digital signature", "client auth"]}}
    with apiserver.http_sync() as http:
        http.delete("/apis/certificates.k8s.io/v1/certificatesigningrequests/sneaky")
        r = http.post("/apis/certificates.k8s.io/v1/certificatesigningrequests", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["spec"]["username"] == "kubernetes-admin"  # the requester, not what the body said
        bad = http.post("/apis/certificates.k8s.io/v1/certificatesigningrequests",
                        json={**body, "metadata": {"name": "bad"}, "spec": {**body["spec"], "request": "bm9wZQ=="}})
        assert bad.status_code == 422 and bad.json()["details"]["causes"][0]["field"] == "spec.request"
        # Not auto-approved; approved by a human (kubectl certificate approve: PUT .../approval),
        # the kubelet signer still refuses a subject that is not a node's.
        approve = subprocess.run([KUBECTL, "--kubeconfig", apiserver.kubeconfig, "certificate", "approve", "sneaky"],
                                 capture_output=True, text=True, timeout=60)
        assert approve.returncode == 0, approve.stderr

        def conditions(name: str) -> dict[str, Any]:
            got = http.get(f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}").json()
            st = got.get("status") or {}
            return {**{c["type"]: c for c in st.get("conditions") or []}, "issued": bool(st.get("certificate"))}

        wait_until_sync(lambda: "Failed" in conditions("sneaky"), timeout_s=30, interval_s=0.3)
        assert conditions("sneaky")["Approved"]["reason"] == "KubectlApprove" and not conditions("sneaky")["issued"]
        # The general client signer issues what a human approved.
        user_csr, _ = make_csr("jane", ["dev"])
        http.delete("/apis/certificates.k8s.io/v1/certificatesigningrequests/jane")
        r = http.post("/apis/certificates.k8s.io/v1/certificatesigningrequests", json={
            **body, "metadata": {"name": "jane"},
            "spec": {**body["spec"], "request": base64.b64encode(user_csr).decode(),
                     "signerName": "kubernetes.io/kube-apiserver-client"}})
        assert r.status_code == 201, r.text
        assert subprocess.run([KUBECTL, "--kubeconfig", apiserver.kubeconfig, "certificate", "approve", "jane"],
                              capture_output=True, text=True, timeout=60).returncode == 0
        wait_until_sync(lambda: conditions("jane")["issued"], timeout_s=30, interval_s=0.3)
        for name in ("sneaky", "jane"):
            http.delete(f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}")
