"""The kubelet's HTTPS serving certificate: where it comes from, and the server's SSL settings.

Contract: `await serving_cert(args..., client=...) -> (cert_file, key_file)`:
- `--tls-cert-file`/`--tls-private-key-file` given: those (`kubelite up`, the lab and the test
  fixtures issue them from the cluster CA, machinery/pki.ensure_kubelet_serving_cert);
- else with `rotate` (`--rotate-server-certificates`, implied by `--bootstrap-kubeconfig`:
  Kubernetes' serverTLSBootstrap): `CERT_DIR/kubelet-server-current.pem` (certificate then key,
  0600) when it is valid for a day more and covers the wanted SANs, else a new one through a
  CertificateSigningRequest `csr-<random>` of signer kubernetes.io/kubelet-serving for
  CN=system:node:NODE, O=system:nodes, usages digital signature + key encipherment + server auth,
  SANs = node name, hostname, node IP, 127.0.0.1, asked with the kubelet's own client credential
  (the controller-manager's csrapproving approves it for the node's own identity and csrsigning
  signs it with the cluster CA); raises `ServingCertError` when it is refused or not signed in time;
- else a self-signed certificate `CERT_DIR/kubelet.crt`/`kubelet.key` (Kubernetes' kubelet does
  the same when given none; an API server with --kubelet-certificate-authority then refuses it).
`client_ca(args_client_ca, kubeconfig)`: the CA that verifies client certificates
(`--client-ca-file`, else the kubeconfig's cluster CA; ValueError when neither exists).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from machinery.client import ApiClient
from machinery.csr import CsrError, request_certificate
from machinery.kubeconfig import load_kubeconfig
from machinery.models import KUBELET_SERVING_SIGNER
from machinery.pki import (
    NODES_GROUP,
    cert_sans,
    cert_valid,
    key_pem,
    kubelet_serving_sans,
    new_key,
    node_user,
    write_private,
    write_public,
)

SERVING_USAGES = ("digital signature", "key encipherment", "server auth")
STORE_NAME = "kubelet-server-current.pem"


class ServingCertError(ValueError):
    pass


def wanted_sans(node: str, node_ip: str) -> tuple[list[str], list[str]]:
    return kubelet_serving_sans(node, [socket.gethostname()], [node_ip])


def _covers(pem: bytes, dns: Sequence[str], ips: Sequence[str]) -> bool:
    try:
        have_dns, have_ips = cert_sans(pem)
    except ValueError:
        return False
    return set(dns) <= have_dns and set(ips) <= have_ips and cert_valid(pem, margin_s=86400.0)


async def requested_cert(client: ApiClient, node: str, node_ip: str, cert_dir: Path, *,
                         timeout_s: float = 300.0, poll_s: float = 1.0) -> Path:
    store = cert_dir / STORE_NAME
    dns, ips = wanted_sans(node, node_ip)
    if store.exists() and _covers(store.read_bytes(), dns, ips):
        return store
    try:
        cert_pem, key = await request_certificate(client, node_user(node), [NODES_GROUP], signer=KUBELET_SERVING_SIGNER,
                                                  usages=SERVING_USAGES, timeout_s=timeout_s, poll_s=poll_s,
                                                  dns_names=dns, ip_addresses=ips)
    except CsrError as exc:
        raise ServingCertError(f"no serving certificate: {exc}") from None
    await asyncio.to_thread(write_private, store, cert_pem + key)
    return store


def self_signed(node: str, node_ip: str, cert_dir: Path) -> tuple[Path, Path]:
    crt, keyf = cert_dir / "kubelet.crt", cert_dir / "kubelet.key"
    dns, ips = wanted_sans(node, node_ip)
    if crt.exists() and keyf.exists() and _covers(crt.read_bytes(), dns, ips):
        return crt, keyf

    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node}@{int(datetime.datetime.now().timestamp())}")])
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(keyf, key_pem(key))
    write_public(crt, cert.public_bytes(serialization.Encoding.PEM))
    return crt, keyf


async def serving_cert(*, cert_file: str | None, key_file: str | None, rotate: bool, client: ApiClient,
                       node: str, node_ip: str, cert_dir: str) -> tuple[str, str]:
    if cert_file or key_file:
        if not (cert_file and key_file):
            raise ValueError("--tls-cert-file and --tls-private-key-file go together")
        return cert_file, key_file
    directory = Path(cert_dir)
    if rotate:
        store = await requested_cert(client, node, node_ip, directory)
        return str(store), str(store)
    crt, key = await asyncio.to_thread(self_signed, node, node_ip, directory)
    return str(crt), str(key)


def client_ca(client_ca_file: str | None, kubeconfig: str | None) -> str:
    if client_ca_file:
        return client_ca_file
    ca = load_kubeconfig(kubeconfig).ca_file if kubeconfig else None
    if not ca:
        raise ValueError("the kubelet verifies client certificates: give --client-ca-file "
                         "(or a kubeconfig naming the cluster's CA)")
    return ca
