"""Token-based discovery for `kubelite join`: kubeadm's `kube-public/cluster-info` ConfigMap.

Why: a joining machine has a bootstrap token but not the cluster's CA, so it cannot yet verify
the API server. As kubeadm does, the CA travels in the ConfigMap `kube-public/cluster-info`
(key `kubeconfig`: a kubeconfig holding the server and `certificate-authority-data`), which
anonymous clients may read, signed for each bootstrap token with a detached JWS (key
`jws-kubeconfig-<token id>`, HS256 keyed with the token's secret). The joiner reads it without
verifying TLS, checks the signature with its token (only someone holding the token could have
signed it) and, when given, the CA's public key hash, then trusts that CA from then on.

Contract:
- `CLUSTER_INFO_PATH`: the ConfigMap's API path (anonymous GET allowed on it, as kubeadm's
  `system:public-info-viewer`-style Role does).
- `cluster_info_kubeconfig(server, ca_pem) -> str`: the `kubeconfig` value.
- `jws_sign(content, token_id, token_secret) -> str`: the compact detached JWS
  `header..signature` Kubernetes' bootstrapsigner writes; `jws_verify(jws, content, token_id,
  token_secret) -> bool` (constant-time).
- `ca_cert_hash(ca_pem) -> "sha256:<hex>"`: SHA-256 of the CA's DER SubjectPublicKeyInfo, the
  format of kubeadm's `--discovery-token-ca-cert-hash`.
- `ca_from_cluster_info(configmap, token, expected_hash=None) -> bytes`: the verified CA PEM,
  or ValueError saying why not (no signature for this token, bad signature, hash mismatch).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

CLUSTER_INFO_PATH = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
JWS_PREFIX = "jws-kubeconfig-"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cluster_info_kubeconfig(server: str, ca_pem: bytes) -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "clusters": [{"name": "", "cluster": {"server": server,
                                                 "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
           "contexts": [], "users": [], "current-context": ""}
    return yaml.safe_dump(doc, sort_keys=False)


def jws_sign(content: str, token_id: str, token_secret: str) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    signing_input = f"{header}.{_b64url(content.encode())}".encode()
    sig = hmac.new(token_secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}..{_b64url(sig)}"


def jws_verify(jws: str, content: str, token_id: str, token_secret: str) -> bool:
    parts = jws.split(".")
    if len(parts) != 3 or parts[1]:
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256" or header.get("kid") != token_id:
        return False
    return hmac.compare_digest(jws_sign(content, token_id, token_secret), jws)


def ca_cert_hash(ca_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


class SignatureMismatch(ValueError):
    """The cluster-info kubeconfig's JWS signature does not verify with the token's secret."""


def ca_from_cluster_info(configmap: dict[str, Any], token: str, expected_hash: str | None = None) -> bytes:
    token_id, _, token_secret = token.partition(".")
    data = configmap.get("data") or {}
    content = data.get("kubeconfig")
    if not isinstance(content, str):
        raise ValueError("the cluster-info ConfigMap has no kubeconfig")
    jws = data.get(f"{JWS_PREFIX}{token_id}")
    if not isinstance(jws, str):
        raise ValueError(f"there is no JWS signed token in the cluster-info ConfigMap for token ID {token_id!r}")
    if not jws_verify(jws, content, token_id, token_secret):
        raise SignatureMismatch("failed to verify JWS signature of the cluster-info ConfigMap")
    try:
        doc = yaml.safe_load(content)
        ca_pem = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"])
        actual = ca_cert_hash(ca_pem)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"the cluster-info kubeconfig carries no usable CA: {exc}") from None
    if expected_hash and not hmac.compare_digest(expected_hash.lower(), actual):
        raise ValueError(f"the cluster CA's public key hash is {actual}, not {expected_hash}")
    return ca_pem
