"""The kubelet's TLS bootstrap: from a bootstrap token to its own client certificate.

Contract: `await ensure_kubeconfig(kubeconfig, bootstrap_kubeconfig, cert_dir, node_name,
timeout_s=...)`:
- if `kubeconfig` exists (and its client certificate, if it names one, is not expired), nothing
  happens: a restarted kubelet keeps its identity;
- otherwise, with `bootstrap_kubeconfig` (the server, its CA and a bootstrap token, as `kubelite
  join` writes it), it asks for a certificate (machinery/csr.py) with a CertificateSigningRequest
  named `node-csr-<random>` (signerName kubernetes.io/kube-apiserver-client-kubelet, subject
  CN=system:node:NODE, O=system:nodes, usages digital signature + client auth), waits until the
  controller-manager approved and signed it (or raises BootstrapError on Denied/Failed or at the
  deadline), writes `cert_dir/kubelet-client-current.pem` (certificate then key, 0600, as the
  kubelet's certificate store) and a kubeconfig using it with the bootstrap kubeconfig's server
  and CA, then returns. The token is never logged.
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

from cryptography import x509

from machinery.client import ApiClient
from machinery.csr import CsrError, request_certificate
from machinery.kubeconfig import load_kubeconfig, write_kubeconfig
from machinery.models import KUBELET_CLIENT_SIGNER
from machinery.pki import node_user, write_private


class BootstrapError(ValueError):
    pass


def _valid(kubeconfig: Path) -> bool:
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
    async with ApiClient.from_kubeconfig(bootstrap_kubeconfig, timeout_s=30.0) as client:
        try:
            cert_pem, key_pem = await request_certificate(
                client, node_user(node_name), ["system:nodes"], signer=KUBELET_CLIENT_SIGNER,
                usages=["digital signature", "client auth"], timeout_s=timeout_s, poll_s=poll_s,
                name_prefix="node-csr")
        except CsrError as exc:
            raise BootstrapError(str(exc)) from None
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
