"""The kubelet's TLS bootstrap: from a bootstrap token to its own client certificate.

Contract: `await ensure_kubeconfig(kubeconfig, bootstrap_kubeconfig, cert_dir, node_name,
timeout_s=...)`:
- if `kubeconfig` exists (and its client certificate, if it names one, is not expired), nothing
  happens: a restarted kubelet keeps its identity;
- otherwise, with `bootstrap_kubeconfig` (the server, its CA and a bootstrap token, as `kubelite
  join` writes it), it creates a new ECDSA key, POSTs a CertificateSigningRequest named
  `node-csr-<random>` (signerName kubernetes.io/kube-apiserver-client-kubelet, subject
  CN=system:node:NODE, O=system:nodes, usages digital signature + client auth), waits until the
  controller-manager approved and signed it (or raises BootstrapError on Denied/Failed or at the
  deadline), writes `cert_dir/kubelet-client-current.pem` (certificate then key, 0600, as the
  kubelet's certificate store) and a kubeconfig using it with the bootstrap kubeconfig's server
  and CA, then returns. The token is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import secrets
from pathlib import Path

from machinery import errors
from machinery.client import ApiClient
from machinery.kubeconfig import load_kubeconfig, write_kubeconfig
from machinery.pki import make_csr, node_user, write_private

SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


class BootstrapError(ValueError):
    pass


def _valid(kubeconfig: Path) -> bool:
    from cryptography import x509

    if not kubeconfig.exists():
        return False
    try:
        cfg = load_kubeconfig(kubeconfig)
    except ValueError:
        return False
    if not cfg.cert_file:
        return True
    try:
        cert = x509.load_pem_x509_certificate(Path(cfg.cert_file).read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC)


async def ensure_kubeconfig(kubeconfig: str, bootstrap_kubeconfig: str | None, cert_dir: str, node_name: str,
                            *, timeout_s: float = 300.0, poll_s: float = 1.0) -> None:
    target = Path(kubeconfig)
    if await asyncio.to_thread(_valid, target):
        return
    if not bootstrap_kubeconfig:
        raise BootstrapError(f"{kubeconfig} does not exist (or its certificate expired) and no "
                             "--bootstrap-kubeconfig was given")
    boot = load_kubeconfig(bootstrap_kubeconfig)
    csr_pem, key_pem = make_csr(node_user(node_name), ["system:nodes"])
    name = f"node-csr-{secrets.token_hex(8)}"
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": SIGNER,
                     "usages": ["digital signature", "client auth"]}}
    async with ApiClient.from_kubeconfig(bootstrap_kubeconfig, timeout_s=30.0) as client:
        await client.request("POST", CSR_PATH, json=body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                csr = await client.request("GET", f"{CSR_PATH}/{name}")
            except errors.NotFound:
                raise BootstrapError(f"CertificateSigningRequest {name} was deleted") from None
            status = csr.get("status") or {}
            for c in status.get("conditions") or []:
                if c.get("type") in ("Denied", "Failed") and c.get("status", "True") == "True":
                    raise BootstrapError(f"CertificateSigningRequest {name} {c['type'].lower()}: "
                                         f"{c.get('reason', '')} {c.get('message', '')}".strip())
            if status.get("certificate"):
                cert_pem = base64.b64decode(status["certificate"])
                break
            if loop.time() > deadline:
                raise BootstrapError(f"CertificateSigningRequest {name} not signed within {timeout_s:.0f}s "
                                     "(is the controller-manager running its csrapproving/csrsigning controllers?)")
            await asyncio.sleep(poll_s)
    await asyncio.to_thread(_store, target, Path(cert_dir), boot.server, boot.ca_file, cert_pem + key_pem)


def _store(target: Path, cert_dir: Path, server: str, boot_ca: str | None, pem: bytes) -> None:
    store = cert_dir / "kubelet-client-current.pem"
    write_private(store, pem)
    ca_file = None
    if boot_ca:  # a stable copy (a *-data CA lives in a temp file removed at exit)
        ca_file = cert_dir / "ca.crt"
        write_private(ca_file, Path(boot_ca).read_bytes())
    write_kubeconfig(target, server, cluster_name="default-cluster", user="default-auth",
                     ca_file=str(ca_file) if ca_file else None, cert_file=str(store), key_file=str(store))
