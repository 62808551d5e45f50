"""A client certificate from the cluster, through a CertificateSigningRequest.

Contract: `await request_certificate(client, common_name, organizations, signer=...,
usages=..., timeout_s=..., poll_s=..., name_prefix="csr")` makes a new ECDSA key, POSTs a
certificates.k8s.io/v1 CertificateSigningRequest named `<name_prefix>-<random>` for the subject
CN=`common_name`, O=`organizations`, then polls it (GET by name, which the requester may do:
system:node-bootstrapper) until `status.certificate` is set, and returns `(cert_pem, key_pem)`.
It raises `CsrError` when the request is Denied or Failed, deleted, or not signed within
`timeout_s` (the message names the controllers that should have acted). The kubelet's TLS
bootstrap (kubelet/bootstrap.py) and `kubelite join` (the node's proxy and route agent) use it.
`dns_names`/`ip_addresses` put SANs in the request (the kubelet's serving certificate,
kubelet/serving.py, signer kubernetes.io/kubelet-serving).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Sequence

from machinery import errors
from machinery.client import ApiClient
from machinery.models import KUBELET_CLIENT_SIGNER
from machinery.pki import make_csr

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
CLIENT_USAGES = ("digital signature", "client auth")


class CsrError(ValueError):
    """The request was refused, vanished, or was not signed in time."""


async def request_certificate(client: ApiClient, common_name: str, organizations: Sequence[str] = (), *,
                              signer: str = KUBELET_CLIENT_SIGNER, usages: Sequence[str] = CLIENT_USAGES,
                              timeout_s: float = 300.0, poll_s: float = 1.0,
                              name_prefix: str = "csr", dns_names: Sequence[str] = (),
                              ip_addresses: Sequence[str] = ()) -> tuple[bytes, bytes]:
    csr_pem, key_pem = make_csr(common_name, list(organizations), dns_names=dns_names, ip_addresses=ip_addresses)
    name = f"{name_prefix}-{secrets.token_hex(8)}"
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": signer, "usages": list(usages)}}
    await client.request("POST", CSR_PATH, json=body)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            csr = await client.request("GET", f"{CSR_PATH}/{name}")
        except errors.NotFound:
            raise CsrError(f"CertificateSigningRequest {name} was deleted") from None
        status = csr.get("status") or {}
        for c in status.get("conditions") or []:
            if c.get("type") in ("Denied", "Failed") and c.get("status", "True") == "True":
                raise CsrError(f"CertificateSigningRequest {name} {c['type'].lower()}: "
                               f"{c.get('reason', '')} {c.get('message', '')}".strip())
        if status.get("certificate"):
            return base64.b64decode(status["certificate"]), key_pem
        if loop.time() > deadline:
            raise CsrError(f"CertificateSigningRequest {name} not signed within {timeout_s:.0f}s "
                           "(is the controller-manager running its csrapproving/csrsigning controllers?)")
        await asyncio.sleep(poll_s)
